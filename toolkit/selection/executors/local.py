"""The local executor: trainings and conversions in a pool of `jobs` worker processes, measurements from the
driver, one at a time per device, and nothing heavy beside a measurement on this machine.

Workers are spawned (not forked: TensorFlow does not survive a fork) and import TensorFlow once each; each gets
`cores // jobs` TensorFlow threads. What a stage says while it runs (a training's epochs, a conversion's steps)
comes back through a queue and reaches `on_progress`, so minutes of training in a worker are not minutes of silence.
They ignore Ctrl-C (the driver decides and stops them) and exit by themselves when the driver dies, even by kill -9.
A worker that dies (a crash, the out-of-memory killer) fails the stages it may have been running after one retry in
a new pool.

Scheduling: a measurement on this machine starts only when no heavy stage is running, and heavy stages never wait
for measurements: a worker left idle for a measurement window would wait for the longest stage of the other workers
(a ResNet-50 training: minutes). Trainings and conversions are stored as they finish, so an interruption loses
only measurements, which are cheap to redo. Measurements on remote devices run in threads beside everything else.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import itertools
import os
import threading
from collections import Counter
from collections.abc import Iterator

from . import Done, Executor, Stage

MAX_ATTEMPTS = 2  # a stage whose worker died is tried once more in a new pool
_PROGRESS = None  # in a worker: the driver's queue for (stage id, message)


def _init_worker(threads: int, parent: int, progress=None) -> None:
    """In each worker: TensorFlow's thread counts, no Ctrl-C, quiet descriptors, exit when the driver is gone, and
    the queue progress goes back through."""
    import signal
    import time

    global _PROGRESS
    _PROGRESS = progress
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ...core.native import debugging

    if not debugging():  # TensorFlow's and the converters' chatter: errors come back as results
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)  # the driver died (kill -9): no one will read our result

    threading.Thread(target=watch, daemon=True).start()


def _call(fn, task: dict, stage_id: str, queue=None) -> dict:
    """Run a stage in a worker; an exception comes back as {"__error__": one line} (some do not pickle). What the
    stage says goes to `queue` as (stage_id, message): given by a Ray task, else this pool worker's (_PROGRESS)."""
    import time

    queue = queue if queue is not None else _PROGRESS

    def say(message: str) -> None:
        try:
            queue.put_nowait((stage_id, str(message)))
        except Exception:  # a full or closed queue costs a progress line, never the stage
            pass

    started = time.perf_counter()
    try:
        result = fn(task, say if queue is not None else None)
        return {**result, "__seconds__": time.perf_counter() - started} if isinstance(result, dict) else result
    except Exception as exc:
        from ...core.errors import EdgebbError, first_line

        message = first_line(exc)
        return {"__error__": message if isinstance(exc, EdgebbError) else f"{type(exc).__name__}: {message}"}


def _timed(stage: Stage, progress=None) -> dict:
    """A measurement in the driver or a thread (exceptions propagate), with its own seconds."""
    import time

    started = time.perf_counter()
    result = stage.fn(stage.task, progress)
    return {**result, "__seconds__": time.perf_counter() - started}


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, jobs: int = 1, on_start=None, on_progress=None):
        super().__init__(jobs, on_start, on_progress)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._progress = None  # the queue workers report progress through (made with the pool)
        self._heavy: list = []  # heap of (-priority, seq, stage)
        self._measures: list[Stage] = []
        self._running: dict[cf.Future, Stage] = {}
        self._busy: set[str] = set()
        self._seq = itertools.count()
        self._attempts: Counter = Counter()

    def submit(self, stage: Stage) -> None:
        if stage.heavy:
            heapq.heappush(self._heavy, (-stage.priority, next(self._seq), stage))
        else:
            self._measures.append(stage)

    # ---------------------------------------------------------------------------------------------------- loop

    def _running_heavy(self) -> int:
        return sum(1 for s in self._running.values() if s.heavy)

    def completed(self) -> Iterator[Done]:
        while self._heavy or self._measures or self._running:
            for stage in list(self._measures):  # remote devices: a thread each, one per device
                if stage.device != "local" and stage.device not in self._busy:
                    self._measures.remove(stage)
                    self._start_thread(stage)
            local = [s for s in self._measures if s.device == "local"]
            if local and not self._running_heavy():
                stage = local[0]
                self._measures.remove(stage)
                yield self._run_here(stage)
                continue
            while self._heavy and self._running_heavy() < self.jobs:
                self._start_heavy(heapq.heappop(self._heavy)[2])
            if not self._running:
                continue
            finished: set = set()
            while not finished:  # relaying the workers' progress while waiting
                finished, _ = cf.wait(list(self._running), timeout=0.5, return_when=cf.FIRST_COMPLETED)
                self._relay()
            for future in finished:
                stage = self._running.pop(future)
                self._busy.discard(stage.device or "")
                done = self._outcome(stage, future)
                if done is not None:
                    yield done

    def _relay(self) -> None:
        """Pass what the workers said to on_progress, with the stage that said it."""
        import queue

        if self._progress is None:
            return
        by_id = {s.id: s for s in self._running.values()}
        for _ in range(1000):
            try:
                stage_id, message = self._progress.get_nowait()
            except (queue.Empty, OSError, ValueError, EOFError):
                return
            if stage_id in by_id:
                self.on_progress(by_id[stage_id], message)

    def _outcome(self, stage: Stage, future: cf.Future) -> Done | None:
        attempts = self._attempts[stage.id] + 1
        try:
            result = future.result()
        except cf.process.BrokenProcessPool:
            self._pool = None  # rebuilt on the next heavy start
            self._attempts[stage.id] += 1
            if self._attempts[stage.id] < MAX_ATTEMPTS:
                self.submit(stage)
                return None
            return Done(stage, error="the worker process died (a crash, or killed for memory) twice",
                        attempts=MAX_ATTEMPTS)
        except Exception as exc:  # a measurement thread's own error
            from ...core.errors import EdgebbError, first_line

            message = first_line(exc)
            return Done(stage, error=message if isinstance(exc, EdgebbError) else f"{type(exc).__name__}: {message}",
                        attempts=attempts)
        seconds = result.pop("__seconds__", None) if isinstance(result, dict) else None
        if isinstance(result, dict) and "__error__" in result:
            return Done(stage, error=result["__error__"], attempts=attempts)
        return Done(stage, result=result, attempts=attempts, seconds=seconds)

    # ------------------------------------------------------------------------------------------------ starting

    def _start_heavy(self, stage: Stage) -> None:
        if self._pool is None:
            import multiprocessing

            threads = max(1, (os.cpu_count() or 1) // self.jobs)
            context = multiprocessing.get_context("spawn")
            self._discard_progress()  # a worker killed mid-put can leave the old queue locked: a new pool, a new queue
            self._progress = context.Queue()
            self._pool = cf.ProcessPoolExecutor(max_workers=self.jobs, mp_context=context, initializer=_init_worker,
                                                initargs=(threads, os.getpid(), self._progress))
        self.on_start(stage)
        try:
            future = self._pool.submit(_call, stage.fn, stage.task, stage.id)
        except cf.process.BrokenProcessPool:
            self._pool = None
            future = cf.Future()
            future.set_exception(cf.process.BrokenProcessPool("the pool broke"))
        self._running[future] = stage

    def _start_thread(self, stage: Stage) -> None:
        future: cf.Future = cf.Future()

        def run():
            try:
                future.set_result(_timed(stage))
            except BaseException as exc:  # noqa: B036  (reported, not raised, in a thread)
                future.set_exception(exc)

        self._busy.add(stage.device)
        self.on_start(stage)
        self._running[future] = stage
        threading.Thread(target=run, daemon=True, name=f"edgebb-{stage.id}").start()

    def _run_here(self, stage: Stage) -> Done:
        """A measurement on this machine, in this thread: Ctrl-C reaches the bench, which stops its worker."""
        self.on_start(stage)
        future: cf.Future = cf.Future()
        try:
            future.set_result(_timed(stage, lambda message: self.on_progress(stage, message)))
        except Exception as exc:
            future.set_exception(exc)
        return self._outcome(stage, future)

    def _discard_progress(self) -> None:
        queue, self._progress = self._progress, None
        if queue is not None:
            queue.close()
            queue.cancel_join_thread()  # never wait on a queue's feeder at exit

    def close(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        try:
            self._shutdown(pool, cancel)
        finally:
            self._discard_progress()

    @staticmethod
    def _shutdown(pool, cancel: bool) -> None:
        if pool is None:
            return
        if cancel:
            for process in list(getattr(pool, "_processes", {}).values()):
                try:
                    process.kill()
                except (OSError, AttributeError):
                    pass
            pool.shutdown(wait=False, cancel_futures=True)
        else:
            pool.shutdown(wait=True)
