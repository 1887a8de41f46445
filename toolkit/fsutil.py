"""Atomic file writes: a temporary name beside the target, then a rename, so an error or Ctrl-C never leaves a
half-written file and never damages the file that was there before."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from .errors import InputError


def check_can_create_dir(path: str) -> str:
    """Raise InputError unless `path` is a writable folder or could be created as one, creating nothing: a command
    that later fails on its input must not leave an empty output folder behind."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise InputError(f"cannot create output folder {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"output folder is not writable: {probe}" if probe == os.path.abspath(path)
                         else f"cannot create output folder {path}: {probe} is not writable")
    return path


def check_writable_dir(path: str) -> str:
    """Create `path` if needed and make sure files can be written there; raise InputError naming it if not."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {path}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"output folder is not writable: {path}")
    return path


@contextlib.contextmanager
def atomic_path(target: str) -> Iterator[str]:
    """Yield a temporary path (same folder, same suffix) to write; on success it replaces `target` atomically,
    on any error (KeyboardInterrupt included) it is removed and `target` is left as it was."""
    folder = os.path.dirname(os.path.abspath(target))
    check_writable_dir(folder)
    base = os.path.basename(target)
    suffix = ".keras" if base.endswith(".keras") else os.path.splitext(base)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".partial{suffix}", dir=folder)
    os.close(fd)
    os.unlink(tmp)  # writers such as Keras want to create the file themselves
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def write_atomic(target: str, data: bytes | str) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())


def _remove(path: str) -> None:
    import shutil

    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)
