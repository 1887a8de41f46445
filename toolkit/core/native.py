"""Keeping native libraries' chatter off the user's terminal.

TensorFlow, LiteRT and ONNX Runtime print notices from C++ straight to file descriptors 1 and 2 ("Created
TensorFlow Lite XNNPACK delegate", oneDNN banners, "could not find cuda drivers"); no environment variable silences
them all, and on stdout they would corrupt a command's JSON. These helpers point the descriptors elsewhere for a
block. Python exceptions are unaffected. EDGEBB_DEBUG=1 shows everything.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


def debugging() -> bool:
    """Whether EDGEBB_DEBUG asks for native output to be shown."""
    return bool(os.environ.get("EDGEBB_DEBUG"))


@contextlib.contextmanager
def stderr_silenced():
    """Point descriptor 2 at /dev/null for the block."""
    if debugging():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def output_captured(log: list[str]):
    """Point descriptors 1 and 2 at a temporary file for the block and append what native code wrote to `log`.

    LiteRT reports which adapter it picked, and why a GPU start failed, only in its native log (its exceptions name
    source lines), and it prints some notices ("Failed to load OpenCL library") on stdout. EDGEBB_DEBUG=1 passes
    the text on to stderr as well."""
    import ctypes

    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    sys.stderr.flush()
    libc.fflush(None)  # what native code printed before the block belongs to the terminal, not to `log`
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            libc.fflush(None)  # C stdio buffers stdout when it is not a terminal: empty it into the capture
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            log.append(text)
            if debugging():
                sys.stderr.write(text)
