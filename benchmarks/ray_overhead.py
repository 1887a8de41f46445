"""Scheduling overhead of `edgebb sweep --executor ray` against the local executor, on the same tiny grid.

    python benchmarks/ray_overhead.py [--out benchmarks/results/ray_overhead.json] [--repeats 2]

Each repeat runs the grid (SqueezeNet 1.1 and MobileNetV2 0.35 at 32 px, random weights, fp32 and int8, LiteRT,
cpu:1) into a fresh folder with each executor, alternating, so that drift of a shared machine falls on both. The
Ray runs use an embedded cluster (`ray.init()` on this machine); its start-up is timed on its own and reported
apart, since a cluster is started once per sweep, not per cell.

    overhead per cell = (Ray wall - local wall - cluster start-up) / cells
    goal: under max(1 s, 5% of a cell's own time), a cell's own time being the local wall / cells

Also written: each stage's own seconds (from the store's provenance) per kind, the figures the README's paper
calculation of a 500-cell sweep uses.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import count, json_file, say, write_report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = ["squeezenet_1_1", "mobilenet_v2@0.35", "--sizes", "32", "--recipes", "fp32,int8", "--runtimes", "litert",
        "--targets", "cpu:1", "--runs", "10", "--min-seconds", "0.2", "--warmup", "2", "--calib-samples", "8",
        "--eval-samples", "8", "-q"]
STARTUP = ("import time, ray; t = time.perf_counter(); ray.init(include_dashboard=False, logging_level='ERROR'); "
           "print(time.perf_counter() - t); ray.shutdown()")


def _sweep(executor: str, out: str) -> float:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edgebb", "sweep", *GRID, "--executor", executor, "-o", out],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{executor} sweep failed: {proc.stderr.strip().splitlines()[-1:]}")
    return wall


def _stage_seconds(out: str) -> dict[str, list[float]]:
    conn = sqlite3.connect(os.path.join(out, "sweep.sqlite"))
    try:
        rows = [json.loads(p) for (p,) in conn.execute("SELECT provenance FROM cells")]
    finally:
        conn.close()
    seen: dict[str, dict] = {}
    for row in rows:  # a model's prepare and convert stages appear in each of its cells: count each once
        for kind, stage in row["executor"]["stages"].items():
            key = f"{kind}:{row['model_key'] if kind != 'measure' else row['convert_key']}"
            if "seconds" in stage:
                seen[key] = {"kind": kind, "seconds": stage["seconds"]}
    out_: dict[str, list[float]] = {}
    for item in seen.values():
        out_.setdefault(item["kind"], []).append(item["seconds"])
    return out_


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=json_file,
                        default=os.path.join(ROOT, "benchmarks", "results", "ray_overhead.json"))
    parser.add_argument("--repeats", type=count(1), default=2)
    args = parser.parse_args()
    from edgebb.benchmark.environment import environment

    env = environment()
    load_before = os.getloadavg()
    folder = tempfile.mkdtemp(prefix="edgebb-ray-overhead-")
    results = []
    try:
        for repeat in range(args.repeats):
            for executor in ("local", "ray"):
                out = os.path.join(folder, f"{executor}-{repeat}")
                wall = _sweep(executor, out)
                stages = _stage_seconds(out)
                cells = sqlite3.connect(os.path.join(out, "sweep.sqlite")).execute(
                    "SELECT count(*) FROM cells WHERE status = 'ok'").fetchone()[0]
                say(f"{executor} #{repeat + 1}: {wall:.1f} s for {cells} cells")
                results.append({"executor": executor, "repeat": repeat, "wall_seconds": round(wall, 2),
                                "cells": cells, "stage_seconds": {k: [round(x, 2) for x in v]
                                                                  for k, v in stages.items()}})
        startups = []
        for _ in range(args.repeats):
            proc = subprocess.run([sys.executable, "-c", STARTUP], capture_output=True, text=True, check=True,
                                  env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
            startups.append(float(proc.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    local = statistics.median(r["wall_seconds"] for r in results if r["executor"] == "local")
    ray_wall = statistics.median(r["wall_seconds"] for r in results if r["executor"] == "ray")
    cells = results[0]["cells"]
    startup = statistics.median(startups)
    per_cell = (ray_wall - local - startup) / cells
    own = local / cells
    goal = max(1.0, 0.05 * own)
    kinds: dict[str, list[float]] = {}
    for r in results:
        if r["executor"] == "local":
            for k, v in r["stage_seconds"].items():
                kinds.setdefault(k, []).extend(v)
    load_after = os.getloadavg()
    summary = {"cells": cells, "local_wall_seconds": local, "ray_wall_seconds": ray_wall,
               "ray_startup_seconds": round(startup, 2), "cell_own_seconds": round(own, 2),
               "overhead_per_cell_seconds": round(per_cell, 2), "goal_seconds": round(goal, 2), "met": per_cell < goal,
               "stage_median_seconds": {k: round(statistics.median(v), 2) for k, v in kinds.items()},
               "load_average_before": [round(x, 2) for x in load_before],
               "load_average_after": [round(x, 2) for x in load_after],
               "busy": load_before[0] > 0.5 * (os.cpu_count() or 1) or load_after[0] > 1.5 * (os.cpu_count() or 1)}
    write_report(args.out, env, summary, results)
    say(f"overhead per cell: {per_cell:.2f} s (goal < {goal:.2f} s); Ray start-up {startup:.1f} s; "
        f"local {local:.1f} s, Ray {ray_wall:.1f} s for {cells} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
