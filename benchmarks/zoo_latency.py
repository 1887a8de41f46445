"""Every backbone, fp32 and int8, on LiteRT and ONNX Runtime, 1 and 2 threads, against ResNet-50.

    python benchmarks/zoo_latency.py --out benchmarks/results/zoo_latency.json [--only 'mobilenet*'] [--size 224]

Backbones are converted once (random weights, generated calibration data) into edgebb's artifact cache, then
measured by `edgebb bench` (one subprocess per row). The JSON is edgebb bench's own schema plus a summary.
"""

from __future__ import annotations

import argparse
import sys

from _common import say, write_report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/zoo_latency.json")
    parser.add_argument("--only", default=None)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)

    from edgebb.benchmark import bench
    from edgebb.models import list_models

    names = [n for n in list_models(args.only) if not n.endswith("minimalistic")]
    report = bench(names, recipes=["fp32", "int8"], runtimes=["litert", "onnxruntime"], threads=[1, 2],
                   size=args.size, runs=args.runs, min_seconds=args.min_seconds, progress=say)
    ok = [r for r in report.results if r["status"] == "ok"]
    summary = {"rows": len(report.results), "ok": len(ok), "notes": report.notes,
               "fastest": sorted(({"model": r["model"], "recipe": r["recipe"], "runtime": r["runtime"],
                                   "threads": r["threads"], "p50_ms": r["latency_ms"]["p50"]} for r in ok),
                                 key=lambda r: r["p50_ms"])[:10]}
    write_report(args.out, report.env, summary, report.results)
    return 0 if len(ok) == len(report.results) else 1


if __name__ == "__main__":
    sys.exit(main())
