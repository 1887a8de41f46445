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
