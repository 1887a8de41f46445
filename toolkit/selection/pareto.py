"""Pareto frontiers of sweep cells: per target, maximise accuracy and minimise latency (a second frontier: peak
memory). A cell is optimal when no other cell of its group is at least as good on both and better on one; every
other cell names one cell that dominates it (the fastest such cell on the frontier, so the name is one to look at).

Cells are dicts with the store's columns (accuracy, p50_ms, peak_rss_mb, target, key ...). Cells without the
figures a frontier needs (failed, without accuracy) or that are no candidate (`excluded`: an artifact that failed
its check against the float model, a quantized one that was not judged or has no check, or a model whose float
top-1 cannot be told from chance, edgebb.selection.cells.chance_problem) are on no frontier and dominated by
nothing. `excluded` is the one rule of the sweep's table, the report and recommend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .cells import chance_problem

# (column, +1 maximise / -1 minimise)
LATENCY = (("accuracy", 1), ("p50_ms", -1))
MEMORY = (("accuracy", 1), ("peak_rss_mb", -1))
# Without accuracy (a bench report): latency against memory.
COST = (("p50_ms", -1), ("peak_rss_mb", -1))
AT_CHANCE = "not clearly above chance"  # how `exclusions` names a model at chance


def failed_check(cell: dict) -> str | None:
    """Why the cell's artifact failed its check against the float model (its figures are not the model's), else
    None."""
    check = cell.get("verification") or {}
    if check.get("passed") is False:
        return f"failed its check against the float model: {check.get('failed_because') or 'over budget'}"
    return None


def exclusions(cell: dict) -> list[str]:
    """Every reason the cell is no candidate whatever its figures (empty when it is one): its artifact failed its
    check against the float model (`failed_check`); it is quantized and its check did not pass (not judged: random
    weights or a float model at chance; no check at all), the rule of `edgebb bench --best`
    (edgebb.benchmark.best.candidate); its float model's top-1 cannot be told from chance (its accuracy, and so
    its place against faster cells, is luck), whether or not another model learned."""
    out = []
    failed = failed_check(cell)
    if failed:
        out.append(failed)
    else:
        from ..benchmark.best import candidate

        ok, why = candidate(cell.get("recipe"), cell.get("verification"))
        if not ok:
            out.append(why)
    chance = chance_problem(cell)
    if chance:
        out.append(f"{AT_CHANCE}: {chance}")
    return out


def excluded(cell: dict) -> str | None:
    """The first of `exclusions`, else None."""
    return next(iter(exclusions(cell)), None)


def verdict(cell: dict) -> str | None:
    """A measured cell that is no candidate in a word or two, for a table's status or Pareto column, else None."""
    why = excluded(cell)
    if why is None:
        return None
    if failed_check(cell):
        return "failed check"
    return "not judged" if why.startswith("not judged") else "at chance" if why.startswith(AT_CHANCE) else "no check"


def _values(cell: dict, objectives) -> tuple | None:
    values = tuple(cell.get(name) for name, _ in objectives)
    if cell.get("status", "ok") != "ok" or any(v is None for v in values) or excluded(cell):
        return None
    return values


def dominates(a: tuple, b: tuple, objectives) -> bool:
    """Whether figures `a` are at least as good as `b` on every objective and better on one."""
    better = False
    for (_, sign), x, y in zip(objectives, a, b):
        if sign * x < sign * y:
            return False
        better = better or sign * x > sign * y
    return better


def frontier(cells: Sequence[dict], objectives=LATENCY) -> dict[str, dict]:
    """For each cell key that has the figures and is a candidate: {"optimal": bool, "dominated_by": key or None},
    within `cells` (one group: call it per target)."""
    scored = [(c["key"], v) for c in cells if (v := _values(c, objectives)) is not None]
    optimal = {k for k, v in scored if not any(dominates(w, v, objectives) for _, w in scored)}
    speed = dict(scored)
    first = objectives[-1][0]
    out = {}
    for key, v in scored:
        if key in optimal:
            out[key] = {"optimal": True, "dominated_by": None}
            continue
        over = [k for k in optimal if dominates(speed[k], v, objectives)]
        by = min(over, key=lambda k: -objectives[-1][1] * speed[k][-1]) if over else None
        out[key] = {"optimal": False, "dominated_by": by, "by": first}
    return out


def group_by(cells: Sequence[dict], key: Callable[[dict], object]) -> dict:
    groups: dict = {}
    for c in cells:
        groups.setdefault(key(c), []).append(c)
    return groups


def annotate(cells: Sequence[dict]) -> dict[str, dict]:
    """Frontier marks for every cell, grouped by target: key -> {"latency": {...}, "memory": {...}}. Without
    any accuracy in a group, the latency mark is the latency-vs-memory frontier."""
    out: dict[str, dict] = {c["key"]: {} for c in cells}
    for group in group_by(cells, lambda c: c.get("target")).values():
        has_accuracy = any(c.get("accuracy") is not None for c in group)
        for name, objectives in (("latency", LATENCY if has_accuracy else COST), ("memory", MEMORY)):
            for key, mark in frontier(group, objectives).items():
                out[key][name] = mark
    return out


def pareto(cells: Sequence[dict], target: str, runtime: str | None = None, objectives=LATENCY) -> list[dict]:
    """The optimal cells of one target (and runtime), fastest first."""
    group = [c for c in cells if c.get("target") == target and (runtime is None or c.get("runtime") == runtime)]
    marks = frontier(group, objectives)
    best = [c for c in group if marks.get(c["key"], {}).get("optimal")]
    return sorted(best, key=lambda c: c.get(objectives[-1][0]))
