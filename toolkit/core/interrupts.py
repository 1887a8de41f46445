"""Ctrl-C and SIGTERM that end the command even where a library swallows them.

The signal handlers raise KeyboardInterrupt (SIGTERM: `Terminated`, its subclass) where Python code runs next. Some
code edgebb calls catches everything: tf2onnx reads each node's attributes inside a bare `except:`, so an interrupt
that lands there vanishes and the conversion ran to the end (CI saw it: a Ctrl-C during an ONNX export, exit 0). The
handlers therefore also record the signal, and `check()` raises it again at edgebb's own checkpoints: every
progress step's advance, which every long loop (epochs, artifacts, images, rows) makes.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python code runs next, so the same clean-up as Ctrl-C happens (no partial files, no
    orphaned worker processes) and the command exits 143."""


_pending: int | None = None
_deferred = 0


def _raise(signum: int) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt


def _handle(signum, frame) -> None:
    global _pending
    _pending = signum
    _quiet_teardown()
    if not _deferred:
        _raise(signum)


def install() -> None:
    """Handle SIGTERM, and SIGINT unless it is ignored (a shell's `nohup` or `&`): the command's main thread only."""
    signal.signal(signal.SIGTERM, _handle)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _handle)


def pending() -> bool:
    """Whether an interrupt came (and is deferred, or was swallowed): long loops stop at their next safe point."""
    return _pending is not None


def check() -> None:
    """Raise the interrupt again if one came and something swallowed it. Only the main thread raises: a worker
    thread's stage is torn down by the main thread's clean-up, not by an exception of its own."""
    if _pending is not None and threading.current_thread() is threading.main_thread():
        _raise(_pending)


@contextlib.contextmanager
def deferred():
    """A stretch an interrupt must not split (an artifact and the manifest line that describes it): a signal that
    comes inside it is raised when it ends."""
    global _deferred
    _deferred += 1
    try:
        yield
    finally:
        _deferred -= 1
    check()


def _quiet_teardown() -> None:
    """Objects the interrupt left half-built are torn down afterwards, and their __del__ may fail (TensorFlow's
    ApiDefMap interrupted in __init__: "Exception ignored in ... AttributeError", with a traceback, after edgebb's
    one line; CI saw it). Such errors say nothing about the user's work: keep them out."""
    sys.unraisablehook = lambda unraisable: None
