"""The terminal a command writes to: results on stdout, progress and notes on stderr.

On a terminal, tables are rich tables and countable work shows a progress bar with an ETA; in a log, a pipe or
with --quiet, tables are plain text and progress is one line per step (none with --quiet). Progress is written to
a copy of descriptor 2 made at start, so it stays visible while native libraries' chatter on descriptor 2 is
silenced (a QAT fine-tune inside a conversion used to run for minutes without a word).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..core.progress import CallbackProgress, Progress, Step
from .tables import Columns, fits, rich_table, table


def _stderr_copy():
    try:
        return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
    except (OSError, ValueError, AttributeError):  # no real descriptor (an embedding, a test harness)
        return sys.stderr


class Terminal:
    """Where a command's output goes. `rich` defaults to whether stdout is a terminal."""

    def __init__(self, *, quiet: bool = False, rich: bool | None = None):
        self.quiet = quiet
        self.rich = (sys.stdout.isatty() if rich is None else rich) and not quiet
        self.err = _stderr_copy()
        self._progress: Progress | None = None

    # ------------------------------------------------------------------------------------------------ results

    def table(self, rows: Sequence[dict[str, Any]], columns: Columns, *, title: str | None = None,
              styles: dict[str, str] | None = None) -> None:
        if self.rich:
            from rich.console import Console

            console, rich = Console(), rich_table(rows, columns, title=title, styles=styles)
            if fits(rich, console):
                console.print(rich)
                return
        print(table(rows, columns, title=title))  # where a rich table would not fit, the terminal wraps whole lines

    def line(self, text: str = "") -> None:
        print(text)

    def lines(self, texts) -> None:
        for text in texts:
            print(text)

    # ----------------------------------------------------------------------------------------------- progress

    def say(self, message: str) -> None:
        """A line on stderr (a note, where a file went), unless quiet."""
        if not self.quiet:
            self.progress().say(message)

    def progress(self) -> Progress:
        """The Progress library calls report to."""
        if self._progress is None:
            if self.quiet:
                self._progress = Progress()
            elif self.err.isatty():
                self._progress = RichProgress(self.err)
            else:
                self._progress = CallbackProgress(lambda message: print(message, file=self.err, flush=True))
        return self._progress

    def close(self) -> None:
        if isinstance(self._progress, RichProgress):
            self._progress.stop()


class RichProgress(Progress):
    """Progress bars with ETA on a terminal (rich), one per running step; narration printed above them."""

    def __init__(self, file):
        from rich.console import Console

        self.console = Console(file=file, stderr=True)
        self._bars = None
        self._open = 0

    def _live(self):
        if self._bars is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as Bars,
            )
            from rich.table import Column

            # The detail (what is running now) takes the width that is left and is cut with an ellipsis: a long one
            # used to squeeze the bar, the count and the ETA out of the line.
            self._bars = Bars(SpinnerColumn(), TextColumn("{task.description}", table_column=Column(no_wrap=True)),
                              BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                              TimeRemainingColumn(),
                              TextColumn("[dim]{task.fields[detail]}", markup=True,
                                         table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                              console=self.console, transient=True, expand=True)
            self._bars.start()
        return self._bars

    def say(self, message: str) -> None:
        if self._bars is not None:
            self._bars.console.print(message, markup=False, highlight=False)
        else:
            self.console.print(message, markup=False, highlight=False)

    def step(self, description: str, total: float | None = None) -> Step:
        bars = self._live()
        task = bars.add_task(description, total=total, detail="")
        self._open += 1
        owner = self

        class _Bar(Step):
            started = time.perf_counter()

            def _update(self, detail, log, amount):
                bars.update(task, completed=self.completed, detail=detail or "")
                if detail and log:
                    bars.console.print(detail, markup=False, highlight=False)

            def close(self):
                bars.remove_task(task)
                owner._open -= 1
                if owner._open == 0:
                    owner.stop()

        return _Bar(description, total)

    def nested(self, indent: str = "  ") -> Progress:
        return _Indented(self, indent)

    def stop(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


class _Indented(Progress):
    """A RichProgress whose narration and bar names are indented under the line that started the work."""

    def __init__(self, outer: RichProgress, indent: str):
        self.outer, self.indent = outer, indent

    def say(self, message: str) -> None:
        self.outer.say(self.indent + message)

    def step(self, description: str, total: float | None = None) -> Step:
        return _IndentedStep(self.outer.step(self.indent + description, total), self.indent)

    def nested(self, indent: str = "  ") -> Progress:
        return _Indented(self.outer, self.indent + indent)


class _IndentedStep(Step):
    """A bar's step whose lines kept above the bars (log=True) are indented like its narration."""

    def __init__(self, inner: Step, indent: str):
        super().__init__(inner.description, inner.total)
        self.inner, self.indent = inner, indent

    def advance(self, amount: float = 1, detail: str | None = None, *, log: bool = False) -> None:
        self.completed += amount
        self.inner.advance(amount, self.indent + detail if detail and log else detail, log=log)

    def close(self) -> None:
        self.inner.close()
