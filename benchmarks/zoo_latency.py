"""Every backbone, fp32 and int8, on LiteRT, ONNX Runtime and OpenVINO at 1 and 2 threads: the best deployment of
each, and how close it comes to this machine's measured GEMM peak.

    python benchmarks/zoo_latency.py [--out benchmarks/results/zoo_latency.json] [--only 'mobilenet*,resnet50']
                                     [--size 224] [--threads 1,2]

Backbones are converted once (random weights, generated calibration data) into edgebb's artifact cache and
measured by `edgebb bench --best` (one subprocess per row). With random weights the int8 artifacts' agreement with
float says nothing about a trained model, so the best deployment is chosen here on speed alone among the rows that
ran ("fastest"), and `edgebb bench --best` on a trained model's manifest is what chooses with accuracy.

Writes JSON (edgebb bench's schema plus a summary) and a Markdown table beside it. Goals (issue: the fastest
deployment, measured): ResNet-50 fp32's best deployment at >= 75% of the fp32 GEMM peak; ONNX Runtime int8 within
1.25x of LiteRT int8 at the same threads. That ratio is measured as a pair (--pair-rounds alternating rounds of
both artifacts in one process), since two rows measured minutes apart on a shared VM can put a busy spell on one
side only (SqueezeNet 1.1 int8 at 2 threads: rows 1.56x, paired 1.18x with rounds from 1.09x to 1.28x); the rows'
ratio is kept beside it. Backbones whose best deployment is under 40% of the peak get ONNX Runtime's per-op
profile: the share of time in depthwise (grouped) convolutions, which move many bytes per MAC;
each pair where ONNX Runtime int8 misses the 1.25x gets its int8 model's op types by share of time.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import backbones, count, counts, number, output_file, say, write_report  # noqa: E402

RUNTIMES = ["litert", "onnxruntime", "openvino"]


def _fraction(row) -> float | None:
    return row.get("peak_fraction")


@functools.cache
def _profile(path: str, threads: int) -> list[dict]:
    """ONNX Runtime's per-op-type profile of an artifact (edgebb's profiler), slowest first; one per (file,
    threads), so the by-op line and the depthwise line of one row read the same run (two runs had given one file's
    depthwise convolutions 50% of the time on one line and 27% on the next)."""
    import numpy as np

    from edgebb.runtimes import RUNTIMES as REGISTRY
    from edgebb.runtimes import load_artifact

    with load_artifact(path, runtime="onnxruntime") as session:
        inp = session.inputs[0]
    x = np.zeros([1, *inp.shape[1:]], np.float32)
    with tempfile.TemporaryDirectory() as folder:
        return REGISTRY["onnxruntime"].profile(path, x, threads, folder, runs=10)


def _depthwise_share(path: str, threads: int) -> dict | None:
    rows = _profile(path, threads)
    total = sum(r["ms"] for r in rows) or 1.0
    dw = [r for r in rows if "depthwise" in r["op"]]
    return {"depthwise_share": round(sum(r["ms"] for r in dw) / total, 3),
            "depthwise_nodes": sum(r["count"] for r in dw), "profile": rows[:8]}


def _ops(path: str, threads: int, top: int = 4) -> list[dict]:
    """Where ONNX Runtime's time goes: its `top` op types by share."""
    return [{"op": r["op"], "nodes": r["count"], "share": round(r["share"], 3)} for r in _profile(path, threads)[:top]]


def _paired(lite_path: str, ort_path: str, threads: int, rounds: int, runs: int) -> dict:
    """ONNX Runtime int8 over LiteRT int8, measured as a pair: both artifacts open in this process and timed in
    alternating rounds (`runs` inferences each, after 10 warm-up runs), so that a busy spell on a shared machine
    lands on both sides of the ratio instead of on one row. The ratio is the median of the rounds' p50 ratios;
    each side's p50 is its median over the rounds."""
    import time

    import numpy as np

    from edgebb.benchmark.worker import inputs_of_its_shape, typed_input
    from edgebb.runtimes import load_artifact

    sessions = [load_artifact(lite_path, runtime="litert", threads=threads),
                load_artifact(ort_path, runtime="onnxruntime", threads=threads)]
    try:
        inputs = [typed_input(s, inputs_of_its_shape(s, 1)) for s in sessions]
        p50s: list[list[float]] = [[], []]
        for _ in range(rounds):
            for side, (session, x) in enumerate(zip(sessions, inputs)):
                for _ in range(10):
                    session.invoke_raw(x)
                times = []
                for _ in range(runs):
                    t = time.perf_counter_ns()
                    session.invoke_raw(x)
                    times.append((time.perf_counter_ns() - t) / 1e6)
                p50s[side].append(float(np.median(times)))
    finally:
        for session in sessions:
            session.close()
    ratios = [o / lite for lite, o in zip(*p50s)]
    return {"ratio": round(float(np.median(ratios)), 3), "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "litert_p50_ms": round(float(np.median(p50s[0])), 3),
            "onnxruntime_p50_ms": round(float(np.median(p50s[1])), 3), "rounds": rounds, "runs": runs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=output_file, default="benchmarks/results/zoo_latency.json")
    parser.add_argument("--only", default=None, help="Comma-separated shell patterns of backbone names.")
    parser.add_argument("--size", type=count(1), default=224)
    parser.add_argument("--threads", type=counts, default=[1, 2], help="Comma-separated thread counts.")
    parser.add_argument("--runs", type=count(1), default=30)
    parser.add_argument("--min-seconds", type=number(0, above=True), default=1.0)
    parser.add_argument("--max-seconds", type=number(0, above=True), default=10.0)
    parser.add_argument("--pair-rounds", type=count(0), default=5,
                        help="Alternating rounds of the paired LiteRT/ONNX Runtime int8 measurement (0: none).")
    parser.add_argument("--pair-runs", type=count(1), default=100, help="Inferences per side per round.")
    args = parser.parse_args(argv)

    from edgebb.benchmark import bench

    names = [n for n in backbones(args.only) if not n.endswith("minimalistic")]
    threads = args.threads
    report = bench(names, recipes=["fp32", "int8"], runtimes=RUNTIMES, threads=threads, size=args.size,
                   runs=args.runs, min_seconds=args.min_seconds, max_seconds=args.max_seconds, baseline="none",
                   best=True, max_drop=100.0, progress=say)
    ok = [r for r in report.results if r.ok]
    by = {(r.model, r.recipe, r.runtime, r.threads): r for r in ok}
    table, profiles, ratios = [], {}, []
    for name in names:
        mine = [r for r in ok if r.model == name]
        if not mine:
            continue
        best = min(mine, key=lambda r: r.p50)
        entry = {"backbone": name, "best": f"{best.recipe} {best.runtime} x{best.threads}", "p50_ms": best.p50,
                 "peak_fraction": _fraction(best)}
        for t in threads:
            lite, ort_ = by.get((name, "int8", "litert", t)), by.get((name, "int8", "onnxruntime", t))
            if lite and ort_:
                ratios.append({"backbone": name, "threads": t, "rows_ratio": round(ort_.p50 / lite.p50, 3)})
                if args.pair_rounds:
                    say(f"{name} x{t}: LiteRT and ONNX Runtime int8 in {args.pair_rounds} alternating rounds")
                    ratios[-1]["paired"] = _paired(lite.path, ort_.path, t, args.pair_rounds, args.pair_runs)
                ratio = ratios[-1]["paired"]["ratio"] if args.pair_rounds else ratios[-1]["rows_ratio"]
                ratios[-1]["ort_over_litert_int8"] = ratio
                if ratio > 1.25:  # where ONNX Runtime's time goes, by op type
                    ratios[-1]["onnxruntime_ops"] = _ops(ort_.path, t)
        if entry["peak_fraction"] is not None and entry["peak_fraction"] < 0.40:
            onnx_row = by.get((name, best.recipe, "onnxruntime", best.threads))
            if onnx_row is not None:
                profiles[name] = _depthwise_share(onnx_row.path, best.threads)
        table.append(entry)
    r50_fp32 = [r for r in ok if r.model == "resnet50" and r.recipe == "fp32"]
    # the fastest row's share of the peak at its own thread count (the highest share of any row had been taken:
    # OpenVINO x1's 121% where the best deployment, OpenVINO x2, ran at 119%)
    fastest = min(r50_fp32, key=lambda r: r.p50, default=None)
    r50_best_fp32 = _fraction(fastest) if fastest is not None else None
    summary = {"rows": len(report.results), "ok": len(ok), "size": args.size, "threads": threads,
               "peak": report.env.get("peak"), "best": table, "ort_over_litert_int8": ratios,
               "ort_int8_within_1_25x_of_litert": sum(1 for r in ratios if r["ort_over_litert_int8"] <= 1.25),
               "ort_int8_pairs": len(ratios), "resnet50_fp32_best_peak_fraction": r50_best_fp32,
               "resnet50_goal_met": r50_best_fp32 is not None and r50_best_fp32 >= 0.75,
               "under_40_percent": {n: p for n, p in profiles.items()}, "notes": report.notes,
               "warnings": report.warnings}
    write_report(args.out, report.env, summary, [r.to_dict() for r in report.results])
    _markdown(os.path.splitext(args.out)[0] + ".md", report, names, threads, by, table, ratios, profiles, summary)
    return 0 if len(ok) == len(report.results) else 1


def _markdown(path, report, names, threads, by, table, ratios, profiles, summary) -> None:
    env = report.env
    peak = env.get("peak") or {}
    lines = [f"# Zoo latency at {summary['size']} px: LiteRT, ONNX Runtime, OpenVINO; fp32 and int8", "",
             f"{env.get('cpu_model')} ({env.get('cores')} cores; {' '.join(env.get('cpu_flags', []))}); "
             "GEMM peak " + "; ".join(f"{kind} " + ", ".join(f"{v:g} x{n}" for n, v in (peak.get(f"{kind}_gmacs")
                                                                                     or {}).items())
                                      for kind in ("fp32", "int8")) + " GMAC/s; "
             "random weights; p50 in ms; written by benchmarks/zoo_latency.py.", ""]
    head = ["backbone", "best", "p50", "% peak"] + [f"{rt} {rc} x{t}" for t in threads for rc in ("fp32", "int8")
                                                    for rt in RUNTIMES]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in table:
        cells = [e["backbone"], e["best"], f"{e['p50_ms']:.2f}",
                 "" if e["peak_fraction"] is None else f"{100 * e['peak_fraction']:.0f}"]
        for t in threads:
            for rc in ("fp32", "int8"):
                for rt in RUNTIMES:
                    r = by.get((e["backbone"], rc, rt, t))
                    cells.append(f"{r.p50:.2f}" if r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    fraction = summary["resnet50_fp32_best_peak_fraction"]
    lines += ["", "- ResNet-50 fp32: not in this run" if fraction is None else
              f"- ResNet-50 fp32 best deployment at {100 * fraction:.0f}% of the fp32 peak (goal 75%): "
              f"{'met' if summary['resnet50_goal_met'] else 'not met'}",
              f"- ONNX Runtime int8 within 1.25x of LiteRT int8: {summary['ort_int8_within_1_25x_of_litert']}/"
              f"{summary['ort_int8_pairs']} (backbone, threads) pairs"]
    if any("paired" in r for r in ratios):
        lines += ["", "ONNX Runtime int8 over LiteRT int8, measured as pairs (both open in one process, timed in "
                  "alternating rounds; the ratio is the rounds' median, the range their spread) and from the table's "
                  "rows (measured apart):", "",
                  "| backbone | threads | LiteRT p50 | ONNX Runtime p50 | paired ratio | range | rows ratio |",
                  "|---|---|---|---|---|---|---|"]
        for r in ratios:
            if "paired" in r:
                p = r["paired"]
                lines.append(f"| {r['backbone']} | {r['threads']} | {p['litert_p50_ms']:.2f} | "
                             f"{p['onnxruntime_p50_ms']:.2f} | {p['ratio']:.2f} | {p['ratio_range'][0]:.2f}-"
                             f"{p['ratio_range'][1]:.2f} | {r['rows_ratio']:.2f} |")
        lines.append("")
    for r in ratios:
        if r.get("onnxruntime_ops"):
            lines.append(f"- {r['backbone']} x{r['threads']}: ONNX Runtime int8 at {r['ort_over_litert_int8']:.2f}x "
                         "LiteRT int8; its time by op: " + ", ".join(
                             f"{o['op']} {100 * o['share']:.0f}% ({o['nodes']} nodes)" for o in r["onnxruntime_ops"]))
    for name, p in profiles.items():
        if p:
            lines.append(f"- {name} under 40% of the peak: depthwise/grouped convolutions take "
                         f"{100 * p['depthwise_share']:.0f}% of ONNX Runtime's time ({p['depthwise_nodes']} nodes)")
    lines += [f"- warning: {w}" for w in report.warnings]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    say(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
