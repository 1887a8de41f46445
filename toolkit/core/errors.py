"""Errors that end a command with a one-line message.

`InputError` is a usage or input problem (exit 2); `CheckFailed` is a verification budget broken (exit 1).
Both subclass ValueError-like bases so library callers can catch them the usual way.
"""

from __future__ import annotations

import difflib


class EdgebbError(Exception):
    """Base class for errors the CLI turns into one line and an exit code."""

    exit_code = 1


class InputError(EdgebbError, ValueError):
    """Bad input from the user: an unknown name, a bad option, a missing or corrupt file, an unwritable output."""

    exit_code = 2


class CheckFailed(EdgebbError):
    """An artifact or measurement failed a check the user asked for (accuracy budget, failed rows)."""

    exit_code = 1


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-blank line of an exception's message (its type name when it has none), for one-line errors."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


def unknown_name(kind: str, name: str, known: list[str]) -> InputError:
    """An InputError for an unknown `name`, listing the close matches (or everything, if none are close)."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=4, cutoff=0.5)
    if close:
        return InputError(f"unknown {kind} {name!r}; did you mean: {', '.join(close)}?")
    return InputError(f"unknown {kind} {name!r}; known: {', '.join(sorted(str(k) for k in known))}")


def os_error(what: str, exc: OSError) -> InputError:
    """One line for a failed file operation: "cannot write out/model.tflite: No space left on device"."""
    return InputError(f"{what}: {exc.strerror or first_line(exc)}")
