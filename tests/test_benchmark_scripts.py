"""The benchmark scripts' bad options end as the commands' do: exit 2, one line naming the option, no traceback,
found when the options are parsed, before any backbone is built, converted or timed (some runs take hours)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")

CASES = [
    ("quant_accuracy.py", ["--jobs", "0"], "--jobs: must be at least 1"),
    ("quant_accuracy.py", ["--epochs", "x"], "--epochs: not a whole number"),
    ("quant_accuracy.py", ["--out", "/proc/edgebb/q.json"], "--out: cannot write"),
    ("quant_accuracy.py", ["--only", "nosuch"], "--only 'nosuch' matches no backbone"),
    ("convert_zoo.py", ["--goal-s", "-1"], "--goal-s: must be at least 0"),
    ("convert_zoo.py", ["--max-peak-mb", "0"], "--max-peak-mb: must be more than 0"),
    ("convert_zoo.py", ["--out", "/"], "--out: output file / is a folder"),
    ("zoo_latency.py", ["--min-seconds", "nan"], "--min-seconds: must be more than 0"),
    ("zoo_latency.py", ["--threads", "1,x"], "--threads: not a whole number"),
    ("repeatability.py", ["--runs", "0"], "--runs: must be at least 1"),
    ("harness_overhead.py", ["--rounds", "-2"], "--rounds: must be at least 1"),
    ("onnx_kernels.py", ["--size", "1.5"], "--size: not a whole number"),
    ("zoo_build.py", ["--out", "/proc/edgebb/b.json"], "--out: cannot write"),
    ("ray_overhead.py", ["--repeats", "x"], "--repeats: not a whole number"),
    ("demo_time.py", ["--out", "/"], "--out: output file / is a folder"),
]


@pytest.mark.parametrize("script, args, message", CASES, ids=[f"{c[0]} {' '.join(c[1])}" for c in CASES])
def test_a_bad_option_is_one_line_and_exit_2(script, args, message, tmp_path):
    # a stand-in tensorflow that refuses to import: a script that built anything before checking fails the case
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text("raise ImportError('imported before the options')")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, os.path.join(BENCHMARKS, script), *args], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1, result.stderr


@pytest.mark.parametrize("script, args, keys", [
    ("harness_overhead.py", ["--rounds", "1", "--runs", "5"], {"overhead_median", "bench_import_s"}),
    ("repeatability.py", ["--repeats", "1", "--runs", "3", "--min-seconds", "0.01"], {"fp32", "int8"}),
])
def test_the_harness_scripts_run_and_write_their_json(script, args, keys, tmp_path):
    """`make bench-harness` had been failing since the package move (a BenchRow read like a dict) and nothing ran
    it; at the smallest settings each script ends with exit 0 and its JSON summary."""
    import json

    out = tmp_path / "r.json"
    result = subprocess.run([sys.executable, os.path.join(BENCHMARKS, script), *args, "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert keys <= set(json.loads(out.read_text())["summary"]), out.read_text()[:2000]


def test_quant_accuracy_judges_no_goal_when_nothing_learned(monkeypatch, tmp_path):
    """A run whose only backbone stayed at chance printed "int8 within 1 point ... for every backbone: True (0/0)"
    and its JSON said the goal was met; it says none can be judged, and the flag sits in the backbone's cell."""
    import argparse
    import json

    monkeypatch.syspath_prepend(BENCHMARKS)
    import quant_accuracy as qa

    args = argparse.Namespace(out=str(tmp_path / "q.json"), size=32, dataset="digits", classes=10, epochs=2,
                              qat_epochs=1, merge=False)
    row = {"backbone": "mobilenet_v2", "width": 0.35, "status": "ok", "learned": False, "float": 11.0,
           "int8_ptq": 10.0, "int8_onnx": 10.0, "int8_qat": 10.0, "int8_qat_onnx": 10.0, "qat_keras": 10.0,
           "ptq_drop": 1.0, "onnx_drop": 1.0, "qat_drop": 1.0, "carry_over": 0.0, "qat_onnx_drop": 1.0,
           "carry_over_onnx": 0.0, "ptq_top1_agreement": 50.0, "onnx_top1_agreement": 50.0, "eval_images": 789}
    summary = qa.report(args, [row], 0.0)
    assert summary["ok"] == 0 and summary["int8_within_1_point_all"] is False
    assert json.loads((tmp_path / "q.json").read_text())["summary"]["int8_within_1_point_all"] is False
    md = (tmp_path / "q.md").read_text()
    assert "True (0/0)" not in md and "no backbone learned" in md, md
    assert "| mobilenet_v2 (did not learn: chance level) | 0.35 |" in md, md
