"""How a sweep's stages run: the seam between the driver (which plans, decides what follows what and is the only
writer of the store) and the places stages run.

A `Stage` is a plain function of `edgebb.selection.stages` with a dict of JSON values (and a `progress` callable
taking one message, which the executor may pass); an executor runs it and reports a `Done` with the returned dict or
a one-line error. What a stage says while it runs (a training's epochs, a conversion's artifacts) reaches
`on_progress(stage, message)` where the executor can carry it back. Executors differ in where stages run and what they
may run at once; the rules every executor keeps:

- at most one measurement at a time per device (`Stage.device`: "local", "ssh://user@host");
- nothing heavy (training, conversion) beside a measurement on this machine's CPU.

`local` (executors/local.py) runs trainings and conversions in a process pool of `jobs` workers and
measurements from the driver. `ray` (executors/ray.py) makes each stage a Ray task, with devices as Ray custom
resources, on an embedded cluster or a running one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ...core.registry import Registry

HEAVY = ("prepare", "convert")


@dataclass
class Stage:
    """One unit of work: `fn(task)` with `task` a dict of JSON values. `device` is where a measurement runs
    (None for heavy stages, which run anywhere); higher `priority` starts first."""

    id: str
    kind: str
    fn: Callable[[dict], dict]
    task: dict
    device: str | None = None
    priority: int = 0
    detail: str = ""
    context: dict = field(default_factory=dict)  # the driver's own bookkeeping; never sent to a worker

    @property
    def heavy(self) -> bool:
        return self.kind in HEAVY


@dataclass
class Done:
    """A finished stage: its result, or `error` (one line) when it raised."""

    stage: Stage
    result: dict | None = None
    error: str | None = None
    attempts: int = 1  # more than 1: the stage's worker or node died and the stage ran again
    node: str | None = None  # where it ran, when the executor spans machines
    seconds: float | None = None  # the stage's own time, inside the worker (scheduling and transfer excluded)


class Executor:
    """The interface: `submit` stages (any time, also while iterating `completed`), iterate `completed` until
    nothing is left, `close` (with `cancel=True` after an interruption: running work is stopped)."""

    name = ""

    def __init__(self, jobs: int = 1, on_start: Callable[[Stage], None] | None = None,
                 on_progress: Callable[[Stage, str], None] | None = None):
        self.jobs = jobs
        self.on_start = on_start or (lambda stage: None)
        self.on_progress = on_progress or (lambda stage, message: None)

    @classmethod
    def create(cls, plan, on_start: Callable[[Stage], None] | None = None,
               on_progress: Callable[[Stage, str], None] | None = None) -> Executor:
        """The executor for a checked plan (edgebb.selection.plan.Plan)."""
        return cls(jobs=plan.options.jobs, on_start=on_start, on_progress=on_progress)

    @staticmethod
    def check(options, targets=()) -> None:
        """InputError for what would stop this executor, found while planning (before any work)."""

    @classmethod
    def nodes_for_plan(cls, plan) -> list[dict]:
        """The machines that could run the plan's stages, each {"host", "resources", "driver"}: for `--plan`."""
        return [local_node(plan)]

    def submit(self, stage: Stage) -> None:
        raise NotImplementedError

    def completed(self) -> Iterator[Done]:
        raise NotImplementedError

    def close(self, cancel: bool = False) -> None:
        pass


EXECUTORS: Registry[type[Executor]] = Registry("executor", key=lambda cls: cls.name)


def _register_builtin() -> None:
    from .local import LocalExecutor
    from .ray import RayExecutor  # imports Ray only when it runs

    EXECUTORS.register(LocalExecutor)
    EXECUTORS.register(RayExecutor)


_register_builtin()


def local_node(plan) -> dict:
    """This machine as a place stages run: its host name and CPUs."""
    import os
    import socket

    return {"host": socket.gethostname(), "driver": True, "resources": {"CPU": os.cpu_count() or 1}}
