"""Shared bits of the benchmark scripts: argument defaults and writing {"env", "summary", "results"} JSON."""

from __future__ import annotations

import json
import os
import sys


def write_report(path: str, env: dict, summary: dict, results) -> None:
    from edgebb.core.files import write_atomic

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, json.dumps({"env": env, "summary": summary, "results": results}, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def say(message: str) -> None:
    print(message, file=sys.stderr)


def child_row(proc) -> dict:
    """What a benchmark's child process reported: the JSON object it printed last, with status "ok"; or status
    "failed" with the last line of its stderr."""
    if proc.returncode == 0:
        return {**json.loads(proc.stdout.strip().splitlines()[-1]), "status": "ok"}
    lines = proc.stderr.strip().splitlines()
    return {"status": "failed", "error": lines[-1] if lines else f"exit {proc.returncode}"}


def backbones(only: str | None) -> list[str]:
    """The zoo's backbone names matching any of the comma-separated shell patterns in `only` (all without it). A
    pattern that matches no backbone (a typo) ends the script with a one-line error and exit code 2 before any
    work, instead of an empty report."""
    from edgebb.models import list_models

    names: set[str] = set()
    for pattern in (only or "*").split(","):
        found = list_models(pattern.strip())
        if not found:
            say(f"error: --only {pattern.strip()!r} matches no backbone; known: {', '.join(list_models())}")
            sys.exit(2)
        names.update(found)
    return sorted(names)


def count(minimum: int):
    """An argparse type: an integer of at least `minimum`."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}: {value}")
        return value

    return parse


def number(minimum: float, *, above: bool = False):
    """An argparse type: a number of at least `minimum` (more than it with `above`)."""
    import argparse
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {'more than' if above else 'at least'} {minimum:g}: {text}")
        return value

    return parse


def output_file(text: str, markdown: bool = True) -> str:
    """An argparse type: a JSON path that can be written (checked with a probe file, before any work), and the
    Markdown beside it (see json_file for a script that writes none)."""
    import argparse

    from edgebb.core.errors import InputError
    from edgebb.core.files import check_can_write_file

    try:
        for path in (text, os.path.splitext(text)[0] + ".md")[:2 if markdown else 1]:
            check_can_write_file(path)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def json_file(text: str) -> str:
    """An argparse type: a JSON path that can be written, checked before any work."""
    return output_file(text, markdown=False)


def counts(text: str) -> list[int]:
    """An argparse type: comma-separated integers of at least 1 (thread counts)."""
    return [count(1)(part.strip()) for part in text.split(",")]
