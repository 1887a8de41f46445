"""`edgebb report`: a sweep (its folder or sweep.sqlite) or any `edgebb bench --json` file as one self-contained
HTML page (or Markdown): Pareto plots per target, latency against MACs, the int8 speed-up, the lecture-style cost
table, every cell with its Pareto mark or the cell that dominates it, and the environment and method.

    write_report("sweep/", "report.html")   # or "report.md" (its plots go into report_plots/ beside it)
"""

from __future__ import annotations

import os
import re
import time

from ..core.errors import InputError
from ..selection.cells import chance_problem, measure_warnings, row_label
from ..selection.pareto import exclusions, failed_check, verdict
from . import plots
from .document import Bullets, Document, Figure, Section, Table, render_html, render_markdown
from .results import ratio_columns
from .sources import ReportData, data_folders, load

SUFFIXES = (".html", ".htm", ".md")


# ---------------------------------------------------------------------------------------------------- building


def _target_note(cells: list[dict]) -> str:
    if any(c.get("software") for c in cells):
        return " - software GPU: emulated figures, not a GPU's speed"
    if any(c.get("emulated") for c in cells):
        return " - emulated: an emulator's speed"
    return ""


def build(data: ReportData) -> Document:
    """The report's sections from `data`."""
    from ..selection.pareto import annotate, group_by

    marks = annotate(data.cells)
    by_target = group_by(data.cells, lambda c: c["target"])
    ok = sum(1 for c in data.cells if c.get("status") == "ok")
    has_accuracy = any(c.get("accuracy") is not None for c in data.cells)
    doc = Document(f"edgebb {data.kind} report", [
        f"source: {os.path.abspath(data.source)}", f"generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"{len(data.cells)} cells ({ok} measured, {len(data.cells) - ok} failed or skipped) on "
        f"{len(by_target)} target(s): {', '.join(by_target)}"], [])
    summary = Section("frontier", "Pareto frontier per target")
    summary.blocks.append("The cells no other cell beats on both accuracy and p50 latency: the candidates worth "
                          "shipping on each target. " + CANDIDATES if has_accuracy else
                          "No accuracy in this result (" + ("a sweep without --data, whose cells have no published "
                          "top-1" if data.kind == "sweep" else "a bench report") + "): the frontier is p50 latency "
                          "against peak memory. " + CANDIDATES)
    # what edgebb bench warns about: figures not to compare closely (a bench JSON's own warnings are in its notes)
    warnings = measure_warnings(data.cells) if data.kind == "sweep" else []
    summary.blocks += [f"Warning: {w}." for w in warnings]
    for target, cells in by_target.items():
        best = sorted((c for c in cells if marks[c["key"]].get("latency", {}).get("optimal")),
                      key=lambda c: c.get("p50_ms") or 0)
        measured = [c for c in cells if c.get("status") == "ok"]
        none = ": none, every model is at chance (see the notes)" if not best and measured and all(
            chance_problem(c) for c in measured) else ""
        columns = FRONTIER_COLUMNS if has_accuracy else [c for c in FRONTIER_COLUMNS if c[0] != "accuracy_pct"] \
            + ratio_columns(cells)
        summary.blocks.append(Table(f"frontier-{_slug(target)}", columns, [_display(c) for c in best],
                                    caption=f"{target}{_target_note(cells)}: {len(best)} of {len(cells)} cells"
                                    + none))
    doc.sections.append(summary)
    for target, cells in by_target.items():
        section = Section(f"target-{_slug(target)}", f"Target {target}")
        note, hollow = _target_note(cells), plots.HOLLOW if any(map(plots.no_candidate, cells)) else ""
        labelled = plots.LABELLED if plots.crowded(cells) else ("", "")
        if has_accuracy:
            for kind, x, xlabel, frontier in (("accuracy-latency", "p50_ms", "p50 latency (ms)", "latency"),
                                              ("accuracy-memory", "peak_rss_mb", "peak memory, RSS (MB)", "memory")):
                svg = plots.accuracy_vs(cells, marks, x=x, xlabel=xlabel, frontier=frontier,
                                        title=f"{target}: accuracy vs {xlabel.split(' (')[0]}{note}")
                if svg:  # where no cell is a candidate there is no line to name, nor labels on it
                    line = "black line: the Pareto frontier" if any(marks[c["key"]].get(frontier, {}).get("optimal")
                                                                    for c in cells) else "no frontier: no candidate"
                    section.blocks.append(Figure(f"{kind}-{_slug(target)}", svg, f"Top-1 accuracy against "
                                                 f"{xlabel} on {target}; {line}{hollow}"
                                                 f"{labelled[0] if line.startswith('black') else ''}{note}.",
                                                 kind, target))
        svg = plots.latency_vs_macs(cells, f"{target}: latency vs MACs{note}")
        if svg:
            section.blocks.append(Figure(f"latency-macs-{_slug(target)}", svg, "p50 latency against MACs "
                                         f"(log-log){hollow}{labelled[1]}; "
                                         f"{plots.MACS_LINES}", "latency-macs", target))
        doc.sections.append(section)
    reference, integer = plots.recipe_roles()
    speed = Section("int8", f"{integer[0]} against {reference}")
    svg = plots.int8_speedup(data.cells)
    if svg:
        speed.blocks.append(Figure("int8-speedup", svg, f"p50 of the {reference} cell / p50 of the quantized cell, "
                                   "same backbone, target and runtime; below 1, the quantized model is slower."
                                   + (" Hatched: the quantized cell is no candidate (failed its check, not judged "
                                      "or at chance)." if "hatched:" in svg else ""),
                                   "int8-speedup"))
        speed.blocks += _int8_notes(data, reference, integer)
    else:
        speed.blocks.append(f"No backbone was measured both as {reference} and as {integer[0]} on the same target "
                            "and runtime.")
    doc.sections.append(speed)
    doc.sections.append(_cost_section(data.cells))
    doc.sections.append(_cells_section(data.cells, marks, has_accuracy))
    doc.sections.append(_environment_section(data))
    notes = data.notes + [f"warning: {w}" for w in warnings]
    if notes:
        doc.sections.append(Section("notes", "Notes", [Bullets(list(dict.fromkeys(notes)))]))
    return doc


CANDIDATES = ("Candidates are the float artifacts and the quantized ones that passed their conversion's check "
              "against the float model, of models whose float top-1 is clearly above chance; the others (failed "
              "check, not judged, no check, at chance) are in every cell's table with their figures and why.")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")


FRONTIER_COLUMNS = [("label", "cell"), ("accuracy_pct", "top-1 %"), ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"),
                    ("peak_rss_mb", "peak MB"), ("size_mb", "file MB")]
CELL_COLUMNS = [("mark", "Pareto (accuracy vs p50)"), ("backbone", "backbone"), ("width", "width"), ("size", "px"),
                ("recipe", "recipe"), ("runtime", "runtime"), ("target_shown", "target"), ("threads", "thr"),
                ("accuracy_pct", "top-1 %"), ("accuracy_source", "accuracy from"), ("agreement_pct", "agree %"),
                ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("peak_rss_mb", "peak MB"),
                ("size_mb", "file MB"), ("mmacs", "MMACs"), ("train_seconds", "train s"),
                ("convert_seconds", "convert s"), ("memory_mark", "Pareto (accuracy vs memory)"),
                ("status_shown", "status")]
COST_COLUMNS = [("config", "backbone"), ("params_m", "params (M)"), ("mmacs", "MACs (M)"),
                ("mflops", "FLOPs (M) = 2 x MACs"), ("act_mb", "peak activations (MB, fp32)"),
                ("w32_mb", "weights fp32 (MB)"), ("w8_mb", "weights int8 (MB)")]


def _pct(value):
    return None if value is None else 100 * value


def _display(c: dict, marks: dict | None = None) -> dict:
    row = {**c, "label": row_label(c), "accuracy_pct": _pct(c.get("accuracy")),
           "agreement_pct": _pct(c.get("agreement")),
           "mmacs": c["macs"] / 1e6 if c.get("macs") else None,
           "target_shown": c["target"] + (" (software GPU)" if c.get("software") else "")
           + (" (emulated)" if c.get("emulated") else ""),
           "status_shown": _status(c)}
    if marks is not None:
        for name, column in (("latency", "mark"), ("memory", "memory_mark")):
            mark = marks.get(c["key"], {}).get(name)
            if mark is None:
                row[column] = (("skipped" if c.get("status") == "skipped" else "failed") if c.get("status") != "ok"
                               else verdict(c) or "-")
            elif mark["optimal"]:
                row[column] = "optimal"
            else:
                by = next((d for d in marks["_cells"] if d["key"] == mark["dominated_by"]), None)
                row[column] = f"dominated by {row_label(by, target=False)}" if by else "dominated"
        row["_class"] = "optimal" if row["mark"] == "optimal" else (
            "failed" if c.get("status") not in ("ok", "skipped") or failed_check(c) else None)
    return row


def _status(c: dict) -> str:
    if c.get("status") == "ok":
        return _why_not(c) or "ok"
    if c.get("status") == "skipped":  # a bench row it did not run (no artifact for that runtime): not a failure
        return f"skipped: {c.get('error')}"
    return f"{c.get('status')} at {c.get('stage') or 'measure'}: {c.get('error')}"


def _why_not(c: dict) -> str | None:
    """Why a measured cell is no candidate (every reason of edgebb.selection.pareto.exclusions), else None."""
    why = "; ".join(exclusions(c)) or None
    if why and c.get("baseline") and c.get("verification") is None:  # bench converts it; its row has no verdict
        return "the bench's baseline, measured for its ratios: no conversion check recorded for it"
    return why


def _cells_section(cells: list[dict], marks: dict, has_accuracy: bool) -> Section:
    marks = {**marks, "_cells": cells}
    order = sorted(cells, key=lambda c: (c["target"], c.get("status") != "ok", c.get("p50_ms") or float("inf")))
    if has_accuracy:
        columns = CELL_COLUMNS
        text = ("every other one names a cell that is at least as accurate and at least as fast (or light), and "
                "better in one of the two.")
    else:  # a bench report: one frontier, p50 against memory (edgebb.selection.pareto.COST)
        columns = [("mark", "Pareto (p50 vs memory)")] + [c for c in CELL_COLUMNS[1:] if c[0] != "memory_mark"]
        at = columns.index(("size_mb", "file MB")) + 1
        columns[at:at] = ratio_columns(cells)
        text = "every other one names a cell that is at least as fast and as light, and better in one of the two."
    return Section("cells", "Every cell", [
        "Each cell is one backbone configuration, recipe, runtime and target. A cell on the frontier is optimal; "
        + text, Table("cells-table", columns, [_display(c, marks) for c in order], caption=f"{len(cells)} cells")])


def _cost_section(cells: list[dict]) -> Section:
    rows, seen = [], set()
    for c in cells:
        config = (c["backbone"], c.get("width"), c.get("size"))
        if config in seen:
            continue
        seen.add(config)
        mb = lambda v: None if v is None else v / 1e6  # noqa: E731
        width = "" if c.get("width") is None else f" {c['width']:g}"
        rows.append({"config": f"{c['backbone']}{width} @{c.get('size')}",
                     "params_m": mb(c.get("params")), "mmacs": mb(c.get("macs")),
                     "mflops": None if c.get("macs") is None else 2 * c["macs"] / 1e6,
                     "act_mb": mb(c.get("peak_activation_bytes")), "w32_mb": mb(c.get("weights_fp32_bytes")),
                     "w8_mb": mb(c.get("weights_int8_bytes"))})
    rows.sort(key=lambda r: r["mmacs"] or 0)
    return Section("cost", "Cost of each backbone", [
        "What each configuration costs before any runtime touches it, at its input size and with its head: "
        "parameters, multiply-accumulates per image, FLOPs (counted as 2 x MACs, the convention of papers that "
        "quote FLOPs), the largest set of activations alive at once (fp32), and the weights after BatchNorm "
        "folding in fp32 and int8.", Table("cost-table", COST_COLUMNS, rows)])


def _int8_notes(data: ReportData, reference: str, integer: list[str]) -> list:
    """Where the quantized cells were slower than their float ones by more than the measurements' noise (bench's
    rule, analysis.slower_beyond_noise: a 0.8% difference between cells that vary by 4-8% had been counted)."""
    from ..benchmark.analysis import slower_beyond_noise
    from ..benchmark.environment import int8_speed_hint
    from ..benchmark.rows import noise

    def slower(c: dict) -> bool:
        base = _reference_cell(data.cells, c, reference)
        return bool(base and base.get("p50_ms")) and slower_beyond_noise(
            c["p50_ms"] / base["p50_ms"], noise(c.get("bench") or {}), noise(base.get("bench") or {}))

    out = []
    for target, env in data.environments.items():
        found = [c for c in data.cells if c["target"] == target and c.get("recipe") in integer
                 and c.get("status") == "ok" and c.get("p50_ms") and slower(c)]
        if found and env.get("machine"):
            out.append(f"{target}: the quantized model was slower than {reference} for {len(found)} cell(s), by more "
                       f"than their measurements' noise; {int8_speed_hint(env)}.")
    return out


def _reference_cell(cells: list[dict], c: dict, reference: str) -> dict | None:
    return next((d for d in cells if d.get("recipe") == reference and d.get("status") == "ok"
                 and (d["backbone"], d.get("width"), d.get("size"), d["target"], d["runtime"], d.get("threads")) ==
                 (c["backbone"], c.get("width"), c.get("size"), c["target"], c["runtime"], c.get("threads"))), None)


def _environment_section(data: ReportData) -> Section:
    from .method import environment_rows, method_lines

    return Section("environment", "Environment and method", [
        Table("environment-table", [("target", "target"), ("machine", "measured on"), ("cpu", "CPU"),
                                    ("os", "OS / Python"), ("runtimes", "runtime versions"), ("state", "labels")],
              environment_rows(data)),
        Bullets(method_lines(data))])


# ----------------------------------------------------------------------------------------------------- writing


def check_report_output(out: str) -> None:
    """InputError unless `out` is a .html/.md path that can be written (nothing is created)."""
    from ..core.files import check_can_write_file

    if not out.lower().endswith(SUFFIXES):
        raise InputError(f"-o must end in {', '.join(SUFFIXES)}; received {out}")
    check_can_write_file(out, "report")
    if os.path.isfile(out) and os.path.getsize(out):  # an earlier report only ("-o README.md" had replaced it)
        with open(out, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
        if not re.search(r"(^# |<title>)edgebb (sweep|bench) report", head):
            raise InputError(f"{out} is a file that is not an earlier edgebb report: writing the report there would "
                             "destroy it; choose another file (nothing was changed)")
    if out.lower().endswith(".md"):
        folder = _plots_dir(out)
        if os.path.exists(folder) and (not os.path.isdir(folder) or any(not n.endswith(".svg")
                                                                        for n in os.listdir(folder))):
            raise InputError(f"{folder} exists and holds more than an earlier report's plots; write the report "
                             "elsewhere (nothing was changed)")


def _plots_dir(out: str) -> str:
    return os.path.splitext(out)[0] + "_plots"


def write_report(source: str, out: str) -> str:
    """Write the report of `source` to `out` (.html: one self-contained page; .md: Markdown with its plots in
    OUT_plots/); returns `out`. InputError for a source that is not an edgebb result or an unwritable `out`."""
    from ..core.files import write_atomic

    check_report_output(out)
    problem = plots.available()
    if problem:
        raise InputError(problem)
    data = load(source)
    from ..core.files import check_outside

    for folder in data_folders(data.cells, data.spec):  # a folder made in the sweep's data is read as a class
        check_outside(out, folder, "report", file=True)
        if out.lower().endswith(".md"):
            check_outside(_plots_dir(out), folder, "the report's plots folder")
    doc = build(data)
    if out.lower().endswith(".md"):
        text, files = render_markdown(doc, _plots_dir(out))
        for rel, svg in files.items():
            write_atomic(os.path.join(os.path.dirname(os.path.abspath(out)), rel), svg)
        write_atomic(out, text)
    else:
        write_atomic(out, render_html(doc))
    return out
