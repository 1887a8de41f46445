"""What of a sweep is done already: the finished cells in its store, and the trainings and conversions its stages
recorded whose model file or artifact is still on disk. The driver (edgebb.selection.sweep) runs what is not,
`sweep --plan` lists it, and an interrupted sweep says what it kept, all from the same answers here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import cells as C
from .grid import ModelConfig
from .store import Store, is_store, store_path

FINISHED = ("ok", "failed")
STAGES = ("prepare", "convert", "measure")  # a cell's stages, in order


def finished_statuses(retry_failed: bool) -> tuple[str, ...]:
    """The statuses of a cell a sweep reuses: a failed cell too, unless --retry-failed."""
    return ("ok",) if retry_failed else FINISHED


def model_done(plan, store: Store, model: ModelConfig) -> dict | None:
    """The recorded training (or profile) of `model`, if its trained model file is still there."""
    record = store.stage(plan.model_key(model))
    path = plan.model_path(model)
    return record if record and (path is None or os.path.exists(path)) else None


def artifact_done(store: Store, cell: C.Cell) -> dict | None:
    """The recorded conversion of `cell`'s artifact, if the artifact is still on disk, whole."""
    record = store.stage(cell.convert_key)
    return record if C.artifact_ok(record) else None


@dataclass
class Reuse:
    """A plan against its store: the cells to run (`todo`), how many finished ones are reused, and of the models
    of the cells to run, the trainings (`prepared`) and the artifacts (`converted`, by convert key) reused."""

    plan: object
    todo: list[C.Cell]
    reused: int = 0
    remeasured: int = 0  # of `todo`, the finished cells measured again (--remeasure)
    prepared: dict[ModelConfig, dict] = field(default_factory=dict)
    converted: dict[str, dict] = field(default_factory=dict)

    def stages(self, cell: C.Cell) -> tuple[str, ...]:
        """The stages this run does for `cell`: its measurement, and its training and conversion unless reused."""
        return tuple(s for s in STAGES if not (s == "prepare" and cell.model in self.prepared
                                               or s == "convert" and cell.convert_key in self.converted))

    @property
    def models(self) -> list[ModelConfig]:
        """The models with a cell to run."""
        return list(dict.fromkeys(c.model for c in self.todo))

    def to_convert(self, model: ModelConfig) -> dict[str, list[str]]:
        """recipe -> formats still to convert for `model` (what the driver's conversion stage is given)."""
        missing: dict[str, list[str]] = {}
        for cell in self.todo:
            if cell.model == model and cell.convert_key not in self.converted:
                if cell.format not in missing.setdefault(cell.recipe, []):
                    missing[cell.recipe].append(cell.format)
        return missing

    def summary(self) -> str:
        """"16 cells: 12 reused from OUT/sweep.sqlite, 4 to run (1 of their 2 models trained and 1 converted
        already: reused)": what a sweep's first line and --plan say."""
        plan = self.plan
        total, todo = len(plan.cells), len(self.todo)
        where = store_path(plan.out_dir)
        if not todo:
            return f"{total} cells: all {total} reused from {where}, none to run"
        if self.remeasured:
            text = f"{total} cells: {self.remeasured} to measure again (--remeasure)" + \
                (f", {todo - self.remeasured} to run" if todo > self.remeasured else "") + \
                (f", {self.reused} reused from {where}" if self.reused else "")
        else:
            text = f"{total} cells, all to run" if not self.reused else \
                f"{total} cells: {self.reused} reused from {where}, {todo} to run"
        models = self.models
        trained = sum(1 for m in models if m in self.prepared)
        converted = sum(1 for m in models if not self.to_convert(m))
        verb = "trained" if plan.model_path(models[0]) else "profiled"
        if trained == converted == len(models):
            text += f" ({'their model is' if len(models) == 1 else 'their models are'} {verb} and converted: reused)"
        elif trained or converted:
            parts = [f"{trained} of their {len(models)} models {verb}"] if trained else []
            parts += [f"{converted} converted" if trained else f"{converted} of their {len(models)} models converted"
                      ] if converted else []
            text += f" ({' and '.join(parts)} already: reused)"
        return text


def reuse(plan, store: Store | None, remeasure: bool | None = None) -> Reuse:
    """What of `plan` is done in `store` (None: nothing is); `remeasure` (default: the plan's --remeasure) runs
    the finished cells again."""
    if store is None:
        return Reuse(plan, list(plan.cells))
    statuses = store.statuses()
    done = finished_statuses(plan.options.retry_failed)
    again = ("ok",) if (plan.options.remeasure if remeasure is None else remeasure) else ()
    todo = [c for c in plan.cells if statuses.get(c.key) not in done or statuses.get(c.key) in again]
    out = Reuse(plan, todo, reused=len(plan.cells) - len(todo),
                remeasured=sum(1 for c in todo if statuses.get(c.key) in again))
    for model in out.models:
        record = model_done(plan, store, model)
        if record:
            out.prepared[model] = record
    for cell in todo:
        if cell.convert_key not in out.converted:
            record = artifact_done(store, cell)
            if record:
                out.converted[cell.convert_key] = record
    return out


def read(plan, remeasure: bool | None = None) -> Reuse:
    """`reuse` of the plan's store as it is on disk, without creating one (for --plan and an interrupted sweep)."""
    path = store_path(plan.out_dir)
    if not is_store(path):
        return reuse(plan, None)
    with Store.open(path) as store:
        return reuse(plan, store, remeasure)


def kept(plan) -> str:
    """What an interrupted sweep kept, as it is on disk now, and how to go on: for `edgebb: interrupted; ...`."""
    now = read(plan, remeasure=False)
    total, done = len(plan.cells), now.reused
    where = store_path(plan.out_dir)
    trained = sum(1 for m in now.models if m in now.prepared and plan.model_path(m))
    needed = sum(1 for m in now.models if plan.model_path(m))  # "the trained model of the others" meant 1 of 4
    models = f"model{'s' if needed > 1 else ''} the others need"
    more = "" if not trained else (f" (and the trained {models})" if trained == needed else
                                   f" (and {trained} of the {needed} {models}, trained)")
    # --remeasure measures every finished cell again: without it, the same command goes on from what is kept
    same = "the same command without --remeasure" if plan.options.remeasure else "the same command"
    if done == total and plan.options.remeasure:
        again = remeasured_now(plan)
        return (f"all {total} cells are finished and kept in {where}, {again} of them measured again before it, the "
                f"others with their earlier figures; {same} reuses them as they are, with it measures all {total} "
                "again")
    if done == total:
        return f"all {total} cells are finished and kept in {where}; {same} reuses them"
    if not done:
        if trained:
            return (f"no cell had finished; {trained} trained model(s) are kept in {plan.out_dir}: {same} "
                    f"reuses them and runs the {total} cells")
        return f"no cell had finished: the same command runs the {total} cells"
    return (f"{done} of {total} cells are finished and kept in {where}{more}; {same} reuses them and runs "
            f"the other {total - done}")


def remeasured_now(plan) -> int:
    """How many of the plan's cells the newest run wrote (an interrupted --remeasure: the ones it measured again)."""
    with Store.open(store_path(plan.out_dir)) as store:
        runs = store.runs()
        latest = runs[-1]["id"] if runs else None
        return sum(1 for r in store.cells([c.key for c in plan.cells]) if r.get("run_id") == latest)
