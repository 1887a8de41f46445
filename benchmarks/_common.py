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
