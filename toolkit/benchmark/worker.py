"""One measurement, in its own process: `python -m edgebb.benchmark.worker SPEC.json` prints one JSON result
line.

The parent (edgebb.benchmark.harness) starts one worker per (artifact, runtime, threads) so that memory figures
belong to that model alone and a crash, a hang or an out-of-memory kill costs one row, not the run.

Method, after LiteRT's benchmark_model and MLPerf: load (init time), one first inference (timed apart: it pays
for lazy allocation and delegate preparation), warm-up runs, then steady-state runs until both `runs` and
`min_seconds` are reached. Every timed call returns finished outputs (`invoke_raw` reads the output tensor), so
asynchronous GPU work is inside the timed region.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np

MAX_RUNS = 100_000


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _peak_rss_mb() -> float:
    """This process's resident high-water mark. VmHWM belongs to the address space exec() made; ru_maxrss does
    not: Linux carries it over from the parent, so a worker started by a process that had converted ResNet-50
    would report the parent's 8 GB."""
    from .process import status_mb

    peak = status_mb("self", "VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KB


def _fault(setting: str, path: str) -> None:
    """Test hook: EDGEBB_BENCH_FAULT=kind[:text] makes this worker fail the way real runtimes do (segfault, hang,
    oom; slow is applied after loading, see _slow), for every artifact or only those whose path contains `text`."""
    kind, _, only = setting.partition(":")
    if only and only not in path:
        return
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)
    elif kind == "hang":
        time.sleep(3600)
    elif kind == "oom":
        hoard = []
        while True:
            hoard.append(np.ones(64 * 1024 * 1024, np.uint8))


def _slow(session, setting: str, path: str, seconds: float = 0.5) -> None:
    """Test hook: EDGEBB_BENCH_FAULT=slow[:text] makes every inference take `seconds` longer, as a software GPU's
    do, to show that --max-seconds bounds the whole row."""
    only = setting.partition(":")[2]
    if only and only not in path:
        return
    invoke_raw, run = session.invoke_raw, session.run

    def slow_invoke(x):
        time.sleep(seconds)
        return invoke_raw(x)

    def slow_run(x):
        time.sleep(seconds * len(x))
        return run(x)

    session.invoke_raw, session.run = slow_invoke, slow_run


def typed_input(session, batch: np.ndarray) -> np.ndarray:
    from ..runtimes import quantize

    info = session.inputs[0]
    if info.quantized:
        return quantize(batch, info)
    return batch.astype(np.dtype(info.dtype) if info.dtype in ("float32", "float16") else np.float32)


def inputs_of_its_shape(session, samples: int = 8) -> np.ndarray:
    """Random inputs of the model's own input shape, for an artifact that came without its preprocessing: values
    in [-1, 1], what a normalized image spans."""
    shape = tuple(d if d > 0 else 1 for d in session.inputs[0].shape)
    return np.random.default_rng(0).uniform(-1, 1, (samples, *shape[1:])).astype(np.float32)


def measure(spec: dict) -> dict:
    """Load spec["path"] with spec["runtime"] and time it; returns the result fields of one row."""
    from ..runtimes import load_artifact

    fault = os.environ.get("EDGEBB_BENCH_FAULT")
    if fault:
        _fault(fault, spec["path"])
    inputs = np.load(spec["inputs"]) if spec.get("inputs") else None
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    session = load_artifact(spec["path"], runtime=spec["runtime"], threads=spec.get("threads"),
                            **spec.get("options", {}))
    if fault and fault.partition(":")[0] == "slow":
        _slow(session, fault, spec["path"])
    init_ms = (time.perf_counter() - t0) * 1e3
    try:
        if inputs is None:
            inputs = inputs_of_its_shape(session)
        typed = [typed_input(session, inputs[i:i + 1]) for i in range(len(inputs))]
        cap = spec.get("max_seconds")
        t0 = time.perf_counter()
        first_out = session.invoke_raw(typed[0])
        first_ms = (time.perf_counter() - t0) * 1e3
        warmup = 0
        # --max-seconds bounds the warm-up too: a software GPU at 10 s per inference would spend a minute there.
        while warmup < spec["warmup"] and (cap is None or time.perf_counter() - t0 < cap / 3):
            session.invoke_raw(typed[warmup % len(typed)])
            warmup += 1
        times: list[float] = []
        start = time.perf_counter()
        if spec.get("sustained"):
            times, windows = _sustained(session, typed, spec["sustained"])
        else:
            windows = None

        def more() -> bool:
            if windows is not None:
                return False
            elapsed = time.perf_counter() - start
            enough = len(times) >= spec["runs"] and elapsed >= spec["min_seconds"]
            # --max-seconds bounds a slow row (a software GPU at 3 s per inference), as benchmark_model's max_secs
            capped = cap is not None and elapsed >= cap and len(times) >= 3
            return not enough and not capped and len(times) < MAX_RUNS

        while more():
            x = typed[len(times) % len(typed)]
            t = time.perf_counter_ns()
            session.invoke_raw(x)
            times.append((time.perf_counter_ns() - t) / 1e6)
        samples = spec.get("parity_samples", 8)
        if cap is not None and times:  # a slow row spends at most another third of --max-seconds on its outputs
            samples = max(1, min(samples, int(cap / 3 / (float(np.median(times)) / 1e3))))
        outputs = session.run(inputs[:samples])
        if isinstance(outputs, list):
            outputs = outputs[0]
        if spec.get("outputs"):
            np.save(spec["outputs"], np.asarray(outputs, np.float32))
        result = {
            "status": "ok", "init_ms": init_ms, "first_ms": first_ms, "warmup_runs": warmup,
            "latencies_ms": times, "rss_before_mb": rss_before, "rss_after_mb": _rss_mb(),
            "peak_rss_mb": _peak_rss_mb(), "first_output_shape": list(np.shape(first_out)),
            "input_dtype": session.inputs[0].dtype,
        }
        if windows is not None:
            result["sustained"] = windows
        if spec.get("reference"):  # after the memory figures were read: the CPU's model is not this row's
            result.update(_against_reference(spec, inputs[:len(outputs)], outputs,
                                             getattr(session, "enforce_f32", None)))
        for key in ("adapter", "software", "fully_accelerated", "provider"):
            if hasattr(session, key):
                result[key] = getattr(session, key)
        if getattr(session, "enforce_f32", None) is not None:  # what LiteRT let the GPU compute in
            result["gpu_precision"] = "float32" if session.enforce_f32 else "float16"
        if spec.get("profile"):
            from ..runtimes import get_runtime

            runtime = get_runtime(spec["runtime"])
            if runtime.profiles:
                result["profile"] = runtime.profile(spec["path"], inputs[:1], spec.get("threads"),
                                                    os.path.dirname(spec["inputs"]))
            else:
                result["profile_note"] = f"{spec['runtime']} offers no per-op profiler through its Python API"
        return result
    finally:
        session.close()


def _against_reference(spec: dict, inputs: np.ndarray, outputs: np.ndarray, enforce_f32: bool | None) -> dict:
    """A GPU row's parity with the CPU: the same inputs through spec["reference"] (its format's CPU runtime) in
    this worker, compared with the row's `outputs`: {"parity": ...}, or {"parity_error": why} when the CPU run
    failed (the row itself stands). Its "precision" is what the GPU was let compute in: "float16" (LiteRT's
    default, as on a phone: `enforce_f32` off), "float32", or None where the session does not say."""
    from ..runtimes import load_artifact
    from .rows import parity_of

    try:
        with load_artifact(spec["path"], runtime=spec["reference"], threads=spec.get("threads")) as cpu:
            expected = cpu.run(inputs)
    except Exception as exc:  # MemoryError included: the GPU row's figures are already taken
        text = str(exc).strip().splitlines()
        return {"parity_error": f"{spec['reference']} failed: {type(exc).__name__}: {text[0] if text else ''}"[:300]}
    if isinstance(expected, list):
        expected = expected[0]
    precision = None if enforce_f32 is None else "float32" if enforce_f32 else "float16"
    return {"parity": {**parity_of(expected, np.asarray(outputs, np.float32)), "precision": precision}}


WINDOWS = 10
KEEP = 20_000  # latencies kept for the row's percentiles over a long sustained run (every k-th run)


def _sustained(session, typed: list, seconds: float) -> tuple[list[float], dict]:
    """Run the steady state for `seconds` in WINDOWS windows; per window its p50, runs, and the device's temperature,
    clock and throttling flags at its end (None where the machine does not expose them)."""
    from .environment import device_state

    window = seconds / WINDOWS
    start = device_state()
    kept: list[float] = []
    windows: list[dict] = []
    step, n = 1, 0
    t_start = time.perf_counter()
    for w in range(WINDOWS):
        times: list[float] = []
        end = t_start + (w + 1) * window
        while time.perf_counter() < end or not times:
            x = typed[n % len(typed)]
            t = time.perf_counter_ns()
            session.invoke_raw(x)
            ms = (time.perf_counter_ns() - t) / 1e6
            times.append(ms)
            if n % step == 0:
                kept.append(ms)
                if len(kept) >= 2 * KEEP:  # thin out: every other one, and keep every 2k-th from now on
                    kept, step = kept[::2], step * 2
            n += 1
        state = device_state()
        windows.append({"t_s": round(time.perf_counter() - t_start, 2), "runs": len(times),
                        "p50_ms": float(np.percentile(times, 50)), "temperature_c": state["temperature_c"],
                        "cpu_freq_mhz": state["cpu_freq_mhz"], "throttled": state["throttled"]})
    return kept, {"seconds": seconds, "start": start, "windows": windows,
                  "drift": windows[-1]["p50_ms"] / windows[0]["p50_ms"] if windows[0]["p50_ms"] else None}


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    try:
        result = measure(spec)
    except MemoryError:
        result = {"status": "failed", "error": "out of memory"}
    except Exception as exc:  # a runtime's own failure: report it as the row's cause
        text = str(exc).strip().splitlines()
        result = {"status": "failed", "error": f"{type(exc).__name__}: {text[0] if text else ''}"[:300]}
        from ..runtimes import RuntimeUnavailable

        if isinstance(exc, RuntimeUnavailable):
            result = {"status": "skipped", "error": str(exc)}
    sys.stdout.write("EDGEBB_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
