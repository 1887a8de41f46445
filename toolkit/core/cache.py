"""Where edgebb keeps what it can make again: converted backbones for `bench NAME`, `list`'s profiles, the
emulated Raspberry Pi's sysroot, the measured compute peak. One root, shown and cleared by `edgebb cache`.

The root is $EDGEBB_CACHE, else $XDG_CACHE_HOME/edgebb, else ~/.cache/edgebb.
"""

from __future__ import annotations

import os
import shutil


def cache_root() -> str:
    """The folder edgebb caches under (not created here)."""
    explicit = os.environ.get("EDGEBB_CACHE")
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "edgebb")


def cache_dir(*parts: str) -> str:
    """A path under the cache root (not created here)."""
    return os.path.join(cache_root(), *parts)


def folder_bytes(path: str) -> int:
    """Bytes of the files under `path` (0 when it does not exist)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def cache_usage() -> list[dict]:
    """One row per entry directly under the cache root: name, bytes."""
    root = cache_root()
    if not os.path.isdir(root):
        return []
    rows = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        rows.append({"name": name, "path": path,
                     "bytes": folder_bytes(path) if os.path.isdir(path) else os.path.getsize(path)})
    return rows


def clear_cache(names: list[str] | None = None) -> int:
    """Remove the named entries under the cache root (all of them by default); returns the bytes freed."""
    freed = 0
    for row in cache_usage():
        if names and row["name"] not in names:
            continue
        freed += row["bytes"]
        if os.path.isdir(row["path"]) and not os.path.islink(row["path"]):
            shutil.rmtree(row["path"], ignore_errors=True)
        else:
            os.unlink(row["path"])
    return freed
