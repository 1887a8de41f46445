"""`edgebb recommend`: the backbone to ship on one target under a budget, from a sweep store, with the reasons.

The factors are inputs: the target and its latency percentile, latency, memory and accuracy budgets, the task
(detection and segmentation need the stride 4-32 feature pyramid), the data set's size (few images favour
families with pretrained weights and, among near-equals, fewer parameters), the input resolution and the
training budget. Cells measured on the target are used as measured; configurations measured only elsewhere get
estimated figures from a model fitted on the target's measured cells (edgebb.selection.latency_model), and an
answer that rests on an estimate says so and names the cells to measure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..core.checks import check_choice, check_int, check_number
from ..core.errors import InputError, unknown_name
from ..core.numbers import apart, between, num, signed
from .cells import chance_problem
from .factors import factor_lines, from_scratch
from .grid import SMALL_DATA
from .latency_model import fit
from .pareto import dominates, exclusions

TASKS = ("classification", "detection", "segmentation")
DENSE_STRIDES = (4, 8, 16, 32)
PERCENTILES = ("p50", "p90", "p99")
ACCURACY_TIE = 0.01  # within 1 point of the best: "near-equal" for the few-images preference
# What the answer says when no model learned (Recommendation.all_at_chance); `edgebb recommend` exits 1 with it.
ALL_AT_CHANCE = ("nothing to recommend: every candidate is at chance (no model's float top-1 on the held-out images "
                 "can be told from guessing, so its accuracy is luck and none is one to ship); train longer or on "
                 "more images, and check the data's labels")


@dataclass(frozen=True)
class Budget:
    """What the answer must meet. Accuracy is a fraction (0.9 = 90 %); `latency` names the percentile the
    latency budget applies to; `resolution` is the smallest input size the task can use."""

    target: str
    runtime: str | None = None
    max_latency_ms: float | None = None
    latency: str = "p50"
    max_memory_mb: float | None = None
    min_accuracy: float | None = None
    task: str = "classification"
    dataset_size: int | None = None
    resolution: int | None = None
    max_train_minutes: float | None = None
    allow_emulated: bool = False

    def __post_init__(self):
        check_choice("--latency", self.latency, PERCENTILES)
        check_choice("--task", self.task, TASKS)
        for name, value in (("--max-latency-ms", self.max_latency_ms), ("--max-memory-mb", self.max_memory_mb),
                            ("--max-train-minutes", self.max_train_minutes)):
            if value is not None:
                check_number(name, value, positive=True)
        if self.min_accuracy is not None:
            check_number("--min-accuracy", self.min_accuracy)
            if not 0 <= self.min_accuracy <= 1:
                raise InputError(f"--min-accuracy is a fraction between 0 and 1 (0.9 for 90%); received "
                                 f"{self.min_accuracy:g}")
        if self.dataset_size is not None:
            check_int("--dataset-size", self.dataset_size, 1)
        if self.resolution is not None:
            check_int("--resolution", self.resolution, 1)

    @property
    def metric(self) -> str:
        return f"{self.latency}_ms"


@dataclass
class Recommendation:
    """The answer: the choice and its figures, the binding constraint and its margin (and `noise`: the latency
    margin when it is within the choice's measured noise), the runner-up and what it trades, every rejected
    candidate with its reason, and (when nothing fits) the closest candidate, or `all_at_chance`: every measured
    candidate's float model is at chance, so there is nothing to ship."""

    budget: Budget
    choice: dict | None
    runner_up: dict | None = None
    binding: dict | None = None
    trade: dict | None = None
    rejected: list[dict] = field(default_factory=list)
    closest: dict | None = None
    estimated: bool = False
    to_measure: list[dict] = field(default_factory=list)
    models: dict = field(default_factory=dict)
    factors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    noise: dict | None = None
    all_at_chance: bool = False

    def to_dict(self) -> dict:
        return {"schema": "edgebb.recommendation/1", "budget": asdict(self.budget), "choice": self.choice,
                "runner_up": self.runner_up, "binding": self.binding, "noise": self.noise, "trade": self.trade,
                "rejected": self.rejected, "closest": self.closest, "estimated": self.estimated,
                "to_measure": self.to_measure, "latency_models": self.models, "factors": self.factors,
                "all_at_chance": self.all_at_chance, "notes": self.notes}


def label(c: dict) -> str:
    """"mobilenet_v2 0.35 @64 int8 on litert x4": a candidate in one phrase."""
    return f"{c['backbone']} {c['width']:g} @{c['size']} {c['recipe']} on {c['runtime']} x{c['threads']}"


FIGURES = ("backbone", "width", "size", "recipe", "runtime", "threads", "target", "accuracy", "accuracy_source",
           "agreement", "p50_ms", "p90_ms", "p99_ms", "peak_rss_mb", "size_mb", "macs", "params", "train_seconds",
           "convert_seconds", "weights", "pretrained", "estimated", "artifact", "key", "emulated", "software")


def summary(c: dict) -> dict:
    return {"label": label(c), **{k: c.get(k) for k in FIGURES}, "spread": spread(c)}


def spread(c: dict) -> float | None:
    """How much the cell's timed runs typically varied, a share of its p50 (edgebb.benchmark.rows.noise); None for
    an estimate."""
    from ..benchmark.rows import noise

    return None if c.get("estimated") else noise(c.get("bench") or {})


# ------------------------------------------------------------------------------------------------ candidates


def candidates(rows: list[dict], budget: Budget, runtimes: list[str] | None) -> tuple[list[dict], dict, list[str]]:
    """The target's cells (measured) and the configurations measured elsewhere with estimated figures; the fitted
    models (by metric) and notes. InputError for a target the store has no cell of."""
    from ..runtimes import RUNTIMES

    targets = list(dict.fromkeys(r["target"] for r in rows))
    if budget.target not in targets:
        from .targets import not_swept

        raise not_swept(budget.target, targets) if targets else InputError("the sweep has no cell")
    here = [dict(r, estimated=False) for r in rows if r["target"] == budget.target]
    runtimes = runtimes or sorted({r["runtime"] for r in here})
    if budget.runtime is not None:
        if budget.runtime not in runtimes:
            if budget.runtime in RUNTIMES:  # a runtime edgebb knows, which the sweep did not measure there
                raise InputError(f"the sweep measured no {budget.runtime} cell on {budget.target} (it measured "
                                 f"{', '.join(runtimes)} there); sweep it with --runtimes {budget.runtime} to compare")
            raise unknown_name(f"runtime of target {budget.target}", budget.runtime, runtimes)
        runtimes = [budget.runtime]
    measured = [r for r in here if r["status"] == "ok"]  # every runtime: the model has a term for each
    models = {m: fit(measured, m) for m in ("p50_ms", "p90_ms", "p99_ms", "peak_rss_mb")}
    here = [r for r in here if r["runtime"] in runtimes]
    seen = {_config(r) for r in here}
    threads = here[0]["threads"] if here else 1
    estimated, notes = [], []
    for r in rows:
        if r["target"] == budget.target or r["runtime"] not in runtimes or r["status"] != "ok":
            continue
        if _config(r) in seen:
            continue
        seen.add(_config(r))
        guess = dict(r, target=budget.target, threads=threads, estimated=True, emulated=False, software=False,
                     estimated_from=r["target"])
        for metric, model in models.items():
            guess[metric] = model.predict(guess) if model else None
        estimated.append(guess)
    if estimated and models["p50_ms"] is None:
        notes.append(f"{len(estimated)} configuration(s) measured only on other targets, and {budget.target} has "
                     f"too few measured cells ({len(measured)}) to fit a latency model: they are left out")
        estimated = []
    return here + estimated, {m: v.describe() for m, v in models.items() if v}, notes


def _config(r: dict) -> tuple:
    return (r["backbone"], r["width"], r["size"], r["recipe"], r["runtime"])


# ---------------------------------------------------------------------------------------------------- checks


def _over(name: str, value: float, limit: float, unit: str, c: dict) -> str:
    est = "estimated " if c.get("estimated") else ""
    share = 100 * (value - limit) / limit  # "(0%)" read as no violation at all: a small one gets decimals
    shown = f"{share:.0f}%" if share >= 10 else f"{share:.2g}%"
    return f"{est}{name} {apart(value, limit)} {unit} exceeds {limit:g} {unit} by {num(value - limit)} {unit} ({shown})"


def hard_reasons(c: dict, budget: Budget) -> list[str]:
    """Why `c` cannot be the answer whatever its figures: failed, no candidate (edgebb.selection.pareto.exclusions:
    its conversion's check failed or, quantized, was not judged; its float model is at chance), emulated, the
    wrong kind of backbone."""
    if c["status"] != "ok":
        return [f"failed at {c.get('stage') or 'measure'}: {c.get('error')}"]
    # the artifact does not compute what the float model computes, or (quantized) nothing said it does: its check
    # was not judged (random weights, a float model at chance) or is missing; the rule of bench --best. Or the
    # float model cannot be told from guessing: its accuracy is luck, whether or not another model learned.
    out = exclusions(c)
    if (c.get("software") or c.get("emulated")) and not budget.allow_emulated:
        what = "a software GPU" if c.get("software") else "an emulator"
        out.append(f"measured on {what}: not the target's speed (--allow-emulated considers it)")
    strides = [int(s) for s in str(c.get("feature_strides") or "").split(",") if s]
    if budget.task != "classification" and not set(DENSE_STRIDES) <= set(strides):
        missing = ", ".join(str(s) for s in DENSE_STRIDES if s not in strides)
        out.append(f"no stride {missing} feature map (it has {', '.join(map(str, strides))}): {budget.task} needs "
                   "the stride 4-32 feature pyramid")
    if budget.resolution is not None and c["size"] < budget.resolution:
        out.append(f"input {c['size']} px is below --resolution {budget.resolution} by "
                   f"{budget.resolution - c['size']} px")
    if budget.dataset_size is not None and budget.dataset_size < SMALL_DATA:
        out += [why for why in [from_scratch(c, budget.dataset_size)] if why]
    return out


def budget_misses(c: dict, budget: Budget) -> list[dict]:
    """The numeric budgets `c` misses: {"constraint", "value", "limit", "reason", "relative"}."""
    misses = []

    def miss(constraint, value, limit, reason, relative):
        misses.append({"constraint": constraint, "value": value, "limit": limit, "reason": reason,
                       "relative": relative})

    if budget.min_accuracy is not None:
        acc = c.get("accuracy")
        if acc is None:
            miss("accuracy", None, budget.min_accuracy, "accuracy unknown (no --data in the sweep and no published "
                 "figure for this configuration)", float("inf"))
        elif acc < budget.min_accuracy:
            gap = budget.min_accuracy - acc  # "0.438 is below 0.438 by 0.001 (0.1 points)" was 0.4375, 0.05 points
            miss("accuracy", acc, budget.min_accuracy, f"accuracy {apart(acc, budget.min_accuracy)} is below "
                 f"{budget.min_accuracy:g} by {num(gap)} ({num(100 * gap)} points)",
                 (budget.min_accuracy - acc) / budget.min_accuracy)
    for constraint, metric, limit, unit in (("latency", budget.metric, budget.max_latency_ms, "ms"),
                                            ("memory", "peak_rss_mb", budget.max_memory_mb, "MB")):
        if limit is None:
            continue
        value = c.get(metric)
        name = budget.latency if constraint == "latency" else "peak memory"
        if value is None:
            miss(constraint, None, limit, f"{name} unknown (no measurement, no estimate)", float("inf"))
        elif value > limit:
            miss(constraint, value, limit, _over(name, value, limit, unit, c), (value - limit) / limit)
    if budget.max_train_minutes is not None and c.get("train_seconds") is not None:
        minutes = c["train_seconds"] / 60
        if minutes > budget.max_train_minutes:
            miss("training", minutes, budget.max_train_minutes, f"training took {minutes:.1f} min, over "
                 f"--max-train-minutes {budget.max_train_minutes:g} by {minutes - budget.max_train_minutes:.1f} min",
                 (minutes - budget.max_train_minutes) / budget.max_train_minutes)
    return misses


def _rank_key(c: dict, metric: str):
    acc = c.get("accuracy")
    return (-(acc if acc is not None else -1.0), c.get(metric) or float("inf"), c.get("peak_rss_mb") or float("inf"),
            c.get("size_mb") or float("inf"))


def binding(c: dict, budget: Budget) -> dict | None:
    """The budget with the least room left for `c`, and that room."""
    rooms = []
    if budget.max_latency_ms is not None and c.get(budget.metric) is not None:
        v = c[budget.metric]
        rooms.append(("latency", f"{budget.latency} latency", v, budget.max_latency_ms, budget.max_latency_ms - v,
                      "ms", (budget.max_latency_ms - v) / budget.max_latency_ms))
    if budget.max_memory_mb is not None and c.get("peak_rss_mb") is not None:
        v = c["peak_rss_mb"]
        rooms.append(("memory", "peak memory", v, budget.max_memory_mb, budget.max_memory_mb - v, "MB",
                      (budget.max_memory_mb - v) / budget.max_memory_mb))
    if budget.min_accuracy is not None and c.get("accuracy") is not None:
        v = c["accuracy"]
        rooms.append(("accuracy", "accuracy", v, budget.min_accuracy, v - budget.min_accuracy, "",
                      (v - budget.min_accuracy) / max(budget.min_accuracy, 1e-9)))
    if budget.max_train_minutes is not None and c.get("train_seconds") is not None:
        v = c["train_seconds"] / 60
        rooms.append(("training", "training time", v, budget.max_train_minutes, budget.max_train_minutes - v,
                      "min", (budget.max_train_minutes - v) / budget.max_train_minutes))
    if not rooms:
        return None
    constraint, name, value, limit, margin, unit, relative = min(rooms, key=lambda r: r[-1])
    return {"constraint": constraint, "name": name, "value": value, "limit": limit, "margin": margin, "unit": unit,
            "relative": relative}


def within_noise(c: dict, budget: Budget) -> dict | None:
    """The latency budget's margin for `c` when it is within the cell's measured noise: the margin is at most
    spread x the latency (the typical variation of its runs, as a share of the figure), so a measurement again
    could land over the budget and the choice flip. None without a latency budget, a measured spread, or when the
    margin is wider."""
    value, share = c.get(budget.metric), spread(c)
    if budget.max_latency_ms is None or value is None or share is None:
        return None
    margin = budget.max_latency_ms - value
    if margin > share * value:
        return None
    return {"constraint": "latency", "name": f"{budget.latency} latency", "value": value,
            "limit": budget.max_latency_ms, "margin": margin, "relative": margin / budget.max_latency_ms,
            "spread": share, "spread_ms": share * value}


def trade(choice: dict, other: dict, metric: str) -> dict:
    """What `other` gives and takes against `choice`: accuracy points, latency and memory differences."""
    def diff(key):
        a, b = choice.get(key), other.get(key)
        return None if a is None or b is None else b - a

    acc = diff("accuracy")
    return {"accuracy_points": None if acc is None else 100 * acc, "latency_ms": diff(metric),
            "memory_mb": diff("peak_rss_mb"), "size_mb": diff("size_mb")}


# ------------------------------------------------------------------------------------------------ the answer


def _beats(x: dict, c: dict, objectives) -> bool:
    """Whether cell `x` dominates cell `c` on `objectives` (both known on every one)."""
    a, b = (tuple(y.get(k) for k, _ in objectives) for y in (x, c))
    return None not in a and None not in b and dominates(a, b, objectives)


def _runner_up(choice: dict, others: list[dict], objectives) -> dict | None:
    """The best-ranked of `others` that offers a trade against the choice: one it does not dominate (the same model
    on a slower runtime, as accurate and slower, had been the runner-up while the rejected table called it
    dominated). None when the choice dominates them all: the rejected list says so for each."""
    return next((c for c in others if not _beats(choice, c, objectives)), None)


def recommend(rows: list[dict], budget: Budget, *, runtimes: list[str] | None = None) -> Recommendation:
    """The recommendation for `budget` from sweep cells (a store's `view()`); see the module docstring."""
    pool, models, notes = candidates(rows, budget, runtimes)
    metric = budget.metric
    factors = factor_lines(budget)
    rejected, feasible, near = [], [], []
    for c in pool:
        hard = hard_reasons(c, budget)
        misses = budget_misses(c, budget) if not hard else []
        if hard or misses:
            rejected.append({**summary(c), "kind": "excluded" if hard else "violates",
                             "reasons": hard + [m["reason"] for m in misses], "misses": misses})
            if not hard:
                near.append((sum(m["relative"] for m in misses), c, misses))
        else:
            feasible.append(c)
    feasible.sort(key=lambda c: _rank_key(c, metric))
    if feasible and budget.dataset_size is not None and budget.dataset_size < SMALL_DATA:
        best = feasible[0].get("accuracy")
        if best is not None:
            close = [c for c in feasible if c.get("accuracy") is not None and best - c["accuracy"] <= ACCURACY_TIE]
            small = min(close, key=lambda c: (c.get("params") or float("inf"), c.get(metric) or float("inf")))
            if small is not feasible[0]:
                factors.append(f"few images ({budget.dataset_size}): {label(small)} is within "
                               f"{100 * ACCURACY_TIE:g} point of the most accurate ({label(feasible[0])}) with fewer "
                               "parameters, and less capacity overfits less: it is preferred")
                feasible.remove(small)
                feasible.insert(0, small)
    answer = Recommendation(budget, None, rejected=rejected, models=models, factors=factors, notes=notes)
    if not feasible:
        if near:
            _, c, misses = min(near, key=lambda n: n[0])
            answer.closest = {**summary(c), "misses": misses}
        measured = [c for c in pool if c["status"] == "ok"]
        # nothing to ship because no model learned: a model at chance is never the answer (its accuracy is luck)
        answer.all_at_chance = bool(measured) and all(chance_problem(c) for c in measured)
        return answer
    choice = feasible[0]
    answer.choice = summary(choice)
    answer.binding = binding(choice, budget)
    answer.noise = within_noise(choice, budget)
    objectives = (("accuracy", 1), (metric, -1))
    runner = _runner_up(choice, feasible[1:], objectives)
    if runner is not None:
        answer.runner_up = summary(runner)
        answer.trade = trade(choice, runner, metric)
    for c in feasible[1:]:
        # the choice first, as the cell to compare with; each says what dominating means (only the choice's had)
        by = choice if _beats(choice, c, objectives) else next(
            (d for d in feasible if d is not c and _beats(d, c, objectives)), None)
        if by is not None:
            reason, kind = f"dominated by {label(by)} (as accurate or more, and faster or as fast)", "dominated"
        else:
            t = trade(choice, c, metric)
            reason = ("ranked below the choice: " + ", ".join(
                f"{signed(v, digits)} {unit}" for v, digits, unit in (
                    (t["accuracy_points"], 1, "accuracy points"),  # as the runner-up's trade says it
                    (t["latency_ms"], between(choice.get(metric), t["latency_ms"] or 0), f"ms {budget.latency}"))
                if v is not None))
            kind = "ranked"
        rejected.append({**summary(c), "kind": kind, "reasons": [reason], "misses": []})
    estimated = [c for c in (choice, runner) if c and c.get("estimated")]
    estimated += [c for c in feasible[1:] if c is not runner and c.get("estimated") and (c.get("accuracy") or 0) >= (
        choice.get("accuracy") or 0)]
    answer.estimated = bool(choice.get("estimated"))
    answer.to_measure = [summary(c) for c in estimated]
    return answer
