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
    """The zoo's backbone names matching any of the comma-separated shell patterns in `only` (all without it)."""
    from edgebb.models import list_models

    return sorted({n for pattern in (only or "*").split(",") for n in list_models(pattern.strip())})
