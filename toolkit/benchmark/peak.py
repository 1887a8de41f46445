"""This machine's measured compute peak, so a latency can be read as a fraction of what the hardware does.

fp32: single-precision GEMM, the fastest of numpy's BLAS (OpenBLAS in numpy's wheels), ONNX Runtime's MatMul (MLAS)
and OpenVINO's MatMul (oneDNN), square N x N x N, best of repeated runs, at each thread count asked for. (On an
AVX-512 EPYC numpy's sgemm reached 44 GMAC/s a core while OpenVINO ran ResNet-50's convolutions, all oneDNN
brgconv_avx512 kernels, at 132% of that: a peak some runtime's own kernels beat is no ceiling.) int8: ONNX
Runtime's MatMulInteger (uint8 x int8 -> int32, the integer GEMM its quantized Conv and MatMul kernels use), where
onnx and onnxruntime are installed. Each probe runs in its own process, so that the BLAS and runtime thread counts
are set before the library loads.

A probe takes about a second per thread count; results are cached per machine (CPU model, flags, cores, library
versions) under the cache root, in peak.json, and re-measured when any of those change. A peak measured while other
work ran (seen just before or just after probing, or a peak that falls as threads are added: 2 threads at half of 1
thread's GMAC/s once put every row's % peak over 100) is kept as provisional and flagged wherever it is used; the
next bench on a quiet machine measures it again. (Not re-probing on a busy machine keeps each bench from paying for
probes whose figures would be low anyway.)

`peak_fraction` of a bench row = its achieved GMAC/s (MACs / p50) over the peak of its kind (fp32 for float
artifacts, int8 for int8 ones) at its thread count. Convolutions of mobile networks are far from GEMM-shaped
(depthwise convolutions do a few MACs per byte moved), so fractions well under 1 are expected and informative.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from contextlib import ExitStack

from ..core.cache import cache_dir
from ..core.progress import Progress, as_progress

SIZE = 1024
SECONDS = 0.4

# Every probe sets up n and run() (one GEMM), then times it: the best of runs over {seconds} s, after a first one.
_BEST = """
run()
best, spent = float("inf"), 0.0
while spent < {seconds} or best == float("inf"):
    t = time.perf_counter(); run(); dt = time.perf_counter() - t
    best, spent = min(best, dt), spent + dt
print(n ** 3 / best / 1e9)
"""

_FP32 = """
import time, numpy as np
n = {n}
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
run = lambda: a @ b
""" + _BEST

# ONNX Runtime's own GEMM (MLAS): MatMulInteger u8 x s8 -> s32 for int8, MatMul for fp32 (on some CPUs MLAS's float
# kernels beat the BLAS numpy ships, and a peak that a model's own kernels exceed is no ceiling).
_ORT = """
import time, numpy as np, onnx, onnxruntime as ort
from onnx import TensorProto, helper
n, threads, integer = {n}, {threads}, {integer}
a_type, b_type = (TensorProto.UINT8, TensorProto.INT8) if integer else (TensorProto.FLOAT, TensorProto.FLOAT)
graph = helper.make_graph(
    [helper.make_node("MatMulInteger" if integer else "MatMul", ["a", "b"], ["c"])], "gemm",
    [helper.make_tensor_value_info("a", a_type, [n, n]), helper.make_tensor_value_info("b", b_type, [n, n])],
    [helper.make_tensor_value_info("c", TensorProto.INT32 if integer else TensorProto.FLOAT, [n, n])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
so.log_severity_level = 3
sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
if integer:
    feed = {{"a": rng.integers(0, 256, (n, n), dtype=np.uint8), "b": rng.integers(-128, 128, (n, n), dtype=np.int8)}}
else:
    feed = {{"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}}
run = lambda: sess.run(None, feed)
""" + _BEST


# OpenVINO's MatMul in f32 (asked for: on CPUs with bf16 it would otherwise compute in bf16).
_OV = """
import time, numpy as np, openvino as ov
from openvino import opset13 as ops
n, threads = {n}, {threads}
a, b = ops.parameter([n, n], np.float32), ops.parameter([n, n], np.float32)
compiled = ov.Core().compile_model(ov.Model([ops.matmul(a, b, False, False)], [a, b]), "CPU", {{
    "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}})
request = compiled.create_infer_request()
rng = np.random.default_rng(0)
feed = {{0: rng.standard_normal((n, n), dtype=np.float32), 1: rng.standard_normal((n, n), dtype=np.float32)}}
run = lambda: request.infer(feed)
""" + _BEST


def _fingerprint(env: dict) -> str:
    from ..core.versions import package_versions

    key = {"cpu": env.get("cpu_model"), "flags": sorted(env.get("cpu_flags") or []), "cores": os.cpu_count(),
           "machine": env.get("machine"), "versions": package_versions(("numpy", "onnxruntime", "openvino")),
           "n": SIZE, "probes": 3}  # 3: fp32 is the best of numpy's BLAS, ONNX Runtime's and OpenVINO's MatMul
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _probe(code: str, threads: int) -> float | None:
    env = {**os.environ, **{k: str(threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        return round(float(proc.stdout.strip().splitlines()[-1]), 2)
    except (ValueError, IndexError):
        return None


def _available(*modules: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)


def machine_peak(env: dict, threads: list[int] | tuple[int, ...], progress: Progress | None = None) -> dict:
    """{"fp32_gmacs": {"1": x, ...}, "int8_gmacs": {...} or absent, "probe": how, "int8_note": why absent}, for
    every thread count in `threads`, measured once per machine and cached; `progress` hears of the probing only
    when it happens (a cached peak is read without a word)."""
    from ..core.files import write_atomic

    path = cache_dir("peak.json")
    fp = _fingerprint(env)
    try:
        with open(path) as f:
            cached = json.load(f)
        if cached.get("fingerprint") != fp:
            cached = {}
    except (OSError, ValueError):
        cached = {}
    peak = cached or {"fingerprint": fp, "fp32_gmacs": {}, "int8_gmacs": {},
                      "probe": f"fp32: the fastest of numpy matmul (BLAS sgemm), onnxruntime MatMul and openvino "
                               f"MatMul (f32) {SIZE}^3; "
                               f"int8: onnxruntime MatMulInteger u8 x s8 {SIZE}^3; best of {SECONDS} s per thread "
                               "count"}
    from .environment import cpu_busy

    busy = cpu_busy(0.3) or 0.0
    provisional = peak.get("provisional")
    # Measure again: a provisional peak once the machine is quiet, or a bad peak cached by an older edgebb.
    if (provisional and busy <= 0.25) or (_falling(peak) and not provisional):
        peak = {k: v for k, v in peak.items() if k != "provisional"}
        peak.update(fp32_gmacs={}, int8_gmacs={}, fp32_from={})
    changed = False
    int8, openvino = _available("onnx", "onnxruntime"), _available("openvino")
    probing, announced = ExitStack(), False  # the progress step, opened at the first probe
    for n in sorted({_within_cores(t) for t in threads}):
        key = str(n)
        if not announced and (key not in peak["fp32_gmacs"] or int8 and key not in peak["int8_gmacs"]):
            announced = True
            probing.enter_context(as_progress(progress).step("this machine's GEMM peak (probed once per machine, "
                                                             "then cached)"))
        if key not in peak["fp32_gmacs"]:
            by = {"numpy": _probe(_FP32.format(n=SIZE, seconds=SECONDS), n)}
            if int8:  # onnx and onnxruntime are there
                by["onnxruntime"] = _probe(_ORT.format(n=SIZE, threads=n, integer=False, seconds=SECONDS), n)
            if openvino:
                by["openvino"] = _probe(_OV.format(n=SIZE, threads=n, seconds=SECONDS), n)
            found = {k: v for k, v in by.items() if v}
            if found:
                best = max(found, key=found.get)
                peak["fp32_gmacs"][key] = found[best]
                peak.setdefault("fp32_from", {})[key] = best
                changed = True
        if int8 and key not in peak["int8_gmacs"]:
            value = _probe(_ORT.format(n=SIZE, threads=n, integer=True, seconds=SECONDS), n)
            if value:
                peak["int8_gmacs"][key] = value
                changed = True
    probing.close()
    if changed:
        after = cpu_busy(0.3)
        busy = max(x for x in (busy, after, 0.0) if x is not None)
        falling = _falling(peak)
        if busy > 0.25:
            peak["provisional"] = (f"other work used {100 * busy:.0f}% of the CPU while probing: the peak is low "
                                   "(provisional: measured again by the next bench on a quiet machine)")
        elif falling:
            peak["provisional"] = (f"the peak fell as threads were added ({falling}): other work took a core while "
                                   "probing; the peak is low (provisional: measured again on a quiet machine)")
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, json.dumps(peak, indent=1))
        except OSError:
            pass  # an unwritable cache costs a re-probe next time, nothing else
    out = {k: v for k, v in peak.items() if k not in ("fingerprint", "provisional")}
    if peak.get("provisional"):
        out["busy"] = peak["provisional"]
    if not out.get("int8_gmacs"):
        out.pop("int8_gmacs", None)
        out["int8_note"] = "no integer GEMM probe here (needs onnx and onnxruntime)"
    return out


def _within_cores(threads: int) -> int:
    """The thread count a peak is probed and read at: more threads than cores share them, and the machine's
    ceiling is its peak at all its cores (probing at 4 threads on 2 cores measured contention, read as a busy
    machine's "provisional" peak)."""
    return max(1, min(threads, os.cpu_count() or threads))


def _falling(peak: dict) -> str | None:
    """Where a peak at more threads is under 90% of the peak at fewer ("fp32: 26.85 GMAC/s x2 < 47.94 x1"), else
    None. Added threads never lower a GEMM's throughput on an idle machine."""
    for kind in ("fp32_gmacs", "int8_gmacs"):
        values = sorted((int(k), v) for k, v in (peak.get(kind) or {}).items() if int(k) <= _within_cores(int(k)))
        for (n1, v1), (n2, v2) in zip(values, values[1:]):
            if v2 < 0.9 * v1:
                return f"{kind.split('_')[0]}: {v2} GMAC/s x{n2} < {v1} x{n1}"
    return None


def peak_fraction(gmacs_per_s: float | None, recipe: str, threads: int, peak: dict | None) -> float | None:
    """Achieved GMAC/s over this machine's peak of the same kind (int8 for int8 recipes) at the same threads."""
    if not gmacs_per_s or not peak:
        return None
    kind = "int8_gmacs" if recipe.startswith("int8") else "fp32_gmacs"
    value = (peak.get(kind) or {}).get(str(_within_cores(threads)))
    return round(gmacs_per_s / value, 4) if value else None
