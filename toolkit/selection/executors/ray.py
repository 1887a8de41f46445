"""The Ray executor: each stage of a cell is a Ray task, so a sweep spreads over every node of a Ray cluster.

    edgebb sweep ... --executor ray                          an embedded cluster on this machine (ray.init())
    edgebb sweep ... --executor ray --ray-address HOST:PORT  a running cluster (ray start --head, ray start --address)

What each stage asks of the cluster (Ray custom resources are the leases):

- prepare (training) and convert: 1 CPU each, and 1 GPU for training where the cluster has GPUs. TensorFlow in the
  task gets as many threads as CPUs it was given.
- measure on this machine's CPU (cpu:N, litert-gpu, ...): pinned to the driver's node and asking for *all* its CPUs,
  so nothing else Ray schedules runs beside it; while one waits, no new training or conversion is submitted.
- measure on a device (ssh://...): the device's resource, `device:NAME` (NAME: the [[target]] name, else the
  device's host[:port]), declared by the node that can reach it: `ray start ... --resources '{"device:pi-lab-1": 1}'`.
  A device measures one model at a time wherever the task lands. In an embedded cluster this machine declares
  every device of the sweep itself.

Artifacts travel through the output folder, which every node must see at the same path (a shared file system, or
one machine); the executor checks that on every node before any work. Results come back to the driver, the store's
only writer; what a stage says while it runs (a training's epochs, a conversion's steps) comes back through a queue
actor on the driver's node and reaches the progress lines, as with the local executor. A task whose worker or
node died (killed, out of memory, the node lost) is submitted again, up to MAX_ATTEMPTS times, and Ray places it on
a node that is alive; the number of attempts goes into each cell's provenance. Ray is never needed on the devices
themselves: they stay SSH targets driven from a Ray node.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

from ...core.errors import InputError
from . import Done, Executor, Stage

MAX_ATTEMPTS = 3
INSTALL = "pip install 'edgebb[ray]'"


def _ray():
    _send_token()
    try:
        import ray
    except ImportError:
        raise InputError(f"--executor ray needs Ray, which is not installed ({INSTALL})") from None
    return ray


def check_address(address: str) -> None:
    """InputError unless `address` (HOST:PORT) is a Ray head that answers; called before any work."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--ray-address must be HOST:PORT (the head's GCS port, 6379 by default); got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise InputError(f"no Ray head answers at {address} ({exc.strerror or exc}); start one with "
                         f"`ray start --head --port {port}` or fix --ray-address") from None


def _send_token() -> None:
    """Ray (2.59 on) starts a cluster with token authentication but connects to one by address without it unless
    RAY_AUTH_MODE=token, and then retries "InvalidAuthToken" for 20 s before "Failed to connect". Where the mode is
    not set and a token is at hand (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token), it is sent (a cluster
    without authentication accepts it too). Ray reads the mode when it is imported: this runs before."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path)):
        os.environ["RAY_AUTH_MODE"] = "token"


def connect(ray, address: str, **kwargs) -> None:
    """ray.init to the running cluster at `address`; a failure to connect in one line, with what may be missing.
    Ray's own client logs each retry on descriptor 2 while it connects (20 s of "InvalidAuthToken" lines before
    the failure a missing token makes): quiet unless EDGEBB_DEBUG."""
    from ...core.native import stderr_silenced

    try:
        with stderr_silenced():
            ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        mode = os.environ.get("RAY_AUTH_MODE", "disabled")
        raise InputError(f"{exc} (--ray-address {address}; RAY_AUTH_MODE {mode}): a cluster with token "
                         "authentication needs RAY_AUTH_MODE=token and its token here, in RAY_AUTH_TOKEN or the "
                         "head's ~/.ray/auth_token") from None


def _check_devices(declared: dict, devices: dict) -> None:
    for device, resource in devices.items():
        if declared.get(resource, 0) < 1:
            raise InputError(f"no Ray node declares {resource} for {device}: on a node that reaches it over SSH, "
                             f"ray start --address ... --resources '{{\"{resource}\": 1}}'")


def _run(fn, task: dict, stage_id: str, cwd: str, threads_env: bool, progress=None) -> dict:
    """A stage in a Ray worker: the driver's working directory (relative paths), TensorFlow's threads to the CPUs
    this task was given, what the stage says put on `progress` (the driver's queue actor), and any exception as
    {"__error__": one line} like the local executor's."""
    import ray

    if threads_env and "tensorflow" not in __import__("sys").modules:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        threads = str(max(1, int(cpus)))
        os.environ["TF_NUM_INTRAOP_THREADS"] = threads
        os.environ["TF_NUM_INTEROP_THREADS"] = "1"
        os.environ["OMP_NUM_THREADS"] = threads
    if os.path.isdir(cwd):
        os.chdir(cwd)
    node = ray.get_runtime_context().get_node_id()
    from . import local

    result = local._call(fn, task, stage_id, None if progress is None else _Unwaited(progress))
    return {"__node__": node, **result} if isinstance(result, dict) else result


class _Unwaited:
    """The driver's progress queue, put to without waiting for the queue actor's answer. Queue.put_nowait waits in
    ray.get, and a task blocked in ray.get lends its CPUs back to Ray, which starts another task beside it: a
    measurement that had asked for all of this machine's CPUs ran beside another model's measurement or
    conversion each time it reported a row (a new user's sweep: every cell measured at 45-63% busy)."""

    def __init__(self, queue):
        self._actor = queue.actor

    def put_nowait(self, item) -> None:
        self._actor.put_nowait.remote(item)  # not waited for: a line may arrive late, or out of order


def _probe(path: str, token: str) -> tuple[str, str, bool]:
    """On one node: (node id, host name, whether the driver's file `path` holds `token`)."""
    import ray

    try:
        with open(path) as f:
            seen = f.read() == token
    except OSError:
        seen = False
    return ray.get_runtime_context().get_node_id(), socket.gethostname(), seen


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, jobs: int = 1, on_start=None, address: str | None = None, devices: dict | None = None,
                 out_dir: str = ".", on_progress=None):
        super().__init__(jobs, on_start, on_progress)
        self.address = address
        self.devices = devices or {}  # device ("ssh://...") -> Ray resource name
        self.out_dir = os.path.abspath(out_dir)
        self._queue: list[Stage] = []
        self._running: dict = {}  # ObjectRef -> Stage
        self._attempts: dict[str, int] = {}
        self._started = False
        self._ours = False  # whether this executor started the cluster (and so shuts it down)
        self.nodes: dict[str, str] = {}  # node id -> host name
        self._progress = None  # a Ray queue actor on the driver's node: (stage id, message) from running stages

    @classmethod
    def create(cls, plan, on_start=None, on_progress=None) -> RayExecutor:
        opts = plan.options
        devices = {t.device: t.resource for t in plan.targets if not t.local}
        return cls(jobs=opts.jobs, on_start=on_start, address=opts.ray_address, devices=devices, out_dir=plan.out_dir,
                   on_progress=on_progress)

    @staticmethod
    def check(options, targets=()) -> None:
        """Ray installed; with --ray-address, a head that answers and, for every device, a node declaring it."""
        ray = _ray()
        if not options.ray_address:
            return
        check_address(options.ray_address)
        devices = {t.device: t.resource for t in targets if not t.local}
        if not devices:
            return
        connect(ray, options.ray_address, log_to_driver=False, logging_level="ERROR")
        try:
            _check_devices(ray.cluster_resources(), devices)
        finally:
            ray.shutdown()

    @classmethod
    def nodes_for_plan(cls, plan) -> list[dict]:
        """A running cluster's alive nodes (connecting, running nothing); for an embedded one, this machine with
        the devices it would declare."""
        from . import local_node

        if not plan.options.ray_address:
            node = local_node(plan)
            node["resources"].update({t.resource: 1 for t in plan.targets if not t.local})
            return [node]
        ray = _ray()
        connect(ray, plan.options.ray_address, log_to_driver=False, logging_level="ERROR")
        try:
            me = ray.get_runtime_context().get_node_id()
            return [{"host": n.get("NodeManagerHostname") or n.get("NodeManagerAddress"), "driver": n["NodeID"] == me,
                     "resources": n.get("Resources", {})} for n in ray.nodes() if n.get("Alive")]
        finally:
            ray.shutdown()

    # ------------------------------------------------------------------------------------------------ cluster

    def _start(self) -> None:
        if self._started:
            return
        ray = _ray()
        from ...core.native import debugging

        quiet = not debugging()
        if not ray.is_initialized():
            if self.address:
                connect(ray, self.address, log_to_driver=not quiet, logging_level="ERROR")
            else:
                # Ray starts its workers at nice 15 (RAY_worker_niceness): beside any other work on this machine a
                # training ran 8x slower and measurements were taken at low priority. Workers at the driver's own.
                os.environ.setdefault("RAY_worker_niceness", "0")
                ray.init(resources={r: 1 for r in self.devices.values()}, include_dashboard=False,
                         log_to_driver=not quiet, logging_level="ERROR")
                self._ours = True
        self._started = True
        self.driver_node = ray.get_runtime_context().get_node_id()
        self._check_cluster(ray)
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # On the driver's node, so losing another node never loses the queue; no CPU, so it never waits for one.
        self._progress = Queue(maxsize=10000, actor_options={
            "num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(self.driver_node, soft=False)})

    def _check_cluster(self, ray) -> None:
        """Every device resource declared somewhere, and the output folder visible from every node."""
        declared = ray.cluster_resources()
        _check_devices(declared, self.devices)
        self.gpus = declared.get("GPU", 0) > 0
        token = f"{os.getpid()}-{time.time()}"
        probe_path = os.path.join(self.out_dir, f".edgebb-ray-probe-{os.getpid()}")
        os.makedirs(self.out_dir, exist_ok=True)
        with open(probe_path, "w") as f:
            f.write(token)
        try:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            alive = [n for n in ray.nodes() if n.get("Alive")]
            probe = ray.remote(num_cpus=0)(_probe)
            refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                    .remote(probe_path, token) for n in alive]
            for node, host, seen in ray.get(refs, timeout=120):
                self.nodes[node] = host
                if not seen:
                    raise InputError(f"Ray node {host} does not see the output folder {self.out_dir}: artifacts "
                                     "travel through it, so it must be on a file system every node mounts at the "
                                     "same path")
        finally:
            os.unlink(probe_path)

    # --------------------------------------------------------------------------------------------------- tasks

    def submit(self, stage: Stage) -> None:
        self._queue.append(stage)

    def _local_measure_pending(self) -> bool:
        return any(s.device == "local" for s in self._running.values())

    def _options(self, stage: Stage) -> dict:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if stage.heavy:
            return {"num_cpus": 1, "num_gpus": 1 if self.gpus and stage.kind == "prepare" else 0}
        if stage.device == "local":  # this machine's CPU, alone
            import ray

            cpus = next(n["Resources"].get("CPU", 1) for n in ray.nodes() if n["NodeID"] == self.driver_node)
            return {"num_cpus": cpus, "scheduling_strategy":
                    NodeAffinitySchedulingStrategy(self.driver_node, soft=False)}
        return {"num_cpus": 0, "resources": {self.devices[stage.device]: 1}}

    def _launch(self, stage: Stage) -> None:
        import ray

        remote = ray.remote(_run).options(max_retries=0, retry_exceptions=False, **self._options(stage))
        self._attempts[stage.id] = self._attempts.get(stage.id, 0) + 1
        self.on_start(stage)
        ref = remote.remote(stage.fn, stage.task, stage.id, os.getcwd(), stage.heavy, self._progress)
        self._running[ref] = stage

    def _dispatch(self) -> None:
        """Submit what may run now: measurements always (Ray holds them until their lease is free); heavy stages
        unless a measurement on this machine is waiting or running (it would share the CPU, or starve)."""
        for stage in sorted(self._queue, key=lambda s: -s.priority):
            if stage.heavy and (self._local_measure_pending()
                                or any(s.device == "local" for s in self._queue if not s.heavy)):
                continue
            self._queue.remove(stage)
            self._launch(stage)

    def completed(self) -> Iterator[Done]:
        self._start()
        import ray

        while self._queue or self._running:
            self._dispatch()
            if not self._running:
                continue
            ready: list = []
            while not ready:  # relaying what the running stages say while waiting
                ready, _ = ray.wait(list(self._running), num_returns=1, timeout=0.5)
                self._relay()
            for ref in ready:
                stage = self._running.pop(ref)
                done = self._outcome(stage, ref)
                if done is not None:
                    yield done

    def _relay(self) -> None:
        """Pass what the running stages said to on_progress, with the stage that said it."""
        if self._progress is None:
            return
        from ray.exceptions import RayError
        from ray.util.queue import Empty

        by_id = {s.id: s for s in self._running.values()}
        try:
            said = self._progress.get_nowait_batch(self._progress.qsize())
        except (RayError, ValueError, Empty):  # the queue's actor gone: progress lines lost, never the sweep
            return
        for stage_id, message in said:
            if stage_id in by_id:
                self.on_progress(by_id[stage_id], message)

    def _outcome(self, stage: Stage, ref) -> Done | None:
        import ray
        from ray import exceptions as rx

        attempts = self._attempts[stage.id]
        try:
            result = ray.get(ref)
        except (rx.WorkerCrashedError, rx.NodeDiedError, rx.LocalRayletDiedError, rx.ObjectLostError,
                rx.OutOfMemoryError, rx.TaskUnschedulableError, rx.RaySystemError) as exc:
            if attempts < MAX_ATTEMPTS:
                self._queue.append(stage)  # Ray places it on a node that is alive
                return None
            return Done(stage, error=f"the Ray task failed {attempts} times; last: {type(exc).__name__}",
                        attempts=attempts)
        except rx.RayError as exc:
            from ...core.errors import first_line

            # a RayTaskError's own first line is a banner (`ray::_run() (pid=..., ip=...)`); say what was raised
            cause = getattr(exc, "cause", None)
            what = cause if isinstance(cause, BaseException) else exc
            return Done(stage, error=f"{type(what).__name__}: {first_line(what)}", attempts=attempts)
        node_id = result.pop("__node__", None) if isinstance(result, dict) else None
        node = self.nodes.get(node_id) or (node_id[:12] if node_id else None)
        seconds = result.pop("__seconds__", None) if isinstance(result, dict) else None
        if isinstance(result, dict) and "__error__" in result:
            return Done(stage, error=result["__error__"], attempts=attempts, node=node)
        return Done(stage, result=result, attempts=attempts, node=node, seconds=seconds)

    def close(self, cancel: bool = False) -> None:
        if not self._started:
            return
        import ray

        if cancel:
            for ref in list(self._running):
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001  (best effort on the way out)
                    pass
        self._running.clear()
        if self._progress is not None:
            try:
                self._progress.shutdown(force=True)
            except Exception:  # noqa: BLE001  (best effort on the way out)
                pass
            self._progress = None
        if self._ours or self.address:
            ray.shutdown()
        self._started = False
