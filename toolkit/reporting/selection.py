"""The terminal form of a sweep and of a recommendation: table rows and the lines around them (rendered by
edgebb.reporting.terminal: rich on a terminal, plain text in a pipe)."""

from __future__ import annotations

from ..core.numbers import apart, between, in_unit, num, signed

SWEEP_COLUMNS = [("pareto", "P"), ("backbone", "backbone"), ("width", "width"), ("size", "px"), ("recipe", "recipe"),
                 ("runtime", "runtime"), ("target", "target"), ("acc", "top-1 %"), ("agree", "agree %"),
                 ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"), ("peak_rss_mb", "peak MB"), ("size_mb", "file MB"),
                 ("status", "status")]
REJECTED_COLUMNS = [("label", "candidate"), ("kind", "verdict"), ("why", "why")]


def _pct(v):
    return None if v is None else 100 * v


def sweep_rows(result) -> tuple[list[dict], list[str]]:
    """Rows of a SweepResult's table (Pareto-optimal cells marked *) and the footnotes failures became. A cell that
    is no candidate without having failed (a quantized one not judged, see sweep_lines; a model at chance, named in
    the notes) says so in its status (edgebb.selection.pareto.verdict)."""
    from ..selection.pareto import annotate, failed_check, verdict

    marks = annotate(result.rows)
    rows, footnotes = [], []
    for c in sorted(result.rows, key=lambda c: (c["target"], c["status"] != "ok", c.get("p50_ms") or 0)):
        status, failed = c["status"], failed_check(c)
        if status != "ok" or failed:
            footnotes.append(f"[{len(footnotes) + 1}] {c['backbone']} {c['width']:g} @{c['size']} {c['recipe']} on "
                             f"{c['runtime']} ({c['target']}), "
                             + (f"{c.get('stage')}: {c.get('error')}" if status != "ok" else failed))
            status = ("failed check" if status == "ok" else status) + f" [{len(footnotes)}]"
        elif word := verdict(c):
            status = word
        status += (" (software GPU)" if c.get("software") else "") + (" (emulated)" if c.get("emulated") else "")
        optimal = marks.get(c["key"], {}).get("latency", {}).get("optimal")
        rows.append({**c, "pareto": "*" if optimal else "", "acc": _pct(c.get("accuracy")),
                     "agree": _pct(c.get("agreement")), "status": status,
                     "_style": "red" if c["status"] != "ok" or failed else ("bold" if optimal else None)})
    return rows, footnotes


def sweep_lines(result, footnotes: list[str]) -> list[str]:
    from ..selection.cells import not_learned
    from ..selection.pareto import excluded, failed_check

    if result.rows and len(result.failed) == len(result.rows):  # no figures: no frontier to explain, no next step
        lines = footnotes + ["", f"nothing was measured: all {len(result.rows)} cells failed (the footnotes above "
                                 f"give each cause; the rows are in {result.store_path}): fix the cause, then run the "
                                 "same command with --retry-failed (without it, the failed cells are reused)"]
    else:
        measured_accuracy = any(c.get("accuracy") is not None for c in result.rows)  # else annotate's COST frontier
        lines = footnotes + ["", "* Pareto-optimal on its target (" + (
            "accuracy against p50 latency)" if measured_accuracy else
            "p50 latency against peak memory: no cell has an accuracy)")]
    published = {f"{c['backbone']} {c['width']:g} @{c['size']} {c['recipe']}": c["accuracy_source"].split(": ", 1)[-1]
                 for c in result.rows if (c.get("accuracy_source") or "").startswith("published")}
    if published:
        lines.append("top-1: no --data, so the published ImageNet top-1 of the float model where one exists ("
                     + "; ".join(f"{k}: {v}" for k, v in published.items()) + "), none elsewhere"
                     + ("; the models measured have random weights (for latency and memory)"
                        if any(c.get("weights") == "random" for c in result.rows) else ""))
    lines += [f"note: {n}" for n in result.notes + not_learned(result.rows)]
    lines += [f"warning: {w}" for w in result.warnings]
    retried = result.retried
    if retried:
        lines.append(f"retried: {len(retried)} cell(s) had a stage whose worker or node died and ran again ("
                     + "; ".join(f"{c['backbone']} {c['width']:g} @{c['size']} {c['recipe']} {c['runtime']} on "
                                 f"{c['target']}: {', '.join(c['provenance']['executor']['retried'])}"
                                 for c in retried[:5]) + (" ..." if len(retried) > 5 else "") + ")")
    unjudged = sum(1 for c in result.rows if c["status"] == "ok" and (excluded(c) or "").startswith("not judged"))
    if unjudged:
        lines.append(f"not judged: {unjudged} quantized cell(s) of a float model with random weights or at chance, "
                     "whose outputs are near-ties any rounding reorders: their agreement is shown but says nothing "
                     "about the recipe, and they are no candidate (not on the frontier, never recommended)")
    over = sum(1 for c in result.rows if c["status"] == "ok" and failed_check(c))
    cells = f"{len(result.rows)} cell{'' if len(result.rows) == 1 else 's'}"  # "1 cells"
    lines.append(f"{cells}: {result.reused} reused from the store, {result.measured} run now, "
                 f"{len(result.failed)} failed" + (f", {over} failed their check against the float model"
                                                   if over else "") + f"; store: {result.store_path}")
    return lines


def _figures(c: dict, budget) -> str:
    est = "estimated " if c.get("estimated") else ""
    parts = []
    if c.get("accuracy") is not None:
        parts.append(f"top-1 {100 * c['accuracy']:.1f}% ({(c.get('accuracy_source') or '').split(':')[0]})")
    for k in ("p50", "p90", "p99"):
        if c.get(f"{k}_ms") is not None:
            parts.append(f"{est}{k} {num(c[f'{k}_ms'])} ms")
    if c.get("peak_rss_mb") is not None:
        parts.append(f"{est}peak {c['peak_rss_mb']:.1f} MB")
    if c.get("size_mb") is not None:
        parts.append(f"file {c['size_mb']:.2f} MB")
    if c.get("macs"):
        parts.append(f"{c['macs'] / 1e6:.1f} MMACs")
    if c.get("train_seconds") is not None:
        parts.append(f"trained in {c['train_seconds'] / 60:.1f} min")
    return ", ".join(parts)


def budget_line(budget) -> str:
    parts = [f"{budget.latency} <= {budget.max_latency_ms:g} ms"] if budget.max_latency_ms is not None else []
    if budget.max_memory_mb is not None:
        parts.append(f"peak memory <= {budget.max_memory_mb:g} MB")
    if budget.min_accuracy is not None:
        parts.append(f"accuracy >= {budget.min_accuracy:g}")
    if budget.max_train_minutes is not None:
        parts.append(f"training <= {budget.max_train_minutes:g} min")
    parts.append(f"task {budget.task}")
    return f"target {budget.target}" + (f" ({budget.runtime})" if budget.runtime else "") + ": " + ", ".join(parts)


def _trade_text(t: dict, budget, choice: dict) -> str:
    bits = []
    if t.get("accuracy_points") is not None:
        bits.append(f"{signed(t['accuracy_points'], 1)} accuracy points")
    if t.get("latency_ms") is not None:
        digits = between(choice.get(budget.metric), t["latency_ms"])
        bits.append(f"{signed(t['latency_ms'], digits)} ms {budget.latency}")
    if t.get("memory_mb") is not None:
        bits.append(f"{signed(t['memory_mb'], 1)} MB peak")
    if t.get("size_mb") is not None:
        bits.append(f"{signed(t['size_mb'], 2)} MB file")
    return ", ".join(bits) or "nothing measurable"


def recommendation_lines(rec) -> list[str]:
    """The recommendation in words, before the table of rejected candidates."""
    b = rec.budget
    lines = [f"budget: {budget_line(b)}"]
    if rec.choice is None:
        from ..selection.recommend import ALL_AT_CHANCE

        lines.append(ALL_AT_CHANCE.split(" (")[0] + "." if rec.all_at_chance else "nothing meets the budget.")
        if rec.closest:
            why = "; ".join(m["reason"] for m in rec.closest["misses"])
            lines.append(f"closest (the smallest sum of its misses, each a share of its limit): "
                         f"{rec.closest['label']}: {why}")
        return lines + [f"factor: {f}" for f in rec.factors] + [f"note: {n}" for n in rec.notes]
    c = rec.choice
    lines += ["", f"choice: {c['label']}" + (" (ESTIMATED: not measured on this target)" if rec.estimated else ""),
              f"  backbone {c['backbone']}, width {c['width']:g}, input {c['size']} px, recipe {c['recipe']}, "
              f"runtime {c['runtime']}, {c['threads']} thread(s)",
              f"  {_figures(c, b)}"]
    if rec.binding:
        m = rec.binding
        unit = f" {m['unit']}" if m["unit"] else ""
        value = in_unit(m["value"], m["unit"])
        if (float(value) - m["limit"]) * (m["value"] - m["limit"]) <= 0:  # "0.0536 ms against 0.0536 ms"
            value = apart(m["value"], m["limit"])
        lines.append(f"  binding constraint: {m['name']} {value}{unit} against {m['limit']:g}{unit} (margin "
                     f"{in_unit(m['margin'], m['unit'])}{unit}, {m['relative']:.0%})")
    else:
        lines.append("  no budget given that binds: the most accurate candidate (then the fastest)")
    if rec.noise:
        n = rec.noise
        lines.append(f"  within noise: the {n['name']} margin {n['margin']:.3g} ms ({n['relative']:.0%}) is within "
                     f"this cell's measured noise (its runs typically varied by {n['spread_ms']:.3g} ms, "
                     f"{n['spread']:.0%} of its latency: interquartile range / 1.349), so measured again it may "
                     f"exceed {n['limit']:g} ms and the choice may flip; measure again on a quiet machine, for longer "
                     "(the sweep with --remeasure; or with --min-seconds N, longer runs measured as new cells)")
    if rec.runner_up:
        lines.append(f"runner-up: {rec.runner_up['label']}: {_figures(rec.runner_up, b)}")
        lines.append(f"  it trades {_trade_text(rec.trade or {}, b, rec.choice)} against the choice")
    lines += [f"factor: {f}" for f in rec.factors]
    model = rec.models.get(b.metric) or rec.models.get("p50_ms")
    if model and any(r.get("estimated") for r in [rec.choice, rec.runner_up or {}] + rec.rejected):
        lines.append(f"estimates: {b.latency} from a model fitted on {model['cells']} measured cell(s) of "
                     f"{b.target} (log MACs, params, activations, family, recipe, runtime); leave-one-out error "
                     f"median {100 * model['loo_median_error']:.0f}%, max {100 * model['loo_max_error']:.0f}%")
    if rec.to_measure:
        lines.append("measure before trusting this: " + "; ".join(m["label"] for m in rec.to_measure)
                     + " (edgebb recommend ... --measure)")
    lines += [f"note: {n}" for n in rec.notes]
    return lines


def rejected_rows(rec) -> list[dict]:
    order = {"dominated": 0, "ranked": 1, "violates": 2, "excluded": 3}
    return [{"label": r["label"], "kind": r["kind"], "why": "; ".join(r["reasons"]),
             "_style": "dim" if r["kind"] == "excluded" else None}
            for r in sorted(rec.rejected, key=lambda r: order.get(r["kind"], 9))]
