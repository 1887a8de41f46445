"""How much does edgebb's harness add to what it measures? And how fast does the bench path import?

    python benchmarks/harness_overhead.py --out benchmarks/results/harness_overhead.json

MobileNetV2 fp32 at 224 on LiteRT (XNNPACK, 1 thread): the p50 of a bare in-process loop of interpreter.invoke()
against the p50 `edgebb bench` reports (subprocess worker, input copy and output read inside each timed call).
Goal (issue 4): overhead under 2%. Also records the time to import the bench path without TensorFlow
(goal: under a second), median of 5 fresh interpreters.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import count, json_file, say, write_report


def bare_p50(path: str, runs: int, threads: int) -> float:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    x = np.random.default_rng(0).normal(size=detail["shape"]).astype(np.float32)
    interpreter.set_tensor(detail["index"], x)
    for _ in range(10):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        t = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - t) / 1e6)
    return statistics.median(times)


def import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import edgebb.cli, edgebb.benchmark, edgebb.benchmark.worker; " \
           "print(time.perf_counter() - t)"
    samples = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
               for _ in range(5)]
    return statistics.median(samples)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=json_file, default="benchmarks/results/harness_overhead.json")
    parser.add_argument("--runs", type=count(1), default=300)
    parser.add_argument("--rounds", type=count(1), default=3, help="alternate bare and edgebb this many times")
    args = parser.parse_args(argv)

    from edgebb.benchmark import bench
    from edgebb.benchmark.environment import environment
    from edgebb.benchmark.targets import convert_backbone

    target = convert_backbone("mobilenet_v2", "fp32", ["tflite"], 224, say)
    path = target.artifacts["tflite"]
    rows, warnings = [], []
    for i in range(args.rounds):  # alternating rounds, so drift of the machine hits both sides alike
        bare = bare_p50(path, args.runs, 1)
        report = bench([path], runtimes=["litert"], threads=[1], runs=args.runs, min_seconds=0, warmup=10,
                       baseline="none")
        ours = report.results[0].p50
        rows.append({"round": i, "bare_p50_ms": bare, "edgebb_p50_ms": ours, "overhead": (ours - bare) / bare,
                     "cpu_busy": report.env.get("cpu_busy_before")})
        warnings += [w for w in report.warnings if w not in warnings]  # a busy machine, noisy rows: bench's words
        say(f"round {i}: bare {bare:.3f} ms, edgebb {ours:.3f} ms, overhead {100 * rows[-1]['overhead']:+.2f}%")
    overhead = statistics.median(r["overhead"] for r in rows)
    seconds = import_seconds()
    if overhead < -0.02:  # the harness cannot make a model faster than a bare loop of the same calls
        warnings.append(f"a negative overhead ({100 * overhead:+.2f}%) is the machine's noise, not the harness's: "
                        "measure again with nothing else running")
    summary = {"overhead_median": overhead, "overhead_goal": 0.02, "overhead_goal_met": abs(overhead) < 0.02,
               "bench_import_s": seconds, "import_goal_s": 1.0, "import_goal_met": seconds < 1.0,
               "warnings": warnings}
    say(f"median overhead {100 * overhead:+.2f}% (goal < 2%); bench path imports in {seconds:.2f} s (goal < 1 s)")
    for w in warnings:
        say(f"warning: {w}")
    write_report(args.out, environment(), summary, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
