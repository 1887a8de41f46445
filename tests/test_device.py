"""Device state in `edgebb bench`: throttling before/after, emulation labels, the tflite-runtime fallback and the
pi-smoke checker. A fake `vcgencmd` on PATH plays a Raspberry Pi's firmware."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from edgebb.benchmark import environment as envinfo
from edgebb.benchmark.analysis import device_warnings
from edgebb.benchmark.harness import _tflite_fallback

REPO = pathlib.Path(__file__).resolve().parents[1]
FAST = ["--runs", "3", "--min-seconds", "0", "--warmup", "1", "--baseline", "none"]


def edgebb(*args, env=None):
    return subprocess.run([sys.executable, "-m", "edgebb", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def fake_vcgencmd(folder: pathlib.Path, readings: list[str]) -> dict:
    """A `vcgencmd` that answers `get_throttled` with `readings` in turn (the last one from then on); returns the
    environment that puts it first on PATH."""
    (folder / "readings").write_text("\n".join(readings) + "\n")
    script = folder / "vcgencmd"
    script.write_text(f"""#!/bin/sh
[ "$1" = get_throttled ] || exit 1
n=$(cat {folder}/count 2>/dev/null || echo 0); echo $((n + 1)) > {folder}/count
line=$(sed -n "$((n + 1))p" {folder}/readings); [ -n "$line" ] || line=$(tail -n 1 {folder}/readings)
echo "throttled=$line"
""")
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("value, now, since_boot", [
    ("0x0", [], []),
    ("0x50005", ["under-voltage", "throttled"], ["under-voltage (since boot)", "throttled (since boot)"]),
    ("0x80008", ["soft temperature limit"], ["soft temperature limit (since boot)"]),
    (None, [], []),
    ("junk", [], []),
])
def test_throttle_flags(value, now, since_boot):
    assert envinfo.throttle_flags(value, since_boot=False) == now
    assert envinfo.throttle_flags(value) == now + since_boot


def test_throttled_between():
    assert envinfo.throttled_between("0x0", "0x0") == []
    assert envinfo.throttled_between(None, None) == []
    assert envinfo.throttled_between("0x0", "0x20000") == ["ARM frequency capped"]  # happened and passed
    assert envinfo.throttled_between("0x20000", "0x20000") == []  # only an old, sticky flag
    assert envinfo.throttled_between("0x0", "0x4") == ["throttled"]  # happening now


def test_device_warnings():
    rows = [{"artifact": "a.tflite", "runtime": "litert", "threads": 1, "throttled": ["throttled"]},
            {"artifact": "b.tflite", "runtime": "litert", "threads": 1, "throttled": []}]
    (warning,) = device_warnings({"throttled_before": "0x0", "throttled_after": "0x40004"}, rows)
    assert "throttled during this run (throttled" in warning and "not comparable" in warning
    assert "a.tflite on litert" in warning and "b.tflite" not in warning
    (sticky,) = device_warnings({"throttled_before": "0x10000", "throttled_after": "0x10000"}, [])
    assert "had throttled before this run" in sticky and "reboot" in sticky
    assert device_warnings({"throttled_before": None, "throttled_after": None}, rows) == []


def test_emulation_label(monkeypatch):
    monkeypatch.setenv("EDGEBB_EMULATED", "qemu-aarch64-cortex-a72")
    assert envinfo.emulation() == "qemu-aarch64-cortex-a72"
    monkeypatch.delenv("EDGEBB_EMULATED")
    for kernel, machine, expected in [("x86_64", "aarch64", "user-mode emulation (aarch64 on an x86_64 kernel)"),
                                      ("aarch64", "aarch64", None),
                                      ("aarch64", "armv7l", None),  # 32-bit Raspberry Pi OS on a 64-bit kernel
                                      ("x86_64", "x86_64", None), (None, "aarch64", None)]:
        monkeypatch.setattr(envinfo, "_read", lambda path, k=kernel: k if path == "/proc/sys/kernel/arch" else None)
        monkeypatch.setattr(envinfo.platform, "machine", lambda m=machine: m)
        assert envinfo.emulation() == expected, (kernel, machine)


def test_tflite_runtime_is_picked_up_without_litert(monkeypatch):
    import edgebb.runtimes as runtimes

    installed = {"litert": False, "tflite-runtime": True}
    monkeypatch.setattr(runtimes, "available", lambda name: (installed.get(name, True), f"{name} is not installed"))
    assert _tflite_fallback(["litert", "onnxruntime"]) == (
        ["tflite-runtime", "onnxruntime"],
        ["ai-edge-litert is not installed here; the .tflite artifacts ran on tflite-runtime instead"])
    assert _tflite_fallback(["litert", "tflite-runtime"])[1] == []  # both asked for: each row says what it is
    installed["litert"] = True
    assert _tflite_fallback(["litert"]) == (["litert"], [])


def test_bench_records_throttling_during_the_run(tiny_tflite, tmp_path):
    # readings: environment(), before the rows, before row 1, after row 1, ... : the board throttles during row 1
    env = fake_vcgencmd(tmp_path, ["0x0", "0x0", "0x0", "0x50005"])
    out = tmp_path / "r.json"
    result = edgebb("bench", str(tiny_tflite / "mobilenet_v2_0.35_32_fp32.tflite"), *FAST, "--json", str(out),
                    env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    env_out, (row,) = report["env"], report["results"]
    assert env_out["throttled_before"] == "0x0" and env_out["throttled_after"] == "0x50005"
    assert "temperature_before_c" in env_out and "temperature_after_c" in env_out
    assert row["throttled"] == ["under-voltage", "throttled"]
    (warning,) = [w for w in report["warnings"] if "throttl" in w]  # a busy machine adds its own warning
    assert "the device throttled during this run" in warning
    assert "warning: the device throttled during this run" in result.stdout
    assert "ok (throttled)" in result.stdout and "throttled 0x0 -> 0x50005" in result.stdout


def test_a_long_sustained_row_counts_every_run_not_the_latencies_it_kept():
    """Over 40,000 runs a sustained row keeps every k-th latency for its percentiles; `runs` said how many it kept
    (25,849 of 51,697 in a CI run), not how many ran."""
    from edgebb.benchmark.harness import finish
    from edgebb.benchmark.rows import BenchRow

    windows = [{"t_s": i + 1.0, "runs": 5170, "p50_ms": 0.04, "throttled": None} for i in range(10)]
    row = BenchRow("m", artifact="m.tflite", runtime="litert")
    finish(row, {"status": "ok", "latencies_ms": [0.04] * 25_850, "init_ms": 1.0, "first_ms": 1.0,
                 "peak_rss_mb": 50.0, "rss_before_mb": 40.0, "rss_after_mb": 45.0,
                 "sustained": {"seconds": 10, "start": {"throttled": None}, "windows": windows, "drift": 1.0}}, "")
    assert row.runs == 51_700


def test_sustained_run_reports_windows_and_the_window_the_board_throttled_in(tiny_tflite, tmp_path):
    # The fake firmware reads clean for the first few readings (environment, before the rows, before the row, the
    # sustained run's start, its first windows) and throttled from then on: a board heating up in the middle.
    env = fake_vcgencmd(tmp_path, ["0x0"] * 7 + ["0x50005"])
    out = tmp_path / "r.json"
    result = edgebb("bench", str(tiny_tflite / "mobilenet_v2_0.35_32_int8.tflite"), "--baseline", "none",
                    "--warmup", "1", "--sustained", "2", "--json", str(out), env=env)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["results"]
    s = row["sustained"]
    assert s["seconds"] == 2 and len(s["windows"]) == 10
    assert all(w["runs"] >= 1 and w["p50_ms"] > 0 for w in s["windows"])
    assert [w["t_s"] for w in s["windows"]] == sorted(w["t_s"] for w in s["windows"]) and s["windows"][-1]["t_s"] >= 2
    assert s["drift"] == pytest.approx(s["windows"][-1]["p50_ms"] / s["windows"][0]["p50_ms"])
    assert row["runs"] == sum(w["runs"] for w in s["windows"])  # what ran, though a fast row keeps every k-th
    assert s["windows"][0]["throttled"] == "0x0" and s["windows"][-1]["throttled"] == "0x50005"
    assert 1 not in s["throttled_windows"] and 10 in s["throttled_windows"]
    assert row["throttled"] == ["under-voltage", "throttled"]
    # (random weights: the int8 row is measured but its conversion check was not judged)
    assert "ok, not judged [1] (throttled)" in result.stdout
    assert "sustained 2 s" in result.stdout and "THROTTLED" in result.stdout
    # how long it will take is said before it starts (a new user's --sustained 40 ran 82 s: the baseline's row too)
    assert "--sustained 2 s for each of 1 row(s): at least 2 s\n" in result.stderr, result.stderr


def test_bench_on_a_cool_device_has_no_warning(tiny_tflite, tmp_path):
    out = tmp_path / "r.json"
    result = edgebb("bench", str(tiny_tflite / "mobilenet_v2_0.35_32_int8.tflite"), *FAST, "--json", str(out),
                    env=fake_vcgencmd(tmp_path, ["0x0"]))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert not [w for w in report["warnings"] if "throttl" in w] and report["results"][0]["throttled"] == []
    # (a busy machine, e.g. a loaded CI host, adds its own warning; none may be about throttling)
    assert not [ln for ln in result.stdout.splitlines() if ln.startswith("warning:") and "throttl" in ln]
    assert "(throttled)" not in result.stdout


def test_emulated_figures_are_labelled(tiny_tflite, tmp_path):
    out = tmp_path / "r.json"
    result = edgebb("bench", str(tiny_tflite), *FAST, "--json", str(out),
                    env={"EDGEBB_EMULATED": "qemu-aarch64-cortex-a72"})
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["env"]["emulated"] is True and report["env"]["emulation"] == "qemu-aarch64-cortex-a72"
    assert all(r["emulated"] is True for r in report["results"])
    assert result.stdout.count(" (emulated)") == 2 and "EMULATED (qemu-aarch64-cortex-a72)" in result.stdout
    assert any(n.startswith("emulated (qemu-aarch64-cortex-a72)") for n in report["notes"])
    native = edgebb("bench", str(tiny_tflite / "mobilenet_v2_0.35_32_fp32.tflite"), *FAST, "--json", str(out))
    assert json.loads(out.read_text())["env"]["emulated"] is False and "emulated" not in native.stdout


def test_pi_smoke_checker():
    spec = importlib.util.spec_from_file_location("check_bench", REPO / "device" / "check_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    row = {"artifact": "m_fp32.tflite", "runtime": "litert", "recipe": "fp32", "status": "ok", "emulated": True}
    good = {"env": {"machine": "aarch64", "emulated": True, "versions": {}},
            "results": [row, {**row, "artifact": "m_int8.tflite", "recipe": "int8"}]}
    assert module.check(good, machine="aarch64", emulated=True, recipes=["fp32", "int8"]) == []
    bad = {"env": {"machine": "x86_64", "emulated": False, "versions": {"tensorflow": "2.21"}},
           "results": [{**row, "status": "failed", "error": "crashed (SIGILL)"}]}
    problems = module.check(bad, machine="aarch64", emulated=True, recipes=["fp32", "int8"])
    assert any("crashed (SIGILL)" in p for p in problems) and any("expected 'aarch64'" in p for p in problems)
    assert "no int8 row" in problems and any("TensorFlow" in p for p in problems)


def test_arm_core_is_named(monkeypatch):
    pi4 = "".join(f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
                  "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
                  for i in range(4)) + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    info = envinfo.cpu_info(pi4)
    assert info["cpu_model"] == "Cortex-A72 (BCM2835)" and info["cpu_flags"] == ["asimd"]
