"""Do three runs of `edgebb bench` on the same artifact agree?

    python benchmarks/repeatability.py --out benchmarks/results/repeatability.json

MobileNetV2 fp32 and int8 at 224 on LiteRT, 1 thread, three separate bench runs each. Goal (issue 4): the p50s of
the three runs within 5% of each other (max/min - 1).
"""

from __future__ import annotations

import argparse
import sys

from _common import count, json_file, number, say, write_report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=json_file, default="benchmarks/results/repeatability.json")
    parser.add_argument("--repeats", type=count(1), default=3)
    parser.add_argument("--runs", type=count(1), default=100)
    parser.add_argument("--min-seconds", type=number(0, above=True), default=3.0)
    args = parser.parse_args(argv)

    from edgebb.benchmark import bench
    from edgebb.benchmark.environment import environment

    results, summary, warnings = [], {}, []
    for recipe in ("fp32", "int8"):
        p50s = []
        for i in range(args.repeats):
            report = bench(["mobilenet_v2"], recipes=[recipe], runtimes=["litert"], threads=[1], runs=args.runs,
                           min_seconds=args.min_seconds, baseline="none", progress=say)
            row = report.results[0]
            if not row.ok:
                raise SystemExit(f"error: {row.artifact} on {row.runtime}: {row.status}: {row.error}")
            p50s.append(row.p50)
            warnings += [w for w in report.warnings if w not in warnings]  # a busy machine, noisy rows
            # within the run: cv (std / mean) and the typical spread of its runs (edgebb.benchmark.rows.spread_of)
            results.append({"recipe": recipe, "repeat": i, "p50_ms": row.p50, "cv": row.cv, "run_spread": row.spread,
                            "runs": row.runs})
            say(f"{recipe} run {i}: p50 {row.p50:.3f} ms (its runs' spread {100 * row.spread:.1f}% of p50, "
                f"cv {100 * row.cv:.1f}%)")
        spread = max(p50s) / min(p50s) - 1
        summary[recipe] = {"p50s_ms": p50s, "spread": spread, "goal": 0.05, "goal_met": spread < 0.05}
        say(f"{recipe}: p50 from run to run {100 * spread:.2f}% apart (goal < 5%)")
    summary["warnings"] = warnings
    for w in warnings:
        say(f"warning: {w}")
    write_report(args.out, environment(), summary, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
