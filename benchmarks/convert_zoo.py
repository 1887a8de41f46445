"""Conversion time and peak memory for every backbone x recipe x format at 224x224, as JSON.

    python benchmarks/convert_zoo.py --out benchmarks/results/convert_zoo.json [--only 'mobilenet*']

Each (backbone, recipe, format) is converted by `edgebb.convert` in its own process, so its peak RSS is its own.
Recorded per row: convert_s (the exporter alone: TFLite converter or tf2onnx + ONNX Runtime quantization),
process_s (the whole process: TensorFlow import, build, calibration data, conversion and verification),
peak_rss_mb, size_bytes and the verification figures. Goal (issue 3): the whole zoo, fp32 and int8, TFLite and
ONNX, in under 10 minutes on a 2-core machine; `total_process_s` says whether it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
from edgebb.benchmark.worker import _peak_rss_mb as peak_rss_mb
from edgebb.conversion import convert
name, recipe, fmt, out, calib, evals = sys.argv[1:7]
start = time.perf_counter()
result = convert(name, out, None, recipes=recipe, formats=fmt, calib_samples=int(calib), eval_samples=int(evals))
a = result.artifacts[0]
print(json.dumps({"convert_s": a.convert_seconds, "size_bytes": a.size_bytes,
                  "peak_rss_mb": peak_rss_mb(),
                  "verification": a.verification.to_dict(), "wall_in_process_s": time.perf_counter() - start}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/convert_zoo.json")
    parser.add_argument("--only", default=None, help="shell pattern of backbone names")
    parser.add_argument("--recipes", default="fp32,int8")
    parser.add_argument("--formats", default="tflite,onnx")
    parser.add_argument("--calib-samples", type=int, default=32)
    parser.add_argument("--eval-samples", type=int, default=16)
    args = parser.parse_args(argv)

    from edgebb import __version__
    from edgebb.core.files import write_atomic
    from edgebb.models import list_models

    rows, started = [], time.perf_counter()
    jobs = [(n, r, f) for n in list_models(args.only) for r in args.recipes.split(",") for f in args.formats.split(",")]
    for i, (name, recipe, fmt) in enumerate(jobs, start=1):
        with tempfile.TemporaryDirectory(prefix="edgebb-bench-") as out:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, name, recipe, fmt, out, str(args.calib_samples),
                                   str(args.eval_samples)], capture_output=True, text=True)
            process_s = time.perf_counter() - t0
        row = {"backbone": name, "recipe": recipe, "format": fmt, "input_size": 224, "process_s": round(process_s, 2)}
        if proc.returncode == 0:
            row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
            row["status"] = "ok"
        else:
            lines = proc.stderr.strip().splitlines()
            row.update(status="failed", error=lines[-1] if lines else f"exit {proc.returncode}")
        rows.append(row)
        print(f"[{i}/{len(jobs)}] {name:34s} {recipe:6s} {fmt:6s} {row['status']:6s} "
              f"convert {row.get('convert_s', float('nan')):6.1f} s  process {process_s:6.1f} s  "
              f"peak {row.get('peak_rss_mb', float('nan')):7.0f} MB", file=sys.stderr)
    total = time.perf_counter() - started
    env = {"edgebb": __version__, "python": platform.python_version(), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "platform": platform.platform(), "calib_samples": args.calib_samples,
           "eval_samples": args.eval_samples}
    summary = {"total_process_s": round(total, 1), "goal_s": 600, "goal_met": total < 600,
               "failed": sum(r["status"] != "ok" for r in rows)}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_atomic(args.out, json.dumps({"env": env, "summary": summary, "results": rows}, indent=2) + "\n")
    print(f"total {total:.0f} s (goal 600 s); wrote {args.out}", file=sys.stderr)
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
