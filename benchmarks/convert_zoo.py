"""Conversion time and peak memory for every backbone x recipe x format, as JSON.

    python benchmarks/convert_zoo.py --out benchmarks/results/convert_zoo.json [--only 'mobilenet*,resnet50']
    python benchmarks/convert_zoo.py --out benchmarks/results/convert_classic.json --per recipe --goal-s 0 \\
        --max-peak-mb 8000 --only 'vgg*,googlenet,darknet19,inception_resnet_v2,resnet18,resnet34,resnet101,resnet152'

Each (backbone, recipe, format) is converted by `edgebb.convert` in its own process, so its peak RSS is its own
(--per artifact, the default). With --per recipe (or --together), each (backbone, recipe) converts to all
--formats in one process, as `edgebb convert NAME --recipe R --format tflite,onnx` does, and the peak is that
command's; with --per backbone, each backbone converts to every recipe and format in one process, as
`edgebb convert NAME --recipe fp32,int8 --format tflite,onnx` does (TensorFlow's import, the build, the data and
the float reference once per backbone). Backbones are converted at --size (224),
except those given their own with --size-for (Inception-ResNet-v2 at 299, its reference size).
Recorded per row: convert_s (the exporter alone: TFLite converter or tf2onnx + ONNX Runtime quantization),
process_s (the whole process: TensorFlow import, build, calibration data, conversion and verification),
peak_rss_mb, size_bytes and the verification figures; with --together, per artifact under "artifacts".
Goal (issue 3): the mobile zoo, fp32 and int8, TFLite and ONNX, in under 10 minutes on a 2-core machine;
`total_process_s` says whether it holds (--goal-s 0: no time goal). --max-peak-mb: a memory budget each row must
keep (issue 17: VGG19 int8 TFLite + ONNX under 8 GB); `summary.over_peak` names the rows that broke it.
--merge measures a subset again into an existing report, keeping its other rows.
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

from _common import backbones, child_row, count, json_file, number

CHILD = r"""
import json, sys, time
from edgebb.benchmark.worker import _peak_rss_mb as peak_rss_mb
from edgebb.conversion import convert
name, recipe, fmt, out, calib, evals, size = sys.argv[1:8]
start = time.perf_counter()
result = convert(name, out, None, recipes=recipe, formats=fmt, calib_samples=int(calib), eval_samples=int(evals),
                 size=int(size))
artifacts = [{"recipe": a.recipe.name, "format": a.format, "convert_s": a.convert_seconds, "size_bytes": a.size_bytes,
              "verification": a.verification.to_dict(), "kernels": a.kernels} for a in result.artifacts]
row = {"peak_rss_mb": peak_rss_mb(), "wall_in_process_s": time.perf_counter() - start}
print(json.dumps({**row, **artifacts[0], "format": fmt} if len(artifacts) == 1 else {**row, "artifacts": artifacts}))
"""


def sizes_for(pairs: list[str]) -> dict[str, int]:
    """{"inception_resnet_v2": 299} from ["inception_resnet_v2=299"]."""
    out = {}
    for pair in pairs:
        name, _, size = pair.partition("=")
        if not size.isdigit():
            raise SystemExit(f"--size-for takes NAME=SIZE; received {pair!r}")
        out[name] = int(size)
    return out


def _key(row: dict) -> tuple:
    return row["backbone"], row["recipe"], row["format"], row["input_size"]


def kept_rows(path: str, settings: dict) -> list[dict]:
    """The rows of an earlier report at `path` (none if there is none); SystemExit when it was measured with
    other settings, whose rows would not compare."""
    if not os.path.exists(path):
        return []
    report = json.loads(open(path).read())
    env = report["env"]
    earlier = {k: env.get(k, None) for k in settings}
    if "per" not in env:  # written before --per: --together was its only other mode
        earlier["per"] = "recipe" if env.get("together") else "artifact"
    if earlier != settings:
        raise SystemExit(f"--merge: {path} was measured with {earlier}, this run with {settings}")
    return report["results"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=json_file, default="benchmarks/results/convert_zoo.json")
    parser.add_argument("--only", default=None, help="shell patterns of backbone names, comma-separated")
    parser.add_argument("--recipes", default="fp32,int8")
    parser.add_argument("--formats", default="tflite,onnx")
    parser.add_argument("--per", choices=("artifact", "recipe", "backbone"), default="artifact",
                        help="what one process converts: an artifact, a recipe to every format, or a backbone to "
                             "every recipe and format")
    parser.add_argument("--together", action="store_true", help="the same as --per recipe")
    parser.add_argument("--size", type=count(1), default=224)
    parser.add_argument("--size-for", action="append", default=None, metavar="NAME=SIZE",
                        help="a backbone's own input size [default: inception_resnet_v2=299]")
    parser.add_argument("--calib-samples", type=count(1), default=32)
    parser.add_argument("--eval-samples", type=count(1), default=16)
    parser.add_argument("--goal-s", type=number(0), default=600, help="time goal for the whole run (0: none)")
    parser.add_argument("--max-peak-mb", type=number(0, above=True), default=None,
                        help="peak RSS every row must stay under, in MB of 10^6 bytes as peak_rss_mb")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of --out that this run does not measure again (same settings only)")
    args = parser.parse_args(argv)

    from edgebb import __version__
    from edgebb.core.files import write_atomic

    own_size = sizes_for(args.size_for if args.size_for is not None else ["inception_resnet_v2=299"])
    formats = args.formats.split(",")
    per = "recipe" if args.together else args.per
    groups = [[f] for f in formats] if per == "artifact" else [formats]
    recipes = [args.recipes] if per == "backbone" else args.recipes.split(",")
    jobs = [(n, r, g) for n in backbones(args.only) for r in recipes for g in groups]
    settings = {"calib_samples": args.calib_samples, "eval_samples": args.eval_samples, "per": per}
    kept = kept_rows(args.out, settings) if args.merge else []
    rows, started = [], time.perf_counter()
    for i, (name, recipe, fmts) in enumerate(jobs, start=1):
        size = own_size.get(name, args.size)
        with tempfile.TemporaryDirectory(prefix="edgebb-bench-") as out:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, name, recipe, ",".join(fmts), out,
                                   str(args.calib_samples), str(args.eval_samples), str(size)],
                                  capture_output=True, text=True)
            process_s = time.perf_counter() - t0
        row = {"backbone": name, "recipe": recipe, "format": ",".join(fmts), "input_size": size,
               "process_s": round(process_s, 2), **child_row(proc)}
        rows.append(row)
        convert_s = row.get("convert_s", sum(a["convert_s"] for a in row.get("artifacts", [])) or float("nan"))
        peak = row.get("peak_rss_mb", float("nan"))
        print(f"[{i}/{len(jobs)}] {name:20s} {size:3d} {recipe:9s} {row['format']:11s} {row['status']:6s} "
              f"convert {convert_s:6.1f} s  process {process_s:6.1f} s  peak {peak:7.0f} MB"
              + (f"  {row['error']}" if row.get("error") else ""), file=sys.stderr)
    total = time.perf_counter() - started
    measured = {_key(r) for r in rows}
    rows = [r for r in kept if _key(r) not in measured] + rows
    env = {"edgebb": __version__, "python": platform.python_version(), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "platform": platform.platform(), **settings,
           "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    # The rows' own process times: with --merge, some come from an earlier run.
    total = sum(r["process_s"] for r in rows)
    summary = {"total_process_s": round(total, 1), "failed": sum(r["status"] != "ok" for r in rows)}
    if args.goal_s:
        summary.update(goal_s=args.goal_s, goal_met=total < args.goal_s)
    if args.max_peak_mb:
        over = [f"{r['backbone']} {r['recipe']} {r['format']}: {r['peak_rss_mb']:.0f} MB" for r in rows
                if r.get("peak_rss_mb", 0) > args.max_peak_mb]
        summary.update(max_peak_mb=args.max_peak_mb, over_peak=over)
    ok = [r for r in rows if r["status"] == "ok"]
    if ok:
        top = max(ok, key=lambda r: r["peak_rss_mb"])
        summary["highest_peak"] = {k: top[k] for k in ("backbone", "recipe", "format", "peak_rss_mb")}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_atomic(args.out, json.dumps({"env": env, "summary": summary, "results": rows}, indent=2) + "\n")
    print(f"total {total:.0f} s" + (f" (goal {args.goal_s:g} s)" if args.goal_s else "") + f"; wrote {args.out}",
          file=sys.stderr)
    return 0 if summary["failed"] == 0 and not summary.get("over_peak") else 1


if __name__ == "__main__":
    sys.exit(main())
