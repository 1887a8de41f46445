"""`edgebb bench --runtime litert-gpu` as the README's GPU example runs it: no baseline measured where its ratio would
be withheld (a software GPU, an emulated machine), said before the work and on the rows; the baseline still
measured on the run's other runtimes; and GPU-vs-CPU parity on a GPU row even without a litert row in the run.

On a machine without a GPU, litert-gpu runs on Mesa's lavapipe (see test_gpu.py); where litert-gpu cannot run the
GPU tests skip with its reason. Rows are kept short: the 32 px MobileNetV2 0.35 of conftest.py, 3 runs.
"""

import csv
import json
import math
import os
import subprocess
import sys

import pytest
from test_gpu import litert_with_gpu_api  # noqa: F401  (the fixture: skip unless LiteRT's GPU API is here)

from edgebb.runtimes import VulkanDevice, _vulkan, available

FAST = ["--runs", "3", "--min-seconds", "0", "--warmup", "1"]
SOFTWARE_GPU = "a software GPU's ratio would say nothing about a real one"
MODEL = "mobilenet_v2@0.35"  # conftest.py's tiny model, named at its width


def edgebb(*args, env=None):
    return subprocess.run([sys.executable, "-m", "edgebb", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)


@pytest.fixture(scope="module")
def software_gpu():
    """litert-gpu on a software adapter (lavapipe), as on a machine without a GPU; else skip."""
    ok, reason = available("litert-gpu")
    if not ok:
        pytest.skip(f"litert-gpu is unavailable: {reason}")
    devices, _ = _vulkan.vulkan_devices()
    if not all(d.software for d in devices if not d.missing):
        pytest.skip("this machine has a hardware GPU: its litert-gpu rows get a ratio to the baseline")


def _assert_parity(row):
    assert "parity" in row, row
    parity = row["parity"]
    assert parity["samples"] == 8, parity  # the inputs a row cycles through
    assert math.isfinite(parity["max_abs_error"]) and 0 <= parity["max_abs_error"] < 1, parity  # softmax outputs
    assert 0 <= parity["top1_agreement"] <= 100, parity
    # every disagreement is a near-tie the error can reorder; the model of conftest.py has random weights
    assert parity["near_ties"] >= parity["samples"] * (1 - parity["top1_agreement"] / 100) - 1e-9, parity
    assert parity["precision"] == "float16" and parity["random_weights"] is True, parity  # LiteRT's default


def test_software_gpu_alone_measures_no_baseline_and_has_parity(software_gpu, tiny_tflite, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = edgebb("bench", str(tiny_tflite / "mobilenet_v2_0.35_32_fp32.tflite"), "--runtime", "litert-gpu",
                    "--json", str(out_json), "--csv", str(out_csv), *FAST)
    assert result.returncode == 0, result.stderr
    report = json.loads(out_json.read_text())
    row = report["results"][0]
    assert (row["model"], row["runtime"], row["status"], row["baseline"]) == \
        (MODEL, "litert-gpu", "ok", False)
    _assert_parity(row)  # against litert's CPU output, though the run has no litert row
    assert len(report["results"]) == 1, report["results"]  # no resnet50 row: neither converted nor measured
    assert "converting resnet50" not in result.stderr
    # said before the work, in one line, and kept among the notes
    said = [ln for ln in result.stderr.splitlines() if ln.startswith("baseline resnet50 not measured on litert-gpu")]
    assert len(said) == 1 and SOFTWARE_GPU in said[0], result.stderr
    assert result.stderr.index(said[0]) < result.stderr.index("measuring")
    assert said[0] in report["notes"]
    # the ratio fields are there, empty, and the row says why
    assert row["speedup_vs_baseline"] is None and row["memory_ratio_vs_baseline"] is None
    assert row["software"] is True and "software GPU" in row["no_ratio_because"]
    with open(out_csv) as f:
        (flat,) = list(csv.DictReader(f))
    assert flat["speedup_vs_baseline"] == "" and "software GPU" in flat["no_ratio_because"]
    assert float(flat["parity_max_abs_error"]) == pytest.approx(row["parity"]["max_abs_error"])
    assert int(flat["parity_near_ties"]) == row["parity"]["near_ties"] and flat["parity_random_weights"] == "True"
    assert f"note: {said[0]}" in result.stdout
    # the terminal shows the parity (it was only in the JSON and CSV) and says the row ran on a software GPU
    assert "ok (software GPU)" in result.stdout
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("parity: ")]
    assert line.startswith("parity: mobilenet_v2_0.35_32_fp32.tflite on litert-gpu x1 against litert on the CPU, "
                           "8 inputs: max abs error ") and "float16" in line, result.stdout
    assert f"top-1 agreement {row['parity']['top1_agreement']:.1f}%" in line
    if row["parity"]["top1_agreement"] < 100 or row["parity"]["near_ties"]:
        assert "  random weights: their outputs are near-ties among the top classes" in result.stdout


def test_baseline_still_measured_on_the_cpu_runtime_of_the_run(software_gpu, tiny_tflite, tmp_path):
    out = tmp_path / "r.json"
    result = edgebb("bench", str(tiny_tflite / "mobilenet_v2_0.35_32_fp32.tflite"), "--runtime", "litert,litert-gpu",
                    "--baseline", "squeezenet_1_1", "--json", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    rows = {(r["model"], r["runtime"]): r for r in report["results"]}
    assert sorted(rows) == [(MODEL, "litert"), (MODEL, "litert-gpu"), ("squeezenet_1_1", "litert")]
    assert all(r["status"] == "ok" for r in rows.values()), rows
    cpu, gpu = rows[MODEL, "litert"], rows[MODEL, "litert-gpu"]
    base = rows["squeezenet_1_1", "litert"]
    assert cpu["speedup_vs_baseline"] == pytest.approx(base["latency_ms"]["p50"] / cpu["latency_ms"]["p50"])
    assert "no_ratio_because" not in cpu
    assert gpu["speedup_vs_baseline"] is None and "software GPU" in gpu["no_ratio_because"]
    assert any(n.startswith("baseline squeezenet_1_1 not measured on litert-gpu") for n in report["notes"])
    assert not any(n.startswith("baseline squeezenet_1_1 not measured on litert:") for n in report["notes"])
    _assert_parity(gpu)


def test_an_emulated_run_measures_no_baseline(tiny_tflite, tmp_path):
    """Under an emulator no row gets a ratio, so no baseline is converted or measured at all."""
    out = tmp_path / "r.json"
    result = edgebb("bench", str(tiny_tflite / "mobilenet_v2_0.35_32_fp32.tflite"), "--runtime", "litert",
                    "--json", str(out), *FAST, env={"EDGEBB_EMULATED": "qemu-aarch64-cortex-a72"})
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert [(r["model"], r["runtime"]) for r in report["results"]] == [(MODEL, "litert")]
    assert "converting resnet50" not in result.stderr
    note = "baseline resnet50 not measured: this machine is emulated (qemu-aarch64-cortex-a72)"
    assert any(n.startswith(note) for n in report["notes"]) and note in result.stderr
    assert "emulator" in report["results"][0]["no_ratio_because"]


# ---------------------------------------------------------------------------------------------------------------
# What needs no GPU: which runtimes get no baseline, from the Vulkan device list as it is on a real machine, and the
# rows' reasons.


@pytest.fixture
def litert_gpu_api(litert_with_gpu_api, monkeypatch):  # noqa: F811  (the fixture imported above)
    """test_gpu.py's skip rules, and a machine whose only Vulkan device is lavapipe."""
    monkeypatch.setattr(_vulkan, "vulkan_devices", lambda: ((LAVAPIPE,), ""))
    ok, reason = available("litert-gpu")  # e.g. no GPU accelerator library for this platform
    if not ok:
        pytest.skip(reason)


LAVAPIPE = VulkanDevice(name="llvmpipe (LLVM 15.0.6, 256 bits)", kind="cpu", api_version="1.4.305",
                        driver="Mesa 25.0.7", missing=())


def test_unratioed_runtimes_from_the_vulkan_devices(litert_gpu_api, monkeypatch):
    from edgebb.benchmark.comparisons import unratioed_runtimes

    lavapipe = LAVAPIPE
    real = VulkanDevice(name="AMD Radeon RX 7600", kind="discrete", api_version="1.3.260", driver="Mesa 25.0.7",
                        missing=())
    monkeypatch.setattr(_vulkan, "vulkan_devices", lambda: ((lavapipe,), ""))
    skipped = unratioed_runtimes(["litert", "litert-gpu", "onnxruntime"], {"emulated": False})
    assert list(skipped) == ["litert-gpu"] and "llvmpipe" in skipped["litert-gpu"] and SOFTWARE_GPU in \
        skipped["litert-gpu"]
    monkeypatch.setattr(_vulkan, "vulkan_devices", lambda: ((lavapipe, real), ""))  # Dawn takes the real one
    assert unratioed_runtimes(["litert", "litert-gpu"], {"emulated": False}) == {}
    monkeypatch.setattr(_vulkan, "vulkan_devices", lambda: ((), "no Vulkan driver"))  # skipped rows say why
    assert unratioed_runtimes(["litert-gpu"], {"emulated": False}) == {}
    emulated = unratioed_runtimes(["litert", "onnxruntime"], {"emulated": True, "emulation": "qemu"})
    assert list(emulated) == ["litert", "onnxruntime"] and "emulated (qemu)" in emulated["litert"]


def test_a_row_says_why_it_has_no_ratio():
    from edgebb.benchmark.comparisons import compare_to_baseline
    from edgebb.benchmark.rows import BenchRow

    def row(model, runtime, p50, **extra):
        return BenchRow(model=model, artifact=f"{model}.tflite", path=f"/a/{model}.tflite", format="tflite",
                        recipe="fp32", runtime=runtime, input_size=32, threads=1, status="ok",
                        latency_ms={"p50": p50}, peak_rss_mb=100.0, baseline=model == "resnet50", extra=extra)

    rows = [row("resnet50", "litert", 40.0), row("m", "litert", 10.0),
            row("m", "litert-gpu", 20.0, software=True, adapter="llvmpipe"), row("m", "litert-gpu", 20.0)]
    compare_to_baseline(rows, "resnet50", {"litert-gpu": "it runs on a software GPU here"})
    assert rows[1].speedup_vs_baseline == 4.0 and "no_ratio_because" not in rows[1].to_dict()
    assert rows[2].speedup_vs_baseline is None and "software GPU (llvmpipe)" in rows[2].get("no_ratio_because")
    assert rows[3].get("no_ratio_because") == "it runs on a software GPU here"  # its adapter unknown: the plan's why
    assert rows[3].flat()["no_ratio_because"] == "it runs on a software GPU here"
    assert rows[1].flat()["no_ratio_because"] is None  # a CSV column on every row
    none = [row("m", "litert-gpu", 20.0, software=True)]
    compare_to_baseline(none, "none")  # --baseline none: no ratio asked for, nothing to explain
    assert "no_ratio_because" not in none[0].to_dict()


# ---------------------------------------------------------------------------------------------------------------
# Parity as the terminal shows it, from rows as a GPU run makes them.


def test_parity_counts_the_near_ties_the_error_can_reorder():
    import numpy as np

    from edgebb.benchmark.rows import parity_of

    cpu = np.array([[0.50, 0.49, 0.01], [0.90, 0.05, 0.05], [0.34, 0.33, 0.33]], np.float32)
    gpu = cpu + np.array([[-0.01, 0.01, 0], [0, 0, 0], [0, 0, 0]], np.float32)  # swaps the first sample's top two
    parity = parity_of(cpu, gpu)
    assert parity["top1_agreement"] == pytest.approx(100 * 2 / 3) and parity["max_abs_error"] == pytest.approx(0.01)
    assert (parity["samples"], parity["near_ties"]) == (3, 2)  # gaps 0.01 and 0.01 <= 2 x 0.01; 0.85 is not
    assert parity_of(cpu, cpu)["near_ties"] == 0  # no error: nothing it can reorder


def _gpu_row(**parity):
    from edgebb.benchmark.rows import BenchRow

    return BenchRow(model="mobilenet_v2", artifact="mobilenet_v2_96_fp32.tflite", path="/a/m.tflite", format="tflite",
                    recipe="fp32", runtime="litert-gpu", input_size=96, target="gpu", status="ok",
                    latency_ms={"p50": 68.0}, extra={"software": True, "adapter": "llvmpipe", "parity": {
                        "max_abs_error": 0.0031, "top1_agreement": 87.5, "samples": 8, "near_ties": 6,
                        "precision": "float16", "random_weights": True, **parity}})


def test_parity_lines_explain_an_agreement_that_says_little():
    """The README's `litert-gpu` example showed "ok" and nothing of the parity it measured; 87.5% agreement in
    fp32 is near-ties of a random network (6 of 8 inputs' top two within twice the error), and the table says so."""
    from edgebb.benchmark.rows import BenchReport, BenchRow
    from edgebb.reporting.results import bench_lines, bench_rows, parity_lines

    random = _gpu_row()
    head, why = parity_lines(random)
    assert head == ("parity: mobilenet_v2_96_fp32.tflite on litert-gpu x1 against litert on the CPU, 8 inputs: max "
                    "abs error 0.0031, top-1 agreement 87.5% (LiteRT let the GPU compute in float16, its default, "
                    "as on a phone; --gpu-fp32 for float32)")
    assert why == ("  random weights: their outputs are near-ties among the top classes (6 of 8 inputs' top two CPU "
                   "outputs are within twice that error of each other), so the top-1 agreement says little about "
                   "the GPU; the max abs error does")
    unknown = parity_lines(_gpu_row(random_weights=None, precision=None))  # a bare artifact: no manifest says
    assert unknown[1].startswith("  6 of 8 inputs' top two CPU outputs are within twice that error of each other: "
                                 "near-ties it can reorder, so") and "float16" not in unknown[0]
    trained = parity_lines(_gpu_row(random_weights=False, near_ties=0, top1_agreement=100.0))
    assert len(trained) == 1 and "top-1 agreement 100.0%" in trained[0]
    cpu = BenchRow(model="mobilenet_v2", artifact="m.tflite", format="tflite", recipe="fp32", runtime="litert",
                   status="ok", latency_ms={"p50": 5.0})
    report = BenchReport(env={}, results=[cpu, random], notes=[])
    rows, footnotes = bench_rows(report)
    assert [r["status"] for r in rows] == ["ok", "ok (software GPU)"]
    lines = bench_lines(report, footnotes)
    assert [ln for ln in lines if "parity" in ln or "random weights" in ln] == [head, why]
    # the CSV has the parity's and the conversion check's columns on every row, so the first row's are all of them
    assert list(cpu.flat()) == list(random.flat()) and cpu.flat()["parity_near_ties"] is None
    assert random.flat()["parity_near_ties"] == 6 and random.flat()["parity_random_weights"] is True


def test_gpu_fp32_computes_in_float32(tiny_tflite, tmp_path):
    """--gpu-fp32: LiteRT's GPU computes in float32 (its default lets it use float16): the row and its parity say
    so, and the parity's error is float32's, far below float16's few 1e-3 on this model."""
    ok, reason = available("litert-gpu")
    if not ok:
        pytest.skip(f"litert-gpu is unavailable: {reason}")
    out = tmp_path / "r.json"
    result = edgebb("bench", str(tiny_tflite / "mobilenet_v2_0.35_32_fp32.tflite"), "--runtime", "litert-gpu",
                    "--gpu-fp32", "--baseline", "none", "--json", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["results"]
    assert row["status"] == "ok" and row["gpu_precision"] == "float32", row
    assert row["parity"]["precision"] == "float32" and row["parity"]["max_abs_error"] < 1e-4, row["parity"]
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("parity: ")]
    assert line.endswith("(the GPU computed in float32: --gpu-fp32)"), line
