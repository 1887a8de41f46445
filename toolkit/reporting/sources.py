"""What a report is read from: a sweep folder or its sweep.sqlite, a sweep's JSON export, or the JSON `edgebb bench`
writes, each as one ReportData of sweep-store-like cells (edgebb.selection.store's columns)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..core.errors import InputError, first_line


@dataclass
class ReportData:
    """What a report is made of, whatever it was read from."""

    kind: str  # "sweep" or "bench"
    source: str
    cells: list[dict]
    environments: dict[str, dict] = field(default_factory=dict)
    spec: dict | None = None
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------- reading


def load(source: str) -> ReportData:
    """Read a sweep folder or store, a sweep's JSON export, or an `edgebb bench --json` file; InputError for
    anything else."""
    from ..selection.store import FILE, Store, store_problem

    if os.path.isdir(source) or source.endswith((".sqlite", ".db")):
        path = os.path.join(source, FILE) if os.path.isdir(source) else source
        problem = store_problem(path) if os.path.exists(path) else f"no sweep store {FILE} in it"
        if problem:
            raise InputError(f"{source} is not an edgebb result, {problem} (give a sweep folder, its sweep.sqlite, "
                             "or the JSON edgebb sweep or edgebb bench writes)")
        with Store.open(path) as store:
            cells, notes = store.view()
            runs = store.runs()
        spec = runs[-1]["spec"] if runs else None
        return _from_sweep(source, cells, spec, notes + list((spec or {}).get("notes", [])))
    try:
        with open(source) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputError(f"report source not found: {source}") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        what = "not JSON" if isinstance(exc, ValueError) else exc.strerror or first_line(exc)
        raise InputError(f"{source} is not an edgebb result: {what} (give a sweep folder, its sweep.sqlite, or the "
                         "JSON edgebb sweep or edgebb bench writes)") from None
    if isinstance(data, dict) and data.get("schema") == "edgebb.sweep-result/1":
        cells = data.get("cells")
        if not isinstance(cells, list):
            raise InputError(f"{source} is not an edgebb result: its 'cells' is not a list")
        for i, c in enumerate(cells):
            lacks = [k for k in SWEEP_CELL_KEYS if not isinstance(c, dict) or k not in c]
            if lacks:
                raise InputError(f"{source} is not an edgebb result: cell {i + 1} lacks {', '.join(lacks)} (write it "
                                 "again with edgebb sweep --json)")
            wrong = [k for k in SWEEP_NUMBERS if c.get(k) is not None and (
                isinstance(c[k], bool) or not isinstance(c[k], (int, float)) or c[k] < 0)]
            if wrong:  # a hand-edited "accuracy": "high" ended in a TypeError deep in the frontier
                raise InputError(f"{source} is not an edgebb result: cell {i + 1}'s {wrong[0]} is {c[wrong[0]]!r}, "
                                 "not a number of at least 0 (write it again with edgebb sweep --json)")
        return _from_sweep(source, cells, None, list(data.get("notes") or []))
    if isinstance(data, dict) and str(data.get("schema", "")).startswith("edgebb.bench/") \
            and isinstance(data.get("results"), list):
        return _from_bench(source, data)
    raise InputError(f"{source} is not an edgebb result (neither a sweep nor the JSON edgebb bench writes)")


# A cell's identity, and every figure a verdict is decided from (a sweep writes them all, null where unmeasured): a
# cell with float_accuracy or p50_ms deleted by hand had been reported under another verdict.
SWEEP_CELL_KEYS = ("key", "backbone", "width", "size", "recipe", "runtime", "target", "status", "accuracy",
                   "float_accuracy", "p50_ms", "p90_ms", "p99_ms", "peak_rss_mb", "verification", "provenance")
SWEEP_NUMBERS = ("width", "size", "accuracy", "float_accuracy", "agreement", "p50_ms", "p90_ms", "p99_ms",
                 "peak_rss_mb", "size_mb", "macs", "params", "train_seconds", "threads")


def _from_sweep(source: str, cells: list[dict], spec: dict | None, notes: list[str]) -> ReportData:
    """A sweep's cells with the environment of each target (from the cells' own provenance, as a sweep's JSON
    carries it as its store does)."""
    from ..selection.cells import not_learned

    envs: dict[str, dict] = {}
    for c in cells:
        env = (c.get("provenance") or {}).get("environment")
        if env and c["target"] not in envs:
            envs[c["target"]] = env
    return ReportData("sweep", source, cells, envs, spec, notes + not_learned(cells))


def _from_bench(source: str, report: dict) -> ReportData:
    from ..core.checks import split_width
    from ..models.registry import BACKBONES

    cells = []
    for i, r in enumerate(report["results"]):
        target = "gpu" if r.get("target") == "gpu" else f"{r.get('target', 'cpu')}:{r.get('threads', 1)}"
        lat = r.get("latency_ms") or {}
        name, width = split_width(str(r.get("model")))  # a backbone at a width: mobilenet_v2@0.35
        try:
            width = float(width) if width else None
        except ValueError:
            name, width = r.get("model"), None
        spec = BACKBONES.get(name, default=None)
        if spec and width is None and r.get("baseline"):  # bench builds its baseline by name: the registry's 1.0
            width = 1.0
        cells.append({"key": f"row{i}", "backbone": name, "family": spec.family if spec else name,
                      "width": width, "size": r.get("input_size"), "recipe": r.get("recipe"),
                      "runtime": r.get("runtime"), "target": target, "threads": r.get("threads"),
                      "status": "ok" if r.get("status") == "ok" else r.get("status"), "error": r.get("error"),
                      "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"),
                      "peak_rss_mb": r.get("peak_rss_mb"), "size_mb": r.get("size_mb"), "macs": r.get("macs"),
                      "emulated": r.get("emulated"), "software": r.get("software"), "accuracy": None,
                      "baseline": bool(r.get("baseline")), "speedup": r.get("speedup_vs_baseline"),
                      "mem_ratio": r.get("memory_ratio_vs_baseline"),  # bench's own ratios to its baseline row
                      "bench": {"spread": r.get("spread"), "cv": r.get("cv")},  # its noise, as a sweep cell's
                      # the conversion's verdict: a quantized artifact is a candidate only when it passed it
                      "verification": r.get("conversion_check")})
    env = report.get("env") or {}
    notes = list(report.get("notes", [])) + [f"warning: {w}" for w in report.get("warnings", [])]
    if report.get("best"):
        from ..benchmark.best import best_lines

        notes = best_lines(report["best"]) + notes
    return ReportData("bench", source, cells, {c["target"]: env for c in cells}, None, notes)


def data_folders(cells: list[dict], spec: dict | None = None) -> tuple[str, ...]:
    """The image folders sweep cells were trained and checked on (their provenance, the sweep's spec): no output of
    report or recommend may go into one (a folder there is read as a class)."""
    paths = {((c.get("provenance") or {}).get("data") or {}).get("path") for c in cells}
    paths.add(((spec or {}).get("data") or {}).get("path"))
    return tuple(sorted(p for p in paths if p))
