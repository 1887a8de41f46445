"""`edgebb recommend --measure`: measure the finalists an answer would rest on estimates for, then answer again.

The artifacts are the sweep's own (under OUT/artifacts/), the target's settings are those the sweep recorded, and
each new cell is written to the store with the same kind of key a sweep gives it, so a later sweep reuses it.
"""

from __future__ import annotations

import os

from ..core.errors import InputError
from ..core.progress import Progress, as_progress
from . import cells as C
from . import stages
from .store import Store
from .targets import TargetSpec, environment_of, fingerprint


def target_spec(store: Store, label: str) -> tuple[TargetSpec, dict]:
    """The target called `label` as the newest sweep that measured on it described it, and that sweep's bench
    settings; InputError when no sweep recorded it (a cell written by hand, an older store)."""
    for run in reversed(store.runs()):
        for target in (run.get("spec") or {}).get("targets", []):
            if target.get("label") == label:
                options = run["spec"]["options"]
                bench = {k: options[k] for k in ("runs", "min_seconds", "max_seconds", "warmup", "timeout")}
                return TargetSpec.from_dict(target), bench
    raise InputError(f"no sweep in {store.path} recorded how to reach target {label}; run edgebb sweep with it")


def measure_finalists(out: str, label: str, finalists: list[dict], progress: Progress | None = None) -> int:
    """Measure `finalists` (recommendation summaries of estimated cells: their key names the row they were
    estimated from) on target `label`; returns how many cells were written."""
    say = as_progress(progress)
    with Store.create(out if os.path.isdir(out) else os.path.dirname(out)) as store:
        spec, bench = target_spec(store, label)
        sources = {r["key"]: r for r in store.cells([f["key"] for f in finalists])}
        rows = [sources[f["key"]] for f in finalists if f["key"] in sources]
        missing = [r["artifact"] for r in rows if not r.get("artifact") or not os.path.exists(r["artifact"])]
        if missing:
            raise InputError(f"artifact {missing[0]} is gone; run the sweep again to remake it")
        if not rows:
            return 0
        env = environment_of(spec)
        run_id = store.runs()[-1]["id"]
        task = {"items": list(dict.fromkeys(r["artifact"] for r in rows)),
                "target": {**spec.to_dict(), "runtimes": sorted({r["runtime"] for r in rows})}, "bench": bench}
        say.say(f"measuring {len(rows)} finalist(s) on {label}")
        report = stages.measure(task, progress=progress)
        by = {(os.path.abspath(r.get("path") or ""), r.get("runtime")): r for r in report.get("results", [])}
        out_rows = []
        for source in rows:
            provenance = dict(source.get("provenance") or {})
            fp = fingerprint(report.get("env") or env, spec, source["runtime"])
            row = {**source, "run_id": run_id, "target": spec.label, "threads": spec.threads, "created": C.now(),
                   "provenance": {**provenance, "target": fp, "measured_for": "recommend --measure"}}
            row["key"] = C.cell_key(provenance.get("convert_key") or source["key"], source["runtime"], fp, bench)
            for k in ("p50_ms", "p90_ms", "p99_ms", "peak_rss_mb", "bench", "error", "stage"):
                row[k] = None
            C.add_measurement(row, by.get((os.path.abspath(source["artifact"]), source["runtime"])),
                              report.get("env") or env)
            out_rows.append(row)
        store.put_cells(out_rows)
        return len(out_rows)
