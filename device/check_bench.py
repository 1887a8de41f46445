"""Check the JSON of an `edgebb bench` run on a device (or an emulated one) and print its figures.

    python device/check_bench.py results.json --machine aarch64 --emulated --recipes fp32,int8

Exits 1, naming every check that failed, when a row did not run, the machine or emulation label is not what was
expected, or a recipe is missing. Uses only the standard library, so it runs on the host or on the device.
"""

from __future__ import annotations

import argparse
import json
import sys


def check(report: dict, *, machine: str | None, emulated: bool | None, recipes: list[str]) -> list[str]:
    """The failed checks of a bench report (`{"env": ..., "results": [...]}`), one line each; [] when all hold."""
    env, rows = report.get("env", {}), report.get("results", [])
    problems = []
    if not rows:
        problems.append("no result rows")
    for r in rows:
        if r.get("status") != "ok":
            problems.append(f"{r.get('artifact')} on {r.get('runtime')}: {r.get('status')} ({r.get('error')})")
    if machine and env.get("machine") != machine:
        problems.append(f"env.machine is {env.get('machine')!r}, expected {machine!r}")
    if emulated is not None:
        if env.get("emulated") is not emulated:
            problems.append(f"env.emulated is {env.get('emulated')!r}, expected {emulated}")
        wrong = [r.get("artifact") for r in rows if r.get("emulated") is not emulated]
        if wrong:
            problems.append(f"rows not marked emulated={emulated}: {', '.join(map(str, wrong))}")
    have = {r.get("recipe") for r in rows if r.get("status") == "ok"}
    problems += [f"no {recipe} row" for recipe in recipes if recipe not in have]
    if "tensorflow" in env.get("versions", {}):
        problems.append("the device install has TensorFlow; edgebb[device] must not")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json")
    parser.add_argument("--machine", help="expected env.machine, e.g. aarch64")
    parser.add_argument("--emulated", action="store_true", help="expect every figure labelled emulated")
    parser.add_argument("--recipes", default="", help="comma-separated recipes that must have an ok row")
    args = parser.parse_args(argv)
    with open(args.json) as f:
        report = json.load(f)
    env = report["env"]
    print(f"check: {env.get('machine')} {env.get('cpu_model')}, Python {env.get('python')}, "
          f"emulated={env.get('emulated')} ({env.get('emulation')}), runtimes {env.get('versions')}")
    for r in report["results"]:
        lat = r.get("latency_ms") or {}
        print(f"check: {r['artifact']:<36} {r['runtime']:<14} {r['threads']} thread(s)  p50 {lat.get('p50', 0):9.2f} ms"
              f"  p90 {lat.get('p90', 0):9.2f} ms  init {r.get('init_ms') or 0:8.1f} ms  {r['status']}")
    problems = check(report, machine=args.machine, emulated=True if args.emulated else None,
                     recipes=[r for r in args.recipes.split(",") if r])
    for p in problems:
        print(f"check: FAILED: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
