"""`edgebb sweep`: which backbone to ship, measured. Each (backbone, width, size) of the grid is trained on the data
(or not, without data), converted with each recipe and verified on the held-out split, and benched on each target;
every cell goes into the store (edgebb.selection.store) as soon as it is finished.

The driver plans (edgebb.selection.plan), reuses what is finished (cells in the store, trained models under
OUT/models/, artifacts under OUT/artifacts/<model>/), hands stages to an executor (edgebb.selection.executors) and
is the only writer of the store. A failed stage is a row with its cause, and the sweep goes on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..core.progress import Progress, Step, as_progress
from . import cells as C
from . import stages
from .executors import EXECUTORS, Done, Stage
from .grid import ModelConfig, SweepOptions
from .pareto import LATENCY, pareto
from .plan import Plan, make_plan
from .reuse import FINISHED, STAGES, Reuse, reuse
from .store import IDENTITY, JSON_COLUMNS, Store, started_pretrained


@dataclass
class SweepResult:
    """What a sweep holds: a row per cell of its grid (the store's columns), its notes, and where the store is."""

    out_dir: str
    store_path: str
    rows: list[dict]
    notes: list[str] = field(default_factory=list)
    reused: int = 0
    measured: int = 0
    interrupted: bool = False

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] != "ok"]

    @property
    def retried(self) -> list[dict]:
        """The cells one of whose stages ran again in the run that wrote them (its worker or node died)."""
        return [r for r in self.rows if ((r.get("provenance") or {}).get("executor") or {}).get("retried")]

    @property
    def warnings(self) -> list[str]:
        """What makes the figures less certain than they look, as `edgebb bench` warns about a run: cells
        measured on a throttling device or a busy machine, or whose latencies varied (cells.measure_warnings)."""
        return C.measure_warnings(self.rows)

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(r["target"] for r in self.rows))

    def pareto(self, target: str, runtime: str | None = None, objectives=LATENCY) -> list[dict]:
        """The cells of `target` (and `runtime`) no other cell beats on both accuracy and p50 latency, fastest
        first. `objectives` = edgebb.selection.pareto.MEMORY for the accuracy-vs-peak-memory frontier."""
        return pareto(self.rows, target, runtime, objectives)

    def marked(self) -> list[dict]:
        """The rows with their frontier marks, as the table's P column and the report show them: `pareto_latency`
        (accuracy against p50 on its target) and `pareto_memory` (accuracy against peak memory); whether each is a
        candidate to ship, and if not why (`excluded`: its artifact failed its check, was not judged, or its model
        is at chance, as the table's status says), and its p50's noise (`spread`, a share of p50)."""
        from ..benchmark.rows import noise
        from .pareto import annotate, excluded

        marks = annotate(self.rows)
        out = []
        for r in self.rows:
            why = excluded(r) if r.get("status") == "ok" else f"{r.get('stage') or 'it'} failed: {r.get('error')}"
            out.append({**r, **{f"pareto_{name}": bool(marks.get(r["key"], {}).get(name, {}).get("optimal"))
                                for name in ("latency", "memory")},
                        "candidate": why is None, "excluded": why, "spread": noise(r.get("bench") or {})})
        return out

    def table(self) -> list[dict]:
        """The rows with their frontier marks, without their JSON columns (bench row, verification, provenance):
        what CSV holds."""
        return [{k: v for k, v in r.items() if k not in JSON_COLUMNS} for r in self.marked()]

    def to_dict(self) -> dict:
        return {"schema": "edgebb.sweep-result/1", "store": self.store_path,
                "notes": self.notes + [f"warning: {w}" for w in self.warnings], "cells": self.marked()}

    def save(self, path: str | None = None) -> str:
        """Write the rows as JSON (or CSV, by the suffix) to `path` (default OUT/sweep.json); returns the path."""
        from ..core.files import write_atomic
        from ..core.serialize import to_csv, to_json

        path = path or os.path.join(self.out_dir, "sweep.json")
        if path.endswith(".csv"):
            table = self.table()
            write_atomic(path, to_csv(table, list(table[0]) if table else []))
        else:
            write_atomic(path, to_json(self.to_dict()))
        return path


def sweep(backbones=(), data: str | None = None, output: str = "sweep", options: SweepOptions | None = None, *,
          progress: Progress | None = None, **kwargs) -> SweepResult:
    """Train, convert, verify and measure every cell of a grid and return a SweepResult.

    `backbones` (names, "name@width") and `data` (an image folder; None: published accuracy only) are the grid's
    first axes; `options` (a SweepOptions) and keyword arguments naming its fields (widths=(0.5, 1.0),
    sizes=(128,), recipes="fp32,int8", targets=("cpu:1", "cpu:4"), epochs=3, jobs=2, ...) say the rest.
    Results go to OUT/sweep.sqlite as each cell finishes; a re-run reuses finished cells.

    Raises InputError for bad input, before any work: an unknown backbone, recipe or target, a device that cannot
    be reached, a missing or unusable data folder, an output folder that cannot be written. A cell that fails
    (a conversion error, a runtime crash) is a row with its cause.
    """
    extra = {"backbones": tuple(backbones)} if backbones else {}
    if data is not None:
        extra["data"] = data
    opts = SweepOptions.from_kwargs(options, {**kwargs, **extra})
    plan = make_plan(opts, output, progress)
    return Driver(plan, progress).run()


class Driver:
    """Runs a plan: what to reuse, what to submit next, what to write."""

    def __init__(self, plan: Plan, progress: Progress | None):
        self.plan = plan
        self.say = as_progress(progress)
        self.prepared: dict[ModelConfig, dict] = {}
        self.converted: dict[str, dict] = {}  # convert key -> artifact record
        self.pending: dict[ModelConfig, list[C.Cell]] = {}
        self.measuring: set[str] = set()  # keys of the cells whose measurement was submitted
        self.ran: dict[ModelConfig, dict] = {}  # model -> {stage kind: {"attempts", "node"}} of this run
        self.written = 0
        # The progress bar counts the cells to run; each cell's stages that run now (training, conversion, its
        # measurement: edgebb.selection.reuse) count as equal parts of it, its row written the last. Counting whole
        # cells only, a sweep whose trainings take minutes sat at [1/16] through all of them; counting reused
        # trainings and conversions too, a resumed sweep started at [9/12].
        self.counted: dict[str, float] = {}
        self.reuse: Reuse | None = None

    def run(self) -> SweepResult:
        plan, opts = self.plan, self.plan.options
        with Store.create(plan.out_dir) as store:
            self.store = store
            self.reuse = reuse(plan, store)
            todo, reused = self.reuse.todo, self.reuse.reused
            self.converted.update(self.reuse.converted)
            self.run_id = store.start_run(plan.spec(), [c.key for c in plan.cells], plan.data_fingerprint, plan.notes)
            for cell in todo:
                self.pending.setdefault(cell.model, []).append(cell)
            self.say.say(f"sweep: {self.reuse.summary()}" + (
                "; the count below is of cells: one is done when measured, and its model's training and conversion "
                "(where they run now) count as parts of it" if todo else ""))
            stale = self._stale(store, todo)
            if stale:
                self.say.say(f"{stale} finished cell(s) in {store.path} were converted by other edgebb code: "
                             "converting and measuring them again (their rows stay in the store)")
            executor = EXECUTORS[opts.executor].create(plan, on_start=self._started, on_progress=self._progressed)
            status = "interrupted"
            try:
                # nothing to run (every cell reused): no "cells to run" line with nothing under it
                with (self.say.step("sweep: cells to run", total=len(todo)) if todo else Step("", 0)) as step:
                    self.step = step
                    for model in list(self.pending):
                        self._prepare(model, executor)
                    for outcome in executor.completed():
                        self._handle(outcome, executor)
                status = "finished"
            finally:
                try:  # a Ctrl-C while the pool shuts down (it waits for its workers) must not lose the run's end
                    executor.close(cancel=status != "finished")
                finally:
                    store.finish_run(self.run_id, status)
            rows = store.cells([c.key for c in plan.cells])
        return SweepResult(plan.out_dir, store.path, rows, plan.notes, reused=reused, measured=self.written)

    def _stale(self, store: Store, todo: list[C.Cell]) -> int:
        """How many cells to measure have a finished row of the same configuration, on the same data, whose
        artifact other conversion code made (edgebb.conversion changed since): the sweep is doing them again
        because of that, and should say so."""
        wanted = {(c.model.backbone, c.model.width, c.model.size, c.recipe, c.runtime, c.target.label) for c in todo}
        made_by = {}
        for row in store.cells():
            if row["status"] in FINISHED and row["data_fingerprint"] == self.plan.data_fingerprint:
                converter = (row["provenance"] or {}).get("converter")
                made_by.setdefault(tuple(row[k] for k in IDENTITY), set()).add(converter)
        return sum(1 for i in wanted if i in made_by and self.plan.converter not in made_by[i])

    # ------------------------------------------------------------------------------------------------- stages

    def _started(self, stage: Stage) -> None:
        self.step.advance(0, detail=stage.detail)

    def _progressed(self, stage: Stage, message: str) -> None:
        """What a running stage said (a training's epoch, a conversion's artifact), under the stage it belongs to."""
        message = " ".join(message.split())
        if message:
            self.step.advance(0, detail=f"{stage.detail}: {message}")

    def _prepare(self, model: ModelConfig, executor) -> None:
        plan = self.plan
        key = plan.model_key(model)
        record = self.reuse.prepared.get(model)
        path = plan.model_path(model)
        if record:
            self.prepared[model] = record
            self._convert(model, executor)
            return
        if path is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        opts = plan.options
        task = {"backbone": model.backbone, "width": model.width, "size": model.size, "data": opts.data,
                "epochs": opts.epochs, "output": path, "train": opts.train(model.backbone)}
        verb = "training" if path else "profiling"
        executor.submit(Stage(f"prepare:{key}", "prepare", stages.prepare, task, priority=0,
                              detail=f"{verb} {model.label}", context={"model": model, "key": key}))

    def _convert(self, model: ModelConfig, executor) -> None:
        plan, prep = self.plan, self.prepared[model]
        missing: dict[str, list[str]] = {}
        for cell in self.pending.get(model, []):
            if cell.convert_key not in self.converted and cell.format not in missing.setdefault(cell.recipe, []):
                missing[cell.recipe].append(cell.format)
        missing = {r: f for r, f in missing.items() if f}
        if not missing:
            self._measure(model, executor)
            return
        opts = plan.options
        out_dir = plan.artifact_dir(model)
        task = {"source": prep.get("model_path") or model.backbone, "out_dir": out_dir, "data": opts.data,
                "recipes": missing, "width": model.width, "size": model.size, "classes": prep.get("classes"),
                "weights": opts.convert["weights"] if not prep.get("model_path") else None,
                "calib_samples": opts.calib_samples, "eval_samples": opts.eval_samples, "seed": opts.seed}
        # All recipes in one stage: the model is loaded and its float reference computed once. (One stage per
        # recipe, side by side, measured no faster: TensorFlow's converter already keeps both cores of a 2-core
        # machine busy on a ResNet-50.)
        executor.submit(Stage(f"convert:{out_dir}", "convert", stages.convert, task, priority=1,
                              detail=f"converting {model.label} to {', '.join(missing)}",
                              context={"model": model, "recipes": list(missing)}))

    def _measure(self, model: ModelConfig, executor) -> None:
        by_target: dict[str, list[C.Cell]] = {}
        for cell in self.pending.get(model, []):
            if cell.convert_key in self.converted and cell.key not in self.measuring:
                self.measuring.add(cell.key)
                by_target.setdefault(cell.target.label, []).append(cell)
        for label, group in by_target.items():
            target = group[0].target
            items = list(dict.fromkeys(self.converted[c.convert_key]["path"] for c in group))
            runtimes = [r for r in target.runtimes if any(c.runtime == r for c in group)]
            task = {"items": items, "target": {**target.to_dict(), "runtimes": runtimes},
                    "bench": self.plan.options.bench}
            recipes = "+".join(dict.fromkeys(c.recipe for c in group))
            executor.submit(Stage(f"measure:{model.slug}:{recipes}:{label}", "measure", stages.measure, task,
                                  device=target.device, priority=2,
                                  detail=f"measuring {model.label} on {label}", context={"cells": group}))

    def _handle(self, outcome: Done, executor) -> None:
        stage = outcome.stage
        where = {"attempts": outcome.attempts, **({"node": outcome.node} if outcome.node else {}),
                 **({"seconds": round(outcome.seconds, 3)} if outcome.seconds is not None else {})}
        if stage.kind in ("prepare", "convert"):
            self.ran.setdefault(stage.context["model"], {})[stage.kind] = where
        else:
            for cell in stage.context["cells"]:
                self.ran.setdefault(cell.key, {})["measure"] = where
        if stage.kind == "prepare":
            model = stage.context["model"]
            if outcome.error:
                what = "training" if self.plan.model_path(model) else "building"
                self._fail(self.pending.get(model, []), "train", f"{what} failed: {outcome.error}")
                return
            self.store.put_stage(stage.context["key"], "prepare", model.slug, outcome.result)
            self.prepared[model] = outcome.result
            self._count(self.pending.get(model, []), "prepare", f"{stage.detail}: done")
            self._convert(model, executor)
        elif stage.kind == "convert":
            self._converted(stage.context["model"], stage.context["recipes"], outcome, executor)
        else:
            self._measured(stage.context["cells"], outcome)

    def _converted(self, model: ModelConfig, recipes: list[str], outcome: Done, executor) -> None:
        cells = [c for c in self.pending.get(model, []) if c.recipe in recipes]
        if outcome.error:
            self._fail([c for c in cells if c.convert_key not in self.converted], "convert",
                       f"conversion failed: {outcome.error}")
            return
        results = outcome.result["recipes"]
        for cell in cells:
            if cell.convert_key in self.converted:
                continue
            result = results.get(cell.recipe)
            if result is None:  # the conversion returned nothing for this recipe: a row says so, not a silent gap
                self._fail([cell], "convert", f"the conversion returned no result for {cell.recipe}")
                continue
            if "error" in result:
                self._fail([cell], "convert", f"conversion to {cell.recipe} failed: {result['error']}")
                continue
            artifact = next((a for a in result["artifacts"] if a["format"] == cell.format), None)
            if artifact is None:
                self._fail([cell], "convert", (result.get("refused") or {}).get(cell.format)
                           or f"conversion made no {cell.format} artifact for {cell.recipe}")
                continue
            record = {**artifact, "macs": result["macs"], "params": result["params"], "notes": result["notes"],
                      "random_weights": result["random_weights"], "weights": result.get("weights"),
                      "data": outcome.result.get("data")}
            self.store.put_stage(cell.convert_key, "convert", model.slug, record)
            self.converted[cell.convert_key] = record
        self._count([c for c in cells if c.convert_key in self.converted], "convert")
        self._measure(model, executor)

    def _measured(self, group: list[C.Cell], outcome: Done) -> None:
        if outcome.error:
            self._fail(group, "measure", f"measuring failed: {outcome.error}")
            return
        report = outcome.result
        env = report.get("env", {})
        rows = {(os.path.abspath(r.get("path") or ""), r.get("runtime")): r for r in report.get("results", [])}
        out = []
        for cell in group:
            record = self.converted[cell.convert_key]
            row = self._row(cell, record)
            C.add_measurement(row, rows.get((record["path"], cell.runtime)), env)
            row["provenance"]["bench_notes"] = report.get("notes", [])
            row["provenance"]["bench_warnings"] = report.get("warnings", [])
            out.append(row)
        self._write(out)

    # ------------------------------------------------------------------------------------------------- writing

    def _count(self, cells: list[C.Cell], stage: str, detail: str | None = None) -> None:
        """Move the bar on as the stages before a row finish: each of `cells` counted up to the share of its stages
        run now (edgebb.selection.reuse.Reuse.stages) that `stage` ends."""
        more = 0.0
        for cell in cells:
            runs = self.reuse.stages(cell)
            upto = sum(1 for s in STAGES[:STAGES.index(stage) + 1] if s in runs) / len(runs)
            more += max(0.0, upto - self.counted.get(cell.key, 0.0))
            self.counted[cell.key] = max(upto, self.counted.get(cell.key, 0.0))
        if more:
            self.step.advance(more, detail=detail)

    def _row(self, cell: C.Cell, record: dict | None) -> dict:
        row = C.base_row(cell, self.run_id, self.plan)
        # How each stage of this cell ran in this run (attempts > 1: its worker or node died and it ran again);
        # stages reused from an earlier run are not listed.
        stages_run = {**self.ran.get(cell.model, {}), **self.ran.get(cell.key, {})}
        row["provenance"]["executor"] = {"name": self.plan.options.executor, "stages": stages_run,
                                         "retried": sorted(k for k, v in stages_run.items() if v["attempts"] > 1)}
        C.add_model(row, self.prepared.get(cell.model))
        C.add_artifact(row, record, cell, self.plan.options.data is not None)
        row["pretrained"] = started_pretrained(row.get("weights"))  # what it started from, not what could be had
        return row

    def _fail(self, cells: list[C.Cell], stage: str, error: str) -> None:
        from ..core import interrupts

        interrupts.check()  # a stage that failed as Ctrl-C or SIGTERM came was in flight: lost, not failed
        self._write([C.failed(self._row(c, self.converted.get(c.convert_key)), stage, error) for c in cells])

    def _write(self, rows: list[dict]) -> None:
        if not rows:
            return
        self.store.put_cells(rows)
        self.written += len(rows)
        failed = sum(1 for r in rows if r["status"] != "ok")
        first = rows[0]
        done = sum(1 - self.counted.pop(r["key"], 0.0) for r in rows)
        self.step.advance(done, detail=f"{first.get('backbone')} {first.get('width'):g} @{first.get('size')} "
                                            f"on {first.get('target')}: {len(rows) - failed} ok"
                                            + (f", {failed} failed ({first.get('error') or ''})" if failed else ""),
                          log=True)
