"""Files written so that nothing the user had is lost and nothing half-written is left behind.

Every output is checked before any work starts, by creating and removing a small probe file where it will go
(`os.access` answers yes to root on a read-only mount, and a full disk only shows when bytes are written).
Writes go to a temporary name beside the target and are renamed over it at the end, so an error or Ctrl-C never
leaves a half-written file and never damages the file that was there before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator

from .errors import InputError, os_error

PROBE_BYTES = 4096  # enough to hit a full disk, small enough to cost nothing


def _existing_ancestor(path: str) -> str:
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return probe


def probe_writable(folder: str) -> None:
    """Raise OSError unless a file can be created, written and removed in existing `folder`.

    A virtual file system such as /proc refuses a new file with ENOENT, whose text, "No such file or directory",
    names the wrong reason for a folder that is there: that error says what happened instead."""
    try:
        fd, name = tempfile.mkstemp(prefix=".edgebb-probe-", dir=folder)
    except FileNotFoundError as exc:
        if not os.path.isdir(folder):  # removed meanwhile: the OS's words are the truth
            raise
        raise OSError(exc.errno, "a virtual file system that takes no new files", folder) from exc
    try:
        os.write(fd, b"\0" * PROBE_BYTES)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(name)


def check_can_create_dir(path: str, what: str = "output folder") -> str:
    """Raise InputError unless `path` is a writable folder or could be created as one, creating nothing: a command
    that later fails on its input must not leave an empty output folder behind."""
    ancestor = _existing_ancestor(path)
    if not os.path.isdir(ancestor):
        if ancestor == os.path.abspath(path):
            raise InputError(f"{what} {path} is a file, not a folder")
        raise InputError(f"cannot create {what} {path}: {ancestor} is not a folder")
    try:
        probe_writable(ancestor)
    except OSError as exc:
        if ancestor == os.path.abspath(path):
            raise os_error(f"cannot write in {what} {path}", exc) from exc
        raise os_error(f"cannot create {what} {path}: cannot write in {ancestor}", exc) from exc
    return path


def check_outside(path: str, data: str | None, what: str, *, file: bool = False, folder: str = "data folder") -> None:
    """InputError when output `path` (a folder, existing or not) is the image folder `data` or inside it, or for a
    `file`, when it would go into one of its subfolders (beside the class folders a file is not read): what edgebb
    writes there becomes part of the data (a sweep's models/ was read as an empty class, and every later command
    on the folder failed)."""
    if not data:
        return
    out, root = os.path.realpath(os.path.dirname(os.path.abspath(path)) if file else path), os.path.realpath(data)
    if out == root and not file or out.startswith(root.rstrip(os.sep) + os.sep):
        where = f"the {folder} itself" if out == root else f"inside the {folder} {data}"
        raise InputError(f"{what} {path} is {where}: what edgebb writes there would become part of the data (a "
                         "folder in it is read as a class); choose a place outside it (nothing was changed)")


def check_can_write_file(path: str, what: str = "output file") -> str:
    """Raise InputError unless a file could be written at `path` (its folder may not exist yet), creating nothing."""
    if os.path.isdir(path):
        raise InputError(f"{what} {path} is a folder")
    ancestor = _existing_ancestor(os.path.dirname(os.path.abspath(path)))
    if not os.path.isdir(ancestor):
        raise InputError(f"cannot write {what} {path}: {ancestor} is not a folder")
    try:
        probe_writable(ancestor)
    except OSError as exc:
        raise os_error(f"cannot write {what} {path} (in {ancestor})", exc) from exc
    return path


def check_writable_dir(path: str) -> str:
    """Create `path` if needed and make sure files can be written there; raise InputError naming it if not."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError as exc:
        raise InputError(f"cannot create output folder {path}: a file is in the way") from exc
    except OSError as exc:
        raise os_error(f"cannot create output folder {path}", exc) from exc
    try:
        probe_writable(path)
    except OSError as exc:
        raise os_error(f"cannot write in output folder {path}", exc) from exc
    return path


# Errors that mean "this place cannot be written", as opposed to a bug or a bad input read elsewhere.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO,
                 errno.ENOTDIR, errno.EISDIR}


@contextlib.contextmanager
def atomic_path(target: str) -> Iterator[str]:
    """Yield a temporary path (same folder, same suffix) to write; on success it replaces `target` atomically,
    on any error (KeyboardInterrupt included) it is removed and `target` is left as it was.

    A write failure (full disk, read-only place) becomes one InputError line naming `target`."""
    folder = os.path.dirname(os.path.abspath(target))
    check_writable_dir(folder)
    base = os.path.basename(target)
    suffix = ".keras" if base.endswith(".keras") else os.path.splitext(base)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".partial{suffix}", dir=folder)
    except OSError as exc:
        raise os_error(f"cannot write {target}", exc) from exc
    os.close(fd)
    os.unlink(tmp)  # writers such as Keras want to create the file themselves
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        if exc.errno in _WRITE_ERRNOS:
            raise os_error(f"cannot write {target}", exc) from exc
        raise
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
