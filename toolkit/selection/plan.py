"""Planning a sweep: every check on its input, before any work and before anything is written.

`make_plan` validates the grid, the targets (a local runtime that cannot run here, a device that cannot be reached
or has no edgebb: one line, exit 2), the data and the output folder, fingerprints the data and the measuring
machines, and lists the cells with their keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..conversion.manifest import converter_revision
from ..core.errors import InputError
from ..core.progress import Progress, as_progress
from .cells import Cell, cell_key, convert_key, data_fingerprint, model_key, tool_versions
from .grid import ModelConfig, SweepOptions, expand
from .reuse import reuse
from .store import FILE, store_path, store_problem
from .targets import TargetSpec, check_local, environment_of, fingerprint, parse_targets

OURS = ("models", "artifacts")  # the folders a sweep makes in OUT besides its store


@dataclass
class Plan:
    """A checked sweep: options, output folder, models, targets with their environments, cells with keys."""

    options: SweepOptions
    out_dir: str
    models: list[ModelConfig]
    targets: list[TargetSpec]
    environments: dict[str, dict]
    cells: list[Cell]
    versions: dict
    data_fingerprint: str | None = None
    data_images: int | None = None
    data_classes: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    converter: str = ""  # the digest of the conversion code its artifacts are made with

    @property
    def data_description(self) -> dict | None:
        if self.options.data is None:
            return None
        return {"path": os.path.abspath(self.options.data), "fingerprint": self.data_fingerprint,
                "images": self.data_images, "classes": self.data_classes}

    def model_key(self, model: ModelConfig) -> str:
        return next(c.model_key for c in self.cells if c.model == model)

    def model_path(self, model: ModelConfig) -> str | None:
        """Where the trained model goes (None when the model is not trained)."""
        if self.options.data is None or self.options.epochs == 0:
            return None
        return os.path.join(self.out_dir, "models", f"{model.slug}_{self.model_key(model)[:8]}.h5")

    def artifact_dir(self, model: ModelConfig) -> str:
        return os.path.join(self.out_dir, "artifacts", f"{model.slug}_{self.model_key(model)[:8]}")

    def spec(self) -> dict:
        """What goes into the store's meta: the options, the targets, the notes (for report and recommend)."""
        return {"options": self.options.to_dict(), "targets": [t.to_dict() for t in self.targets],
                "models": [[m.backbone, m.width, m.size] for m in self.models], "notes": self.notes,
                "data": self.data_description, "versions": self.versions}


def check_output(out_dir: str) -> None:
    """InputError unless a sweep may write into `out_dir`: a new or writable folder whose sweep.sqlite (if any) is
    an edgebb store and whose models/ and artifacts/ (if any) a sweep made. Nothing is created."""
    from ..core.files import check_can_create_dir

    check_can_create_dir(out_dir)
    path = store_path(out_dir)
    if os.path.exists(path):
        problem = store_problem(path)
        if problem:
            raise InputError(f"{path} exists and is not an edgebb sweep store, {problem}; sweep into another folder "
                             "(nothing was changed)")
        return
    for name in OURS:
        if os.path.exists(os.path.join(out_dir, name)):
            raise InputError(f"{os.path.join(out_dir, name)} exists and was not made by edgebb sweep (no {FILE} "
                             "beside it); sweep into another folder (nothing was changed)")


def check_data(data: str) -> None:
    from ..data import scan_folder

    if not os.path.exists(data):
        raise InputError(f"data folder not found: {data}")
    if not os.path.isdir(data):
        raise InputError(f"--data must be a folder of class subfolders: {data}")
    scan_folder(data).require_split("a sweep trains on part of each class and verifies on the rest, so it")


def make_plan(opts: SweepOptions, out_dir: str, progress: Progress | None = None) -> Plan:
    """Check everything and list the cells. Raises InputError (one line) for any bad input; writes nothing."""
    from ..conversion.recipes import RECIPES
    from ..runtimes import RUNTIMES
    from .executors import EXECUTORS

    say = as_progress(progress)
    grid = expand(opts)
    targets = parse_targets(opts.targets, opts.runtimes)
    check_output(out_dir)
    from ..core.files import check_outside

    check_outside(out_dir, opts.data, "output folder")
    EXECUTORS[opts.executor].check(opts, targets)
    data_fp = images = classes = None
    if opts.data is not None:
        check_data(opts.data)
        data_fp, images, classes = data_fingerprint(opts.data)
    environments: dict[str, dict] = {}
    for target in targets:
        if target.local:
            check_local(target)
        if target.device not in environments:
            if not target.local:
                say.say(f"asking {target.remote} for its environment")
            environments[target.device] = environment_of(target)
    versions, converter = tool_versions(), converter_revision()
    notes = list(grid.notes)
    cells: list[Cell] = []
    for model in grid.models:
        trained = opts.train(model.backbone) if opts.data else {"weights": opts.convert["weights"]}
        mkey = model_key(model, trained, data_fp, versions)
        for recipe in opts.recipes:
            made = RECIPES[recipe].formats
            for target in targets:
                for runtime in target.runtimes:
                    fmt = RUNTIMES[runtime].format
                    if fmt not in made:
                        note = f"{recipe} has no {fmt} form: no {recipe} cells on {runtime}"
                        if note not in notes:
                            notes.append(note)
                        continue
                    ckey = convert_key(mkey, recipe, fmt, opts.convert, converter)
                    fp = fingerprint(environments[target.device], target, runtime)
                    cells.append(Cell(cell_key(ckey, runtime, fp, opts.bench), model, mkey, recipe, fmt, ckey, target,
                                      runtime, fp))
    if not cells:
        raise InputError("the grid has no cell: no recipe can be made in the formats of the targets' runtimes")
    for target in targets:
        env = environments[target.device]
        if env.get("emulated"):
            notes.append(f"{target.label} is emulated ({env.get('emulation')}): its latencies measure an emulator")
    return Plan(opts, out_dir, grid.models, targets, environments, cells, versions, data_fp, images, classes, notes,
                converter)


def stage_rows(plan: Plan, nodes: list[dict], done=None) -> list[dict]:
    """What `edgebb sweep --plan` prints: per model the stages the sweep would run, what each asks for, and where it
    could run. `done` (edgebb.selection.reuse.Reuse: what the store holds already) leaves out the finished cells and
    the trainings and conversions the sweep would reuse; None: every stage.

    `nodes`: the machines that could run stages, each {"host", "resources"} (`Executor.nodes_for_plan`). Nothing
    runs and nothing is written."""
    done = done or reuse(plan, None)
    ray = plan.options.executor == "ray"
    driver = next((n["host"] for n in nodes if n.get("driver")), nodes[0]["host"] if nodes else "this machine")

    def where(resource: str | None) -> str:
        if resource is None:
            return ", ".join(n["host"] for n in nodes if n["resources"].get("CPU", 0) >= 1) or "no node with a CPU"
        hosts = [n["host"] for n in nodes if n["resources"].get(resource, 0) >= 1]
        return ", ".join(hosts) or f"no node declares {resource}"

    rows = []
    for model in done.models:
        cells = [c for c in done.todo if c.model == model]
        trained = plan.model_path(model) is not None
        if model not in done.prepared:
            rows.append({"model": model.label, "stage": "train" if trained else "profile",
                         "asks": "1 CPU (+1 GPU where a node has one)" if ray and trained else
                         ("1 CPU" if ray else f"1 of {plan.options.jobs} worker(s)"),
                         "where": where(None), "cells": len(cells)})
        missing = done.to_convert(model)
        if missing:
            formats = ", ".join(dict.fromkeys(f for fs in missing.values() for f in fs))
            rows.append({"model": model.label, "stage": f"convert {', '.join(missing)} ({formats})",
                         "asks": "1 CPU" if ray else f"1 of {plan.options.jobs} worker(s)", "where": where(None),
                         "cells": sum(1 for c in cells if c.convert_key not in done.converted)})
        for target in plan.targets:
            mine = [c for c in cells if c.target == target]
            if not mine:
                continue
            runtimes = ", ".join(dict.fromkeys(c.runtime for c in mine))
            if target.local:
                asks, at = "all CPUs of the driver's machine, alone", driver
            else:
                asks, at = (target.resource, where(target.resource)) if ray else \
                    (f"{target.device}, one model at a time", driver)
            rows.append({"model": model.label, "stage": f"measure on {target.label} ({runtimes})", "asks": asks,
                         "where": at, "cells": len(mine)})
    return rows
