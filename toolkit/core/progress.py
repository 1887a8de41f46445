"""How long work reports itself: one small protocol the library speaks and the terminal layer renders.

Library code takes `progress: Progress | None` and calls `progress.say(line)` for narration and
`with progress.step("converting", total=4) as step: ... step.advance()` for countable work, which a terminal shows
as a bar with an ETA (edgebb.reporting.progress) and a log shows as lines. `as_progress` also accepts a plain
callable taking one message, the form scripts and tests pass.
"""

from __future__ import annotations

from collections.abc import Callable

from . import interrupts


class Step:
    """One countable piece of work; `advance` after each unit (an image, an epoch, an artifact, a row)."""

    def __init__(self, description: str, total: float | None):
        self.description = description
        self.total = total
        self.completed = 0.0

    def advance(self, amount: float = 1, detail: str | None = None, *, log: bool = False) -> None:
        """Count `amount` more units done; `detail` says what was just done (a terminal shows the latest beside
        the bar; `log=True` also keeps it as a line above it, for figures worth scrolling back to)."""
        interrupts.check()  # a Ctrl-C a library swallowed ends the work here (edgebb.core.interrupts)
        self.completed += amount
        self._update(detail, log, amount)

    @property
    def position(self) -> str:
        """"[3/12]": the unit in hand (or just done), for logs; "" when the total is unknown."""
        if not self.total:
            return ""
        done = int(self.completed + 1e-9)  # a step may count part of a unit (a sweep cell whose model is trained)
        whole = abs(self.completed - done) < 1e-9
        current = min(done if whole and self._just_done else done + 1, self.total)
        return f"[{current:g}/{self.total:g}]"

    _just_done = False

    def _update(self, detail: str | None, log: bool, amount: float) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Step:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class Progress:
    """Does nothing: the progress of a library call whose caller did not ask for any."""

    def say(self, message: str) -> None:
        """One line of narration ("building mobilenet_v2")."""

    def step(self, description: str, total: float | None = None) -> Step:
        """A countable piece of work of `total` units (None: unknown), used as a context manager."""
        return Step(description, total)

    def nested(self, indent: str = "  ") -> Progress:
        """This progress for work done on behalf of the current line (a conversion a bench started), indented."""
        return self


class CallbackProgress(Progress):
    """Progress as lines passed to a callable: narration as it comes, a step when it starts and at each detail."""

    def __init__(self, callback: Callable[[str], None]):
        self.callback = callback

    def say(self, message: str) -> None:
        self.callback(message)

    def step(self, description: str, total: float | None = None) -> Step:
        say = self.callback

        class _Lines(Step):
            def _update(self, detail, log, amount):
                self._just_done = amount > 0
                if detail:
                    say(f"{self.position} {detail}".lstrip())

        say(description + (f" ({total:g})" if total else ""))
        return _Lines(description, total)

    def nested(self, indent: str = "  ") -> Progress:
        return CallbackProgress(lambda message: self.callback(indent + message))


def as_progress(progress: Progress | Callable[[str], None] | None) -> Progress:
    """A Progress for whatever a caller passed: a Progress, a callable taking one message, or None."""
    if progress is None:
        return Progress()
    if isinstance(progress, Progress):
        return progress
    return CallbackProgress(progress)
