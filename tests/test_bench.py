"""edgebb bench as a user runs it: real artifacts, real runtimes in real subprocesses, real crashes."""

import csv
import json
import os
import subprocess
import sys
import time

import pytest
from test_bad_input import assert_one_line

from edgebb.benchmark.analysis import diagnose
from edgebb.benchmark.rows import latency_stats

SIZE = 32
FAST = ["--runs", "5", "--min-seconds", "0", "--warmup", "1"]


def edgebb(*args, env=None):
    return subprocess.run([sys.executable, "-m", "edgebb", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    from edgebb.conversion import convert

    out = tmp_path_factory.mktemp("artifacts")
    convert("mobilenet_v2", str(out), None, recipes="fp32,int8", formats="tflite,onnx", width=0.35, size=SIZE,
            calib_samples=8, eval_samples=8)
    return out


def test_manifest_on_cpu_runtimes(artifacts, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = edgebb("bench", str(artifacts / "manifest.json"), "--runtime", "litert,onnxruntime,tflite-runtime",
                    "--threads", "1,2", "--baseline", "none", "--json", str(out_json), "--csv", str(out_csv), *FAST)
    assert result.returncode == 0, result.stderr
    report = json.loads(out_json.read_text())
    env = report["env"]
    for key in ("cpu_model", "cpu_flags", "cores", "os", "python", "versions", "cpu_freq_mhz", "cpu_freq_after_mhz"):
        assert key in env, key  # the clock before and after, None both where cpufreq cannot be read
    rows = report["results"]
    assert len(rows) == 2 * 3 * 2  # recipes x runtimes x threads
    for r in rows:
        for key in ("model", "artifact", "format", "recipe", "runtime", "target", "threads", "status", "init_ms",
                    "first_ms", "latency_ms", "throughput_ips", "peak_rss_mb", "rss_delta_mb", "size_mb", "macs",
                    "gmacs_per_s", "speedup_vs_baseline", "memory_ratio_vs_baseline"):
            assert key in r, key
        if r["runtime"] == "tflite-runtime":
            assert r["status"] == "skipped" and "tflite-runtime" in r["error"]
            continue
        assert r["status"] == "ok", r
        lat = r["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert r["runs"] >= 5 and r["peak_rss_mb"] > 10 and r["macs"] > 0 and r["gmacs_per_s"] > 0
        assert r["throughput_ips"] == pytest.approx(1e3 / lat["mean"])
        # the fraction of this machine's measured GEMM peak of the row's kind, at the row's threads
        kind = "int8_gmacs" if r["recipe"] == "int8" else "fp32_gmacs"
        # (peak_fraction is kept to 4 decimals: at 0.0396 that alone is 1.3e-3 relative)
        assert r["peak_fraction"] == pytest.approx(r["gmacs_per_s"] / env["peak"][kind][str(r["threads"])], rel=1e-3,
                                                   abs=6e-5)
    assert set(env["peak"]["fp32_gmacs"]) == {"1", "2"} and min(env["peak"]["fp32_gmacs"].values()) > 0.1
    assert set(env["peak"]["fp32_from"].values()) <= {"numpy", "onnxruntime", "openvino"}  # whose GEMM set it
    with open(out_csv) as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and "latency_p50_ms" in table[0]
    # the conversion's verdict as two columns, not a Python dict ("{'passed': True, 'failed_because': None}")
    # (random weights: the int8 artifacts were not judged, passed null)
    assert "conversion_check" not in table[0] and {(r["recipe"], r["conversion_check_passed"]) for r in table} == \
        {("fp32", "True"), ("int8", "")}
    assert {r["conversion_check_failed_because"] for r in table} == {""}
    assert "p50 ms" in result.stdout and "tflite-runtime is not installed" in result.stdout
    assert "% peak" in result.stdout and "measured GEMM peak" in result.stdout


def test_a_runtime_that_cannot_run_here(artifacts, tmp_path):
    """Asked for by name, a runtime that is not installed: alone, one line and exit 2 before anything is converted
    (bench converted the items and the baseline, then showed only skipped rows); beside one that runs, its rows say
    why, and the baseline is converted and measured only for the runtime that runs."""
    from edgebb.runtimes import available

    if available("tflite-runtime")[0]:
        pytest.skip("tflite-runtime is installed here")
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    alone = edgebb("bench", "squeezenet_1_1", "-s", str(SIZE), "--runtime", "tflite-runtime", "--json",
                   str(tmp_path / "alone.json"), *FAST, env=env)
    assert alone.returncode == 2 and alone.stderr.strip() == \
        "edgebb: error: nothing can be measured here: tflite-runtime is not installed (pip install tflite-runtime)"
    assert not cache.exists() and not (tmp_path / "alone.json").exists()

    out = tmp_path / "r.json"
    both = edgebb("bench", str(artifacts / "manifest.json"), "--recipe", "fp32", "--runtime",
                  "tflite-runtime,onnxruntime", "--baseline", "squeezenet_1_1", "--json", str(out), *FAST, env=env)
    assert both.returncode == 0, both.stderr
    rows = json.loads(out.read_text())["results"]
    assert {(r["model"], r["runtime"], r["status"]) for r in rows if r["recipe"] == "fp32"} == {
        ("mobilenet_v2@0.35", "tflite-runtime", "skipped"), ("mobilenet_v2@0.35", "onnxruntime", "ok"),
        ("squeezenet_1_1", "onnxruntime", "ok")}, rows
    converted = os.listdir(cache / "edgebb" / "artifacts" / f"squeezenet_1_1_{SIZE}_fp32")
    assert not any(name.endswith(".tflite") for name in converted), converted


def test_baseline_row_and_ratios(tmp_path):
    """Two input sizes in one run (a backbone at 32 px, a converted folder at 64): a ResNet-50 row at each, and
    every ratio is to the one of its own size."""
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    made = edgebb("convert", "mobilenet_v2", "-w", "0.35", "-s", "64", "-r", "fp32", "-o", str(tmp_path / "at64"),
                  "--calib-samples", "4", "-q", env=cache)
    assert made.returncode == 0, made.stderr
    out_json = tmp_path / "r.json"
    result = edgebb("bench", "squeezenet_1_1", str(tmp_path / "at64"), "--size", str(SIZE), "--json",
                    str(out_json), *FAST, env=cache)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out_json.read_text())["results"]
    bases = {r["input_size"]: r for r in rows if r["model"] == "resnet50"}
    assert sorted(bases) == [SIZE, 64] and all(b["baseline"] for b in bases.values())
    assert bases[SIZE]["speedup_vs_baseline"] == pytest.approx(1.0)
    for name, size in (("squeezenet_1_1", SIZE), ("mobilenet_v2@0.35", 64)):
        other, base = next(r for r in rows if r["model"] == name), bases[size]
        assert other["input_size"] == size
        assert other["speedup_vs_baseline"] == pytest.approx(base["latency_ms"]["p50"] / other["latency_ms"]["p50"])
        assert other["memory_ratio_vs_baseline"] == pytest.approx(other["peak_rss_mb"] / base["peak_rss_mb"])
    # converted once: a second run reuses the cached artifacts
    again = edgebb("bench", "squeezenet_1_1", "--size", str(SIZE), *FAST, env=cache)
    assert again.returncode == 0 and "converting" not in again.stderr
    # ... until edgebb's conversion code changes: what an older exporter made is converted again
    from edgebb.conversion.manifest import converter_revision

    manifests = list((tmp_path / "cache" / "edgebb" / "artifacts").glob("squeezenet_1_1_*/manifest.json"))
    assert manifests and all(json.loads(m.read_text())["converter"] == converter_revision() for m in manifests)
    for manifest in manifests:
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "converter": "0" * 12}))
    stale = edgebb("bench", "squeezenet_1_1", "--size", str(SIZE), *FAST, env=cache)
    assert stale.returncode == 0 and "it was converted by other edgebb code: converting again" in stale.stderr
    assert all(json.loads(m.read_text())["converter"] == converter_revision() for m in manifests)
    manifests[0].write_text("{")  # a cache entry cut short is converted again, and said so
    broken = edgebb("bench", "squeezenet_1_1", "--size", str(SIZE), *FAST, env=cache)
    assert broken.returncode == 0 and "its manifest is unreadable: converting again" in broken.stderr
    assert json.loads(manifests[0].read_text())["converter"] == converter_revision()


@pytest.mark.parametrize("fault, timeout, cause", [
    ("segfault", "60", "crashed (SIGSEGV)"),
    ("hang", "3", "timed out after 3 s"),
    ("oom", "60", "out of memory"),
])
def test_a_failing_row_is_contained(artifacts, fault, timeout, cause):
    result = edgebb("bench", str(artifacts / "mobilenet_v2_0.35_32_fp32.tflite"),
                    str(artifacts / "mobilenet_v2_0.35_32_int8.tflite"), "--baseline", "none", "--timeout", timeout,
                    "--memory-limit", "1500", *FAST, env={"EDGEBB_BENCH_FAULT": f"{fault}:int8"})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any("fp32" in ln and " ok" in ln for ln in lines)  # the other row completed
    assert any("int8" in ln and cause in ln for ln in lines), result.stdout
    assert cause in result.stderr.strip().splitlines()[-1]


def test_the_memory_limit_counts_the_resident_memory_the_table_shows(artifacts, tmp_path):
    """--memory-limit was an address-space limit: a row whose table said 85 MB peak failed at 150 (virtual memory
    counts what the runtime reserves and never touches). It is the resident memory the table shows."""
    path = str(artifacts / "mobilenet_v2_0.35_32_fp32.tflite")
    out = tmp_path / "r.json"
    free = edgebb("bench", path, "--baseline", "none", "--json", str(out), *FAST)
    assert free.returncode == 0, free.stderr
    peak = json.loads(out.read_text())["results"][0]["peak_rss_mb"]
    fits = edgebb("bench", path, "--baseline", "none", "--memory-limit", str(round(peak * 1.5)), *FAST)
    assert fits.returncode == 0, fits.stdout + fits.stderr
    over = edgebb("bench", path, "--baseline", "none", "--memory-limit", str(round(peak / 2)), *FAST)
    assert over.returncode == 1 and f"passed --memory-limit {round(peak / 2)} MB" in over.stdout, over.stdout


def test_a_folder_of_artifacts_without_a_manifest_benches_each(artifacts, tmp_path):
    """`edgebb bench tfl/` on a folder of .tflite files was refused as "not a .tflite or .onnx artifact"."""
    folder = tmp_path / "tfl"
    folder.mkdir()
    for recipe in ("fp32", "int8"):
        name = f"mobilenet_v2_0.35_32_{recipe}.tflite"
        (folder / name).write_bytes((artifacts / name).read_bytes())
    (folder / "notes.txt").write_text("not a model")
    out = tmp_path / "r.json"
    result = edgebb("bench", f"{folder}/", "--baseline", "none", "--json", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["results"]
    assert sorted(os.path.basename(r["path"]) for r in rows) == ["mobilenet_v2_0.35_32_fp32.tflite",
                                                                 "mobilenet_v2_0.35_32_int8.tflite"]


def test_max_seconds_bounds_a_slow_row_from_warm_up_to_its_outputs(artifacts, tmp_path):
    """A row at 0.5 s per inference (a software GPU's pace) with 20 warm-up runs, 100 timed runs and 8 parity
    inputs would take over a minute; --max-seconds 2 bounds warm-up (a third of it), the timed runs and the outputs
    kept for parity (another third): seconds, not minutes."""
    out = tmp_path / "r.json"
    started = time.monotonic()
    result = edgebb("bench", str(artifacts / "mobilenet_v2_0.35_32_fp32.tflite"), "--baseline", "none",
                    "--runtime", "litert", "--threads", "1", "--runs", "100", "--min-seconds", "0", "--warmup", "20",
                    "--max-seconds", "2", "--json", str(out), env={"EDGEBB_BENCH_FAULT": "slow"})
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["results"]
    assert 3 <= row["runs"] <= 8 and row["latency_ms"]["p50"] >= 500, row
    assert seconds < 40, f"bench took {seconds:.0f} s; unbounded it would take 64 s of sleeping alone"


def test_files_of_two_formats_on_both_runtimes_make_a_row_each(tmp_path, artifacts):
    """Each runtime runs the file it reads: no "no onnx artifact" row for the .tflite, nor the reverse."""
    out = tmp_path / "r.json"
    files = [str(artifacts / f"mobilenet_v2_0.35_32_fp32.{suffix}") for suffix in ("tflite", "onnx")]
    result = edgebb("bench", *files, "--runtime", "litert,onnxruntime", "--baseline", "none", "--json", str(out),
                    *FAST)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["results"]
    assert sorted((r["format"], r["runtime"], r["status"]) for r in rows) == \
        [("onnx", "onnxruntime", "ok"), ("tflite", "litert", "ok")]


def test_a_runtime_that_reads_none_of_the_files_says_so_for_each(tmp_path, artifacts):
    """keras runs .keras/.h5 float models: asked to run a .tflite and an .onnx and nothing else, it has nothing to
    measure: one line naming what it reads and what was given, exit 2 (it ended 0 with two skipped rows). Beside a
    runtime that reads one of them, each file it cannot read keeps its skipped row, saying why."""
    out = tmp_path / "r.json"
    files = [str(artifacts / f"mobilenet_v2_0.35_32_fp32.{suffix}") for suffix in ("tflite", "onnx")]
    keras = edgebb("bench", *files, "--runtime", "keras", "--baseline", "none", "--json", str(out), *FAST)
    assert_one_line(keras, 2, "nothing to measure: keras reads .keras, and no item is one (they are .onnx, .tflite)")
    assert not out.exists()
    both = edgebb("bench", files[0], "--runtime", "litert,keras", "--baseline", "none", "--json", str(out), *FAST)
    assert both.returncode == 0, both.stderr
    rows = json.loads(out.read_text())["results"]
    assert [(r["runtime"], r["status"]) for r in rows] == [("litert", "ok"), ("keras", "skipped")], rows
    assert rows[1]["error"].startswith("no keras model for mobilenet_v2@0.35 fp32: only float recipes have one"), rows


def test_an_item_the_runtime_cannot_read_beside_one_it_can_keeps_its_row(tmp_path, artifacts):
    """`bench X.tflite X.onnx --runtime onnxruntime`: the .tflite had vanished (no row, no note, not in the JSON)."""
    out = tmp_path / "r.json"
    files = [str(artifacts / f"mobilenet_v2_0.35_32_fp32.{suffix}") for suffix in ("tflite", "onnx")]
    result = edgebb("bench", *files, "--runtime", "onnxruntime", "--baseline", "none", "--json", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["results"]
    assert sorted((r["status"], r["error"] or "") for r in rows) == [
        ("ok", ""), ("skipped", "no onnx artifact for mobilenet_v2@0.35 fp32")], rows


@pytest.mark.parametrize("runtime, suffix", [("onnxruntime", ".onnx"), ("keras", ".keras")])
def test_a_file_no_runtime_asked_for_reads_is_refused(tmp_path, artifacts, runtime, suffix):
    """--runtime asked for one that cannot read the only item: one line and exit 2 before the baseline is converted
    (it ended 0 with a single skipped row, measuring nothing)."""
    out = tmp_path / "r.json"
    cache = tmp_path / "cache"
    result = edgebb("bench", str(artifacts / "mobilenet_v2_0.35_32_fp32.tflite"), "--runtime", runtime,
                    "--baseline", "squeezenet_1_1", "--json", str(out), *FAST, env={"XDG_CACHE_HOME": str(cache)})
    assert_one_line(result, 2, f"nothing to measure: {runtime} reads {suffix}, and no item is one (they are .tflite)")
    assert not out.exists() and not (cache / "edgebb" / "artifacts").exists()


def test_the_baseline_only_in_the_formats_an_item_is_measured_in(tmp_path, artifacts, monkeypatch):
    """A .tflite on litert and onnxruntime: the baseline is converted to .tflite only, at the item's recipe and size,
    and measured on litert only (onnxruntime has no item of the user's to compare with)."""
    from edgebb.benchmark import comparisons
    from edgebb.benchmark.targets import Target, from_file

    converted = []

    def convert(name, recipe, formats, size, progress, width=1.0):
        converted.append((name, recipe, tuple(formats), size))
        return Target(model=name, recipe=recipe, input_size=size)

    monkeypatch.setattr(comparisons, "convert_backbone", convert)
    tflite = from_file(str(artifacts / "mobilenet_v2_0.35_32_int8.tflite"))
    onnx = from_file(str(artifacts / "mobilenet_v2_0.35_32_fp32.onnx"))
    comparisons.add_baselines([tflite], "resnet50", ["onnx", "tflite"], None)
    comparisons.add_baselines([tflite, onnx], "resnet50", ["onnx", "tflite"], None)
    comparisons.add_baselines([onnx], "resnet50", ["tflite"], None)  # no runtime here loads the .onnx: nothing
    assert converted == [("resnet50", "int8", ("tflite",), SIZE), ("resnet50", "int8", ("tflite",), SIZE),
                         ("resnet50", "fp32", ("onnx",), SIZE)]
    # a size the baseline cannot be built at (a manifest's) is a note, and nothing of it is converted
    odd = Target(model="m", recipe="fp32", input_size=75, artifacts={"tflite": "m.tflite"})
    converted.clear()
    _, notes = comparisons.add_baselines([odd], "resnet50", ["tflite"], None)
    assert converted == [] and notes == ["baseline resnet50 at 75x75 fp32 not measured: input size for resnet50 must "
                                         "be a multiple of 32 and between 32 and 2048; received 75"]

    out = tmp_path / "r.json"
    result = edgebb("bench", str(artifacts / "mobilenet_v2_0.35_32_fp32.tflite"), "--runtime", "litert,onnxruntime",
                    "--baseline", "squeezenet_1_1", "--json", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["results"]
    assert [(r["model"], r["runtime"], r["status"]) for r in rows] == [
        ("mobilenet_v2@0.35", "litert", "ok"), ("mobilenet_v2@0.35", "onnxruntime", "skipped"),
        ("squeezenet_1_1", "litert", "ok")], rows


def test_bad_artifacts_one_line_each(tmp_path, artifacts):
    truncated = tmp_path / "cut.tflite"
    truncated.write_bytes((artifacts / "mobilenet_v2_0.35_32_fp32.tflite").read_bytes()[:5000])
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(os.urandom(4096))
    wrong = tmp_path / "model.pb"
    wrong.write_bytes(b"x" * 100)
    result = edgebb("bench", str(junk), str(wrong), str(tmp_path / "missing.onnx"), "--baseline", "none", *FAST)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in result.stderr
    assert "junk.tflite: not a TFLite model" in lines[0]
    assert "model.pb: not a .tflite or .onnx artifact" in lines[1]
    assert "missing.onnx: artifact not found" in lines[2]
    cut = edgebb("bench", str(truncated), "--baseline", "none", *FAST)  # its header is whole: its parser says no
    assert cut.returncode == 2 and cut.stderr.strip().splitlines()[-1] == \
        f"edgebb: error: {truncated}: truncated or corrupt: not a valid TFLite flatbuffer"


def test_bad_options(artifacts):
    for args, message in [(["--runtime", "litrt"], "did you mean: litert"), (["--threads", "0"], "--threads"),
                          (["--threads", "two"], "--threads must be"), (["--runs", "0"], "--runs must be")]:
        result = edgebb("bench", str(artifacts), "--baseline", "none", *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)


def test_bench_path_imports_no_tensorflow():
    code = ("import sys, edgebb.benchmark, edgebb.benchmark.worker, edgebb.runtimes, edgebb.benchmark.environment, "
            "edgebb.cli, edgebb.reporting.terminal; "
            "print(sorted(m for m in ('tensorflow', 'tf_keras', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_bare_artifact_runs_at_its_own_size_without_a_baseline_guess(artifacts, tmp_path):
    """my_model.tflite without a manifest: its input shape comes from the model, "model" is not taken for a recipe,
    and no ResNet-50 row is invented for a recipe nobody knows."""
    bare = tmp_path / "my_model.tflite"
    bare.write_bytes((artifacts / "mobilenet_v2_0.35_32_fp32.tflite").read_bytes())
    out = tmp_path / "r.json"
    result = edgebb("bench", str(bare), "--json", str(out), *FAST, env={"XDG_CACHE_HOME": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert row["status"] == "ok" and row["model"] == "my_model" and row["recipe"] == "unknown"
    assert row["input_size"] == 32
    assert any("no resnet50 row to compare with" in n for n in report["notes"])


def test_a_qat_manifest_is_compared_with_int8_resnet50_at_its_size(artifacts, tmp_path):
    folder = tmp_path / "qat"
    folder.mkdir()
    manifest = json.loads((artifacts / "manifest.json").read_text())
    entry = next(a for a in manifest["artifacts"] if a["recipe"] == "int8" and a["format"] == "tflite")
    entry = {**entry, "recipe": "int8-qat", "path": "m_int8-qat.tflite"}
    (folder / "m_int8-qat.tflite").write_bytes((artifacts / "mobilenet_v2_0.35_32_int8.tflite").read_bytes())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "artifacts": [entry]}))
    out = tmp_path / "r.json"
    result = edgebb("bench", str(folder), "--json", str(out), *FAST, env={"XDG_CACHE_HOME": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["results"]
    base = next(r for r in rows if r["baseline"])
    mine = next(r for r in rows if not r["baseline"])
    assert (base["recipe"], base["input_size"], mine["input_size"]) == ("int8", 32, 32)
    assert mine["speedup_vs_baseline"] == pytest.approx(base["latency_ms"]["p50"] / mine["latency_ms"]["p50"])
    assert " px " in result.stdout.splitlines()[0] + " "
    # the legend says what "the same recipe" is for it (it said so of every row)
    assert "at the same input size, recipe, runtime and threads (an int8-qat row: against ResNet-50's int8 row, the " \
        "same arithmetic without quantization-aware training)" in result.stdout, result.stdout


def test_the_legend_and_columns_of_the_baseline():
    """The ratio columns and their legend: none with --baseline none (they were headed "x vs none"); the int8-qat
    comparison is named only where an int8-qat row has a ratio."""
    from edgebb.benchmark.rows import BenchReport, BenchRow
    from edgebb.reporting.results import baseline_line, bench_columns

    assert [k for k, _ in bench_columns("none")] == ["model", "recipe", "px", "runtime", "threads", "p50", "p90", "ips",
                                                     "rss", "size", "peak", "status"]
    assert ("speedup", "x vs R50") in bench_columns("resnet50") and ("mem", "mem vs R50") in bench_columns("resnet50")

    def row(model, recipe, ratio=None):
        return BenchRow(model=model, artifact=None, path=None, format="tflite", recipe=recipe, runtime="litert",
                        input_size=32, threads=1, status="ok", baseline=model == "resnet50",
                        speedup_vs_baseline=ratio)

    def legend_of(rows):
        return baseline_line(BenchReport(env={}, results=rows, notes=[]))

    plain = [row("resnet50", "int8", 1.0), row("m", "int8", 3.0)]
    legend = legend_of(plain)
    assert legend == ("* baseline; x vs R50 = ResNet-50 p50 / this p50 at the same input size, recipe, runtime and "
                      "threads")
    assert legend_of(plain + [row("m", "int8-qat")]) == legend  # no ratio: no word
    assert legend_of(plain + [row("m", "int8-qat", 3.1)]) == legend + (
        " (an int8-qat row: against ResNet-50's int8 row, the same arithmetic without quantization-aware training)")
    assert legend_of([row("m", "fp32")]) is None


def test_a_qat_entry_without_macs_has_its_models(tmp_path):
    """A conversion of a quantization-aware model records MACs 0 (the profile counts its wrapped layers as nothing):
    its rows had no GMAC/s and no % peak. The same backbone at the same size in the manifest says them; a model of
    another architecture does not lend its own."""
    from edgebb.benchmark.targets import from_file, from_manifest

    backbone = {"name": "mobilenet_v3_small", "width": 0.75, "num_classes": 2, "input_size": 32}
    entries = []
    for recipe, macs, size, classes in (("fp32", 1572784, 32, 2), ("int8", 1572784, 32, 2), ("int8-qat", 0, 32, 2),
                                        ("fp16", 0, 64, 2), ("dynamic", 0, 32, 3)):
        path = f"m_{recipe}.tflite"
        (tmp_path / path).write_bytes(b"x")
        entries.append({"path": path, "format": "tflite", "recipe": recipe, "macs": macs,
                        "preprocessing": {"size": size},
                        "source": {"kind": "file", "backbone": {**backbone, "num_classes": classes}}})
    (tmp_path / "manifest.json").write_text(json.dumps({"source": entries[0]["source"], "artifacts": entries}))
    macs = {t.recipe: t.macs for t in from_manifest(str(tmp_path / "manifest.json"))}
    assert macs == {"fp32": 1572784, "int8": 1572784, "int8-qat": 1572784, "fp16": 0, "dynamic": 0}
    assert from_file(str(tmp_path / "m_int8-qat.tflite")).macs == 1572784  # as a device reads it (bench --remote)


def test_max_seconds_under_min_seconds_is_refused():
    from edgebb.benchmark import BenchOptions
    from edgebb.core.errors import InputError

    with pytest.raises(InputError, match=r"^--max-seconds 0.1 is less than --min-seconds 1: "):
        BenchOptions(max_seconds=0.1, min_seconds=1)
    assert BenchOptions(max_seconds=1).min_seconds == 1  # a cap under the default --min-seconds lowers it
    assert BenchOptions(max_seconds=1, min_seconds=1).max_seconds == 1  # equal is a steady state of exactly that


def test_noise_is_not_explained_with_confidence():
    from edgebb.benchmark.analysis import noise_warnings
    from edgebb.benchmark.rows import BenchRow

    noisy = [_row("fp32", 1.0, cv=0.6, spread=0.6), _row("int8", 1.5, cv=0.7, spread=0.7)]
    assert diagnose(noisy, {"machine": "x86_64", "cpu_flags": ["avx2"]}) == []  # within twice the noise
    # a few preempted runs make std / mean large; the typical spread is small, and 1.5x is no noise
    outliers = [_row("fp32", 1.0, cv=0.6, spread=0.02), _row("int8", 1.5, cv=0.7, spread=0.03)]
    assert [n.split(":")[0] for n in diagnose(outliers, {"machine": "x86_64", "cpu_flags": ["avx2"]})] == [
        "m int8 is 1.50x slower than fp32 on litert (1 thread(s))"]
    assert diagnose([_row("fp32", 1.0), _row("int8", 1.04)], {"machine": "x86_64", "cpu_flags": []}) == []
    rows = [BenchRow.from_dict({**r, "format": "tflite", "path": "p", "runtime": "litert"}) for r in noisy]
    warnings = noise_warnings({"cores": 2, "load_average_before": [3.5, 2, 1], "load_average_after": [2.8, 2, 1],
                               "cpu_busy_before": 0.6, "cpu_busy_after": 0.1}, rows)
    assert any("this machine was busy: other work used 60%" in w and "3.5 -> 2.8" in w for w in warnings)
    assert any("2 row(s) varied" in w for w in warnings)
    assert noise_warnings({"cores": 2, "load_average_before": [2.0, 0, 0], "cpu_busy_before": 0.02}, []) == []


def test_img_per_s_below_1000_over_p50_is_explained():
    """1,000 runs of 0.1 ms and 20 of 24 ms (an OS preempting the process): img/s (1000 / mean) is far below
    1000 / p50, which a reader took for a wrong figure, and std / mean says "noisy" though the runs are steady. A
    line under the table says why, naming the worst row; the spread is small; a steady row says nothing."""
    from edgebb.benchmark.rows import BenchRow, latency_stats, spread_of
    from edgebb.reporting.results import outlier_line

    times = [0.1] * 500 + [0.102] * 500 + [24.0] * 20
    row = BenchRow("m", artifact="m.tflite", runtime="litert", status="ok", latency_ms=latency_stats(times))
    assert spread_of(times) < 0.02 and row.latency_ms["std"] / row.latency_ms["mean"] > 1
    assert outlier_line([row]) == (
        "img/s is 1000 / mean latency, the steady state's rate: for 1 row(s) a few runs far slower than the rest "
        "pulled the mean above p50 (the worst: m.tflite on litert (1 thread(s)), mean 5.6x p50, max 24 ms against p50 "
        "0.102 ms); p50 and p90 are what the model takes")
    steady = BenchRow("m", artifact="m.tflite", runtime="litert", status="ok", latency_ms=latency_stats([0.1] * 50))
    assert outlier_line([steady]) is None
    # three runs in ten slow (a new user's ResNet-50: p50 18.4 ms, p90 40.5 ms) is not "a few", and p90 holds them
    common = BenchRow("m", artifact="m.tflite", runtime="litert", status="ok",
                      latency_ms=latency_stats([18.4] * 70 + [40.5] * 30))
    line = outlier_line([common])
    assert "a few" not in line and "p90 40.5 ms against p50 18.4 ms: one run in ten or more" in line, line


def test_the_fp32_peak_is_the_fastest_of_blas_onnxruntime_and_openvino(tmp_path, monkeypatch):
    """A model's float kernels must not beat the "peak": whichever GEMM is fastest at a thread count (numpy's BLAS,
    ONNX Runtime's MatMul, OpenVINO's MatMul) is the peak there, and the peak says whose it is."""
    from edgebb.benchmark import environment, peak

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(environment, "cpu_busy", lambda seconds=0.5: 0.0)

    def probe(code, n):
        if "a @ b" in code:
            return 40.0 * n  # numpy
        if "openvino" in code:
            return 60.0 if n == 1 else 90.0  # fastest on one core only
        return (90.0 if f"integer = 1024, {n}, True" in code else 50.0) * n

    monkeypatch.setattr(peak, "_probe", probe)
    got = peak.machine_peak({"cpu_model": "x", "cpu_flags": [], "machine": "x86_64"}, [1, 2])
    assert got["fp32_gmacs"] == {"1": 60.0, "2": 100.0} and got["fp32_from"] == {"1": "openvino", "2": "onnxruntime"}
    assert got["int8_gmacs"] == {"1": 90.0, "2": 180.0}
    from edgebb.reporting.results import peak_line

    assert "(fp32 60 GMAC/s x1 (openvino), 100 GMAC/s x2 (onnxruntime); int8 90 GMAC/s x1, 180 GMAC/s x2)" \
        in peak_line(got)


def test_a_peak_disturbed_while_probing_is_provisional_until_a_quiet_run(tmp_path, monkeypatch):
    """2 threads at half of 1 thread's GMAC/s (another process took a core mid-probe) is kept as provisional and
    flagged; a busy machine reuses it without probing again; the next quiet run measures it again; a bad peak cached
    by an older edgebb (no provisional mark) is measured again."""
    import json

    from edgebb.benchmark import environment, peak

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    busy = {"now": 0.0}
    monkeypatch.setattr(environment, "cpu_busy", lambda seconds=0.5: busy["now"])
    probed, calls = {"1": 48.0, "2": 26.0}, []
    monkeypatch.setattr(peak, "_probe", lambda code, n: calls.append(n) or probed[str(n)])
    env = {"cpu_model": "x", "cpu_flags": [], "machine": "x86_64"}
    lines = []
    first = peak.machine_peak(env, [1, 2], lines.append)
    assert "fell as threads were added (fp32: 26.0 GMAC/s x2 < 48.0 x1)" in first["busy"]
    assert lines == ["this machine's GEMM peak (probed once per machine, then cached)"]  # once, however many probes
    busy["now"], before = 0.9, len(calls)
    again = peak.machine_peak(env, [1, 2], lines.append)  # busy: the provisional peak is reused, not probed again
    assert len(calls) == before and again["fp32_gmacs"]["2"] == 26.0 and "provisional" in again["busy"]
    assert len(lines) == 1  # a cached peak is read without a word
    busy["now"], probed["2"] = 0.0, 90.0
    quiet = peak.machine_peak(env, [1, 2])
    assert quiet["fp32_gmacs"] == {"1": 48.0, "2": 90.0} and "busy" not in quiet
    cached = tmp_path / "edgebb" / "peak.json"
    stored = json.loads(cached.read_text())
    assert "provisional" not in stored
    cached.write_text(json.dumps({**stored, "fp32_gmacs": {"1": 48.0, "2": 20.0}}))  # an older edgebb's bad cache
    assert peak.machine_peak(env, [1, 2])["fp32_gmacs"]["2"] == 90.0


def test_more_threads_than_cores_are_read_against_the_peak_at_all_cores(tmp_path, monkeypatch):
    """--threads 4 on 2 cores: the GEMM probe at 4 threads measured contention, which read as a peak that "fell
    as threads were added" on a busy machine, and the row's % peak was divided by it. The peak is probed at
    most at the machine's cores and a row with more threads is read against it."""
    from edgebb.benchmark import environment, peak

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(environment, "cpu_busy", lambda seconds=0.5: 0.0)
    monkeypatch.setattr(peak.os, "cpu_count", lambda: 2)
    calls = []
    monkeypatch.setattr(peak, "_probe", lambda code, n: calls.append(n) or 40.0 * min(n, 2))
    got = peak.machine_peak({"cpu_model": "x", "cpu_flags": [], "machine": "x86_64"}, [1, 4])
    assert set(calls) == {1, 2} and "busy" not in got and got["fp32_gmacs"] == {"1": 40.0, "2": 80.0}
    assert peak.peak_fraction(40.0, "fp32", 4, got) == 0.5


def test_more_threads_than_cores_are_named(artifacts, tmp_path):
    cores = os.cpu_count()
    out = tmp_path / "r.json"
    result = edgebb("bench", str(artifacts / "mobilenet_v2_0.35_32_fp32.tflite"), "--threads", str(cores + 1),
                    "--baseline", "none", "--json", str(out), *FAST, env={"XDG_CACHE_HOME": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    notes = json.loads(out.read_text())["notes"]
    assert f"{cores + 1} thread(s) on a machine of {cores} cores: the threads share the cores" in " ".join(notes), notes


def test_per_op_profile(artifacts, tmp_path):
    """--profile: ONNX Runtime's per-op table of the int8 model, steady-state runs only, shares summing to 1."""
    out = tmp_path / "r.json"
    result = edgebb("bench", artifacts / "mobilenet_v2_0.35_32_int8.onnx", "--profile", "--baseline", "none",
                    "--json", out, *FAST)
    assert result.returncode == 0, result.stderr
    assert "per-op time, mobilenet_v2_0.35_32_int8.onnx on onnxruntime" in result.stdout
    (row,) = json.loads(out.read_text())["results"]
    ops = {p["op"]: p for p in row["profile"]}
    assert "QLinearConv" in ops and ops["QLinearConv"]["count"] > 0 and ops["QLinearConv"]["ms"] > 0
    assert sum(p["share"] for p in row["profile"]) == pytest.approx(1.0, abs=0.01)


def test_every_csv_row_has_the_same_columns():
    """A CSV's columns are its first row's: a row without a conversion check, a throttle or a GPU (a bare
    artifact's, a skipped one's) has the same flat keys as one with them, empty."""
    from edgebb.benchmark.rows import BenchRow

    bare = BenchRow(model="m", artifact="m.tflite", runtime="litert")
    full = BenchRow(model="m", artifact="m_int8.tflite", runtime="litert-gpu", status="ok", latency_ms={"p50": 1.0},
                    extra={"conversion_check": {"passed": False, "failed_because": "lost 9 points > 1"},
                           "throttled": ["under-voltage"], "peak_fraction": 0.2, "software": True,
                           "sustained": {"seconds": 60.0, "drift": 1.1, "windows": []},
                           "parity_error": "litert failed: MemoryError: "})
    assert list(bare.flat()) == list(full.flat())
    # why a GPU row has no parity reaches the JSON and the CSV (to_dict kept only OPTIONAL keys and dropped it)
    assert full.to_dict()["parity_error"] == full.flat()["parity_error"] == "litert failed: MemoryError: "
    flat = full.flat()
    assert (flat["conversion_check_passed"], flat["conversion_check_failed_because"]) == (False, "lost 9 points > 1")
    assert (flat["throttled"], flat["sustained_drift"], flat["software"]) == ("under-voltage", 1.1, True)
    assert bare.flat()["conversion_check_passed"] is None and bare.flat()["peak_fraction"] is None
    assert not any(isinstance(v, (dict, list)) for v in flat.values())


def test_latency_stats():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats["min"] == 1.0 and stats["max"] == 100.0 and stats["p50"] == 3.0 and stats["mean"] == 22.0


def _row(recipe, p50, runtime="litert", **extra):
    return {"model": "m", "runtime": runtime, "threads": 1, "recipe": recipe, "status": "ok",
            "latency_ms": {"p50": p50}, "artifact": f"m_{recipe}.tflite", **extra}


@pytest.mark.parametrize("machine, flags, expected", [
    ("x86_64", ["avx2", "fma"], "no VNNI"),
    ("x86_64", ["avx2", "avx512_vnni"], "has VNNI"),
    ("aarch64", ["asimd"], "no dotprod"),
])
def test_diagnosis_names_the_likely_cause(machine, flags, expected):
    notes = diagnose([_row("fp32", 1.0), _row("int8", 1.5)], {"machine": machine, "cpu_flags": flags})
    assert len(notes) == 1 and "1.50x slower" in notes[0] and expected in notes[0]
    assert diagnose([_row("fp32", 2.0), _row("int8", 1.0)], {"machine": machine, "cpu_flags": flags}) == []


def test_diagnosis_names_the_recipe():
    """An int8-qat row slower than fp32 is named as such: both notes said "int8", one of them of the int8-qat row."""
    env = {"machine": "x86_64", "cpu_flags": ["avx2"]}
    notes = diagnose([_row("fp32", 1.0), _row("int8", 1.99), _row("int8-qat", 2.02)], env)
    assert [n.split(":")[0] for n in notes] == ["m int8 is 1.99x slower than fp32 on litert (1 thread(s))",
                                                "m int8-qat is 2.02x slower than fp32 on litert (1 thread(s))"]


def test_diagnosis_of_a_gpu_fallback_and_software_adapter():
    env = {"machine": "x86_64", "cpu_flags": []}
    rows = [_row("fp32", 1.0, "litert-gpu"), _row("int8", 3.0, "litert-gpu", fully_accelerated=False)]
    (note,) = diagnose(rows, env)
    assert "int8 is 3.00x slower than fp32 on litert-gpu" in note and "fell back to CPU" in note
    # On a software adapter the same latencies are a CPU rasterizer's: no int8-vs-fp32 note (it said "1.19x slower
    # on litert-gpu" for lavapipe's figures), only the note that they are emulation.
    soft = {"software": True, "adapter": "llvmpipe"}
    rows = [_row("fp32", 1.0, "litert-gpu", **soft), _row("int8", 3.0, "litert-gpu", fully_accelerated=False, **soft)]
    notes = diagnose(rows, env)
    (note,) = notes  # one note for the adapter, naming its rows (it had been one per row)
    assert note.startswith("m_fp32.tflite, m_int8.tflite on litert-gpu ran on a software adapter (llvmpipe)"), note
    assert not any("slower than fp32" in n for n in notes)
    # nor under an emulator (qemu): its cost per operation is not the target's
    assert diagnose([_row("fp32", 1.0, emulated=True), _row("int8", 1.5, emulated=True)], env) == []


@pytest.mark.parametrize("label", ["software", "emulated", None])
def test_emulated_rows_get_no_ratio_to_the_baseline(label):
    from edgebb.benchmark.harness import compare_to_baseline
    from edgebb.benchmark.rows import BenchRow

    def row(model, p50, **kw):
        r = BenchRow(model=model, artifact=f"{model}.tflite", path=f"/a/{model}.tflite", format="tflite",
                     recipe="fp32", runtime="litert", input_size=64, threads=1, status="ok",
                     latency_ms={"p50": p50}, peak_rss_mb=100.0, baseline=model == "resnet50", **kw)
        if label == "software":
            r.extra["software"] = True
        return r

    rows = [row("resnet50", 40.0, emulated=label == "emulated"), row("m", 10.0, emulated=label == "emulated")]
    compare_to_baseline(rows, "resnet50")
    assert rows[1].speedup_vs_baseline == (4.0 if label is None else None)
    assert rows[1].memory_ratio_vs_baseline == (1.0 if label is None else None)


def test_peak_memory_is_the_workers_own(artifacts):
    """A worker started by a process that holds a lot of memory reports its own peak, not its parent's (Linux
    carries ru_maxrss across fork and exec; edgebb reads VmHWM)."""
    import numpy as np

    from edgebb.benchmark import bench

    ballast = np.ones(800 * 1024 * 1024, np.uint8)  # 800 MB resident in this (parent) process
    report = bench([str(artifacts / "mobilenet_v2_0.35_32_fp32.tflite")], baseline="none", runs=3, min_seconds=0)
    assert ballast[-1] == 1
    row = report.results[0].to_dict()
    assert row["status"] == "ok" and 10 < row["peak_rss_mb"] < 600, row["peak_rss_mb"]


def _deployment(recipe, runtime, p50, path, status="ok", threads=1):
    from edgebb.benchmark.rows import BenchRow

    return BenchRow(model="m", artifact=os.path.basename(path), path=path, format=path.rsplit(".", 1)[1],
                    recipe=recipe, runtime=runtime, input_size=64, threads=threads, status=status,
                    latency_ms={"p50": p50} if status == "ok" else None)


def test_best_is_the_fastest_deployment_whose_accuracy_holds():
    from edgebb.benchmark.best import best_lines, choose

    ok = {"passed": True, "top1_agreement": 99.0, "drop": 0.4}
    d = _deployment
    rows = [d("fp32", "litert", 2.0, "/a/m_fp32.tflite"), d("fp32", "onnxruntime", 2.4, "/a/m_fp32.onnx"),
            d("int8", "litert", 1.0, "/a/m_int8.tflite"),          # fast, but loses 3 points
            d("int8", "onnxruntime", 1.2, "/a/m_int8.onnx"),       # the answer
            d("int8", "openvino", 0.8, "/a/m_int8.onnx"),           # same file, same verification: faster still
            d("int8", "litert", 0.5, "/b/bare_int8.tflite"),        # no manifest: nothing says it is the model
            d("int8", "onnxruntime", None, "/a/m_int8.onnx", status="failed", threads=2)]
    verifications = {"/a/m_fp32.tflite": {"passed": True, "top1_agreement": 100.0, "drop": 0.0},
                     "/a/m_int8.tflite": {"passed": True, "top1_agreement": 96.0, "drop": 3.0},
                     "/a/m_int8.onnx": ok}
    (choice,) = choose(rows, verifications, max_drop=1.0)
    assert (choice["best"]["recipe"], choice["best"]["runtime"]) == ("int8", "openvino")
    by = {(d["recipe"], d["runtime"], d["threads"], d["artifact"]): d for d in choice["deployments"]}
    assert by[("int8", "onnxruntime", 1, "m_int8.onnx")]["vs_best"] == pytest.approx(1.5)
    assert not by[("int8", "litert", 1, "m_int8.tflite")]["eligible"]
    assert "3.00 points > --max-drop 1" in by[("int8", "litert", 1, "m_int8.tflite")]["quality"]
    assert not by[("int8", "litert", 1, "bare_int8.tflite")]["eligible"]
    assert not by[("int8", "onnxruntime", 2, "m_int8.onnx")]["eligible"]
    assert [d["eligible"] for d in choice["deployments"]] == [True] * 4 + [False] * 3  # eligible first, fastest first
    # a looser budget lets the 3-point int8 TFLite win
    (loose,) = choose(rows, verifications, max_drop=5.0)
    assert (loose["best"]["recipe"], loose["best"]["runtime"], loose["best"]["p50_ms"]) == ("int8", "openvino", 0.8)
    text = "\n".join(best_lines([choice]))
    assert "best deployment of m @64: int8 on openvino x1" in text and "fp32 litert x1 2.50x" in text
    # where nothing qualifies, the line says why each did not (it said only "none")
    (none,) = choose([r for r in rows if r.recipe == "int8" and r.runtime == "litert"], verifications, max_drop=1.0)
    text = "\n".join(best_lines([none]))
    assert "none: no deployment ran and kept accuracy" in text and "not eligible: int8 litert x1: " in text
    assert "3.00 points > --max-drop 1" in text and "no verification" in text

    # where convert also ran the file in OpenVINO, the OpenVINO row is judged by OpenVINO's own figures and verdict
    ran = {**ok, "reference_accuracy": 90.0, "accuracy": 89.6,
           "other_runtimes": {"openvino": {"top1_agreement": 97.0, "max_abs_error": 0.1, "float_top1_agreement": 96.5,
                                           "passed": False, "accuracy": 88.5, "drop": 1.5,
                                           "failed_because": "lost 1.50 points > 1"}}}
    (own,) = choose(rows, {**verifications, "/a/m_int8.onnx": ran}, max_drop=1.0)
    assert (own["best"]["recipe"], own["best"]["runtime"]) == ("int8", "onnxruntime")
    by = {(d["recipe"], d["runtime"], d["threads"], d["artifact"]): d for d in own["deployments"]}
    openvino = by[("int8", "openvino", 1, "m_int8.onnx")]
    assert openvino["quality"] == "failed its conversion check on openvino (lost 1.50 points > 1)"
    # a quantized copy of random weights was shown but not judged: not chosen, and not called a failure
    (unjudged,) = choose(rows, {**verifications, "/a/m_int8.onnx": {**ok, "passed": None, "drop": None}},
                         max_drop=1.0)
    row = next(d for d in unjudged["deployments"] if d["runtime"] == "onnxruntime" and d["recipe"] == "int8"
               and d["threads"] == 1)
    assert not row["eligible"] and row["quality"] == "not judged: its outputs are near-ties (agreement 99.0%)"
    # and the other way round: ONNX Runtime's run failed the budget, OpenVINO's held it
    flipped = {**ran, "passed": False, "drop": 1.4, "failed_because": "lost 1.40 points > 1",
               "other_runtimes": {"openvino": {"top1_agreement": 97.0, "max_abs_error": 0.1,
                                               "float_top1_agreement": 98.0, "passed": True, "accuracy": 89.5,
                                               "drop": 0.5}}}
    (theirs,) = choose(rows, {**verifications, "/a/m_int8.onnx": flipped}, max_drop=1.0)
    assert (theirs["best"]["runtime"], theirs["best"]["quality"]) == \
        ("openvino", "drop 0.50 points on openvino, agreement 98.0%")
    assert by[("int8", "onnxruntime", 1, "m_int8.onnx")]["quality"] == "drop 0.40 points, agreement 99.0%"
    assert not {d["runtime"] for d in theirs["deployments"] if d["eligible"] and d["recipe"] == "int8"
                and d["artifact"] == "m_int8.onnx"} - {"openvino"}


def test_bench_best_runs_only_the_runtimes_an_item_feeds(tiny_tflite, tmp_path):
    """--best without --runtime: edgebb chose every CPU runtime, so on a folder of .tflite files the .onnx runtimes
    are dropped before any work, with one note, not made into a skipped row of every item; nor is the baseline
    converted to .onnx and measured there with nothing to compare it with (a 76 s run measured ResNet-50 on
    onnxruntime and openvino for that)."""
    out = tmp_path / "b.json"
    result = edgebb("bench", str(tiny_tflite), "--best", "--threads", "1", "--baseline", "squeezenet_1_1", "--json",
                    str(out), *FAST)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert sorted((r["model"], r["recipe"], r["runtime"], r["status"]) for r in report["results"]) == [
        ("mobilenet_v2@0.35", "fp32", "litert", "ok"), ("mobilenet_v2@0.35", "int8", "litert", "ok"),
        ("squeezenet_1_1", "fp32", "litert", "ok"), ("squeezenet_1_1", "int8", "litert", "ok")], report["results"]
    note = ("--best: onnxruntime and openvino not measured: they load .onnx files, and no item has one (--runtime "
            "onnxruntime,openvino lists a skipped row for each item)")
    assert note in report["notes"] and f"note: {note}" in result.stdout
    assert result.stderr.index(note) < result.stderr.index("measuring")  # said before the work
    assert "skipped [" not in result.stdout and "(onnx" not in result.stderr  # no baseline converted to .onnx
    (choice,) = report["best"]
    assert {d["runtime"] for d in choice["deployments"]} == {"litert"}


def test_best_runtimes_are_edgebbs_choice():
    """--best without --runtime leaves `runtimes` empty (the user named none): its runtimes are `best_runtimes`,
    backbone names are converted to their formats, and a device bench (to_argv) chooses its own."""
    from edgebb.benchmark import BenchOptions

    best = BenchOptions(best=True)
    assert best.runtimes == () and best.best_runtimes == ("litert", "onnxruntime", "openvino")
    assert best.formats == ["onnx", "tflite"] and "--runtime" not in best.to_argv()
    named = BenchOptions(best=True, runtimes="litert")
    assert named.best_runtimes == () and named.formats == ["tflite"] and "--runtime" in named.to_argv()
    assert BenchOptions().best_runtimes == () and BenchOptions().formats == ["tflite"]


def test_bench_best_on_a_manifest(artifacts, tmp_path):
    out = tmp_path / "b.json"
    result = edgebb("bench", str(artifacts / "manifest.json"), "--best", "--runtime", "litert,onnxruntime",
                    "--baseline", "none", "--json", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    (choice,) = report["best"]
    rows = [r for r in report["results"] if r["status"] == "ok"]
    assert len(choice["deployments"]) == len(report["results"]) == 4
    eligible = [d for d in choice["deployments"] if d["eligible"]]
    assert choice["best"]["p50_ms"] == min(d["p50_ms"] for d in eligible)
    assert {d["recipe"] for d in eligible} >= {"fp32"}  # float artifacts are always eligible
    assert all(d["vs_best"] == pytest.approx(d["p50_ms"] / choice["best"]["p50_ms"]) for d in choice["deployments"])
    assert len(rows) == 4 and f"best deployment of {choice['model']} @{SIZE}" in result.stdout


def test_ctrl_c_after_the_worker_ended_is_still_an_interrupt(tmp_path, monkeypatch):
    """Ctrl-C in `communicate`: Python waits a moment for the child and reaps it if it ended; the worker's group
    was then gone and killing it raised ProcessLookupError in place of the KeyboardInterrupt (a sweep stored the
    cells in flight as failed: "ProcessLookupError: [Errno 3] No such process")."""
    from edgebb.benchmark import process

    def reaped_then_interrupted(self, input=None, timeout=None):
        self.wait()  # the worker has ended and been reaped: its process group no longer exists
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess.Popen, "communicate", reaped_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        process.run_worker({"path": str(tmp_path / "missing.tflite")}, timeout=60, folder=str(tmp_path))


def test_the_baseline_asked_for_by_name_carries_its_conversion_check(tmp_path):
    """`bench vgg16 resnet50 ... --recipe int8`: resnet50's int8 row said "ok" where every other random-weight int8
    row said "not judged" (a baseline row carried no conversion check)."""
    out = tmp_path / "r.json"
    result = edgebb("bench", "squeezenet_1_1", "-s", str(SIZE), "--recipe", "int8", "--baseline", "squeezenet_1_1",
                    "--json", str(out), *FAST, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["results"]
    assert row["baseline"] and row["conversion_check"] == {"passed": None, "failed_because": None}, row
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("squeezenet_1_1 *")]
    assert "ok, not judged [1]" in line, result.stdout
