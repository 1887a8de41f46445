"""What ONNX Runtime runs edgebb's int8 ONNX artifacts as, for every backbone in the zoo, as JSON.

    python benchmarks/onnx_kernels.py [--only 'mobilenet*'] [--size 64]

Per backbone (its smallest width, at --size or its smallest input size, random weights, in its own process):
`edgebb convert NAME --recipe int8 --format onnx` (calibrated on a generated set), then the manifest's `kernels`
entry: integer nodes in ONNX Runtime's optimized graph and every Conv/MatMul/Gemm left in float, with why; and
the artifact against the same file with ONNX Runtime's optimizations off (each QDQ group computed in float: the
arithmetic the file describes), which catches integer kernels that compute something else (int16 saturation).
Goal (issue 13): zero float compute nodes for every backbone, and the fused kernels agreeing with the QDQ
arithmetic to requantization rounding.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import backbones, child_row, count, json_file, say, write_report  # noqa: E402

CHILD = r"""
import json, sys
import numpy as np
import onnxruntime as ort
from edgebb.conversion import convert
name, width, size, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
result = convert(name, out, None, recipes="int8", formats="onnx", width=width, size=size, calib_samples=32)
artifact = result.artifacts[0]
x = np.random.default_rng(0).normal(0, 1, (8, size, size, 3)).astype(np.float32)
outs = {}
for level in ("ORT_DISABLE_ALL", "ORT_ENABLE_ALL"):
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    s = ort.InferenceSession(artifact.path, so, providers=["CPUExecutionProvider"])
    outs[level] = np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i + 1]})[0] for i in range(len(x))])
ref, got = outs["ORT_DISABLE_ALL"], outs["ORT_ENABLE_ALL"]
print(json.dumps({"integer_nodes": artifact.kernels["integer_nodes"],
                  "float_compute": artifact.kernels["float_compute"],
                  "fused_vs_qdq_top1_agreement": 100.0 * float(np.mean(ref.argmax(1) == got.argmax(1))),
                  "fused_vs_qdq_max_abs": float(np.abs(ref - got).max())}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=json_file, default="benchmarks/results/onnx_kernels.json")
    parser.add_argument("--only", default=None, help="shell patterns of backbone names, comma-separated")
    parser.add_argument("--size", type=count(1), default=64)
    args = parser.parse_args(argv)

    from edgebb import __version__
    from edgebb.models import get_spec

    names = backbones(args.only)
    rows, started = [], time.perf_counter()
    flags = ""
    if os.path.exists("/proc/cpuinfo"):
        line = next((ln for ln in open("/proc/cpuinfo") if ln.startswith("flags")), "")
        flags = " ".join(f for f in line.split() if "vnni" in f or f in ("avx2", "avx512f"))
    env = {"edgebb": __version__, "python": platform.python_version(), "machine": platform.machine(),
           "cpu_flags": flags, "size": args.size, "weights": "random"}
    with tempfile.TemporaryDirectory(prefix="edgebb-kernels-") as tmp:
        for i, name in enumerate(names, start=1):
            spec = get_spec(name)
            size = max(args.size, spec.min_size)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, name, str(spec.widths[0]), str(size),
                                   os.path.join(tmp, name)], capture_output=True, text=True)
            row = {"backbone": name, "width": spec.widths[0], "size": size,
                   "seconds": round(time.perf_counter() - t0, 1)}
            row.update(child_row(proc))
            if row["status"] == "ok":
                say(f"[{i}/{len(names)}] {name:32s} integer nodes {row['integer_nodes']:4d}  float compute "
                    f"{len(row['float_compute'])}  fused vs QDQ agreement {row['fused_vs_qdq_top1_agreement']:.0f}%")
            else:
                say(f"[{i}/{len(names)}] {name:32s} failed: {row['error']}")
            rows.append(row)
    ok = [r for r in rows if r["status"] == "ok"]
    summary = {"backbones": len(rows), "ok": len(ok), "with_float_compute": [r["backbone"] for r in ok
                                                                              if r["float_compute"]],
               "min_fused_vs_qdq_agreement": min((r["fused_vs_qdq_top1_agreement"] for r in ok), default=None),
               "total_s": round(time.perf_counter() - started, 1)}
    write_report(args.out, env, summary, rows)
    return 0 if len(ok) == len(rows) and not summary["with_float_compute"] else 1


if __name__ == "__main__":
    sys.exit(main())
