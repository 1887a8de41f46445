"""What every command shares: the terminal it writes to (made on first use, so --quiet given to the group or to
the command both count), shared options, and writing result files without losing the results."""

from __future__ import annotations

import os

import click

from ..core.errors import InputError


class _State:
    def __init__(self):
        self.quiet = False
        self._terminal = None
        self.kept = None  # () -> what an interrupted command kept and how to go on, or None (see `on_interrupt`)

    @property
    def terminal(self):
        if self._terminal is None:
            from ..reporting.terminal import Terminal

            self._terminal = Terminal(quiet=self.quiet)
        return self._terminal

    def close(self):
        if self._terminal is not None:
            self._terminal.close()


def state(ctx: click.Context) -> _State:
    root = ctx.find_root()
    if not isinstance(root.obj, _State):
        root.obj = _State()
    return root.obj


def on_interrupt(kept) -> None:
    """Say, when the current command is interrupted, what it kept: `kept()` is called then (the files it names
    may exist by then or not) and returns a sentence, or None for nothing to say."""
    state(click.get_current_context()).kept = kept


def written_since(path: str, started: float) -> bool:
    """Whether `path` exists and was written at or after `started` (time.time()): this run's, not an older one."""
    import os

    try:
        return os.path.getmtime(path) >= started - 1.0
    except OSError:
        return False


def terminal():
    """The current command's Terminal."""
    return state(click.get_current_context()).terminal


def quiet_option(fn):
    """--quiet / -q on a command (as on the group)."""

    def callback(ctx, param, value):
        if value:
            state(ctx).quiet = True
        return value

    return click.option("--quiet", "-q", is_flag=True, expose_value=False, callback=callback, is_eager=True,
                        help="No progress; plain tables.")(fn)


def check_positive(ctx, param, value):
    if value is not None and value < 1:
        raise click.BadParameter(f"must be at least 1; received {value}")
    return value


def existing_source(what: str, hint: str = ""):
    """A callback for a SOURCE argument that must exist: the command line's arguments are read before click finds a
    missing option, so `recommend nosuch/` says the folder is missing rather than asking for --target first."""
    def callback(ctx, param, value):
        if value is not None and not os.path.exists(value):
            raise InputError(f"{what} not found: {value}{hint}")
        return value

    return callback


MODEL_OPTIONS = [
    click.option("--width", "-w", type=float, default=1.0, show_default=True, help="Width multiplier."),
    click.option("--size", "-s", type=int, default=224, show_default=True, help="Input size (square)."),
    click.option("--classes", "-c", type=int, default=1000, show_default=True, callback=check_positive,
                 help="Number of output classes."),
]


def at_width(name: str, width: float) -> tuple[str, float]:
    """(backbone, width) of a NAME argument given as bench and sweep take one, "mobilenet_v2@0.35", or as it is
    with --width; a file's path is left alone. InputError for a width that is not one number, or that --width
    contradicts."""
    import os

    from ..core.checks import parse_widths, split_width

    if "@" not in name or os.sep in name or os.path.exists(name):
        return name, width
    base, text = split_width(name)
    try:
        widths = parse_widths(name, text) if text else ()
    except InputError:
        widths = ()
    if len(widths) != 1:
        raise InputError(f"{name}: give one width after the @, a number (e.g. {base}@0.5)")
    context = click.get_current_context()
    from click.core import ParameterSource

    if context.get_parameter_source("width") == ParameterSource.COMMANDLINE and width != widths[0]:
        raise InputError(f"{name} and --width {width:g} name two widths; give one")
    return base, widths[0]


def with_options(options):
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def check_outputs(*paths: str | None, inputs: dict[str, str] | None = None) -> None:
    """Every results file (JSON, CSV) a command will write, checked before any work (a probe file where it will go).
    A results file replaces only an earlier results file (or an empty one): never one of the command's `inputs`
    ({path: what it is to the command}, the store a sweep will write included), nor a file that holds anything
    else (`--json OUT/sweep.sqlite` once replaced a sweep's store with its table, `--json grid.toml` a sweep's
    config); two outputs are never one file."""
    from ..core.files import check_can_write_file

    seen: dict[str, str] = {}
    for path in paths:
        if not path or path == "-":
            continue
        check_can_write_file(path)
        real = os.path.realpath(path)
        if real in seen:
            raise InputError(f"{path} is named for two outputs ({seen[real]} and {path}): one would replace the other")
        seen[real] = path
        kind = next((what for p, what in (inputs or {}).items() if p and os.path.realpath(p) == real), None)
        kind = kind or (_not_results(path) if os.path.isfile(path) else None)
        if kind:
            raise InputError(f"{path} is {kind}: writing results there would destroy it; choose another file "
                             "(nothing was changed)")


RESULT_SCHEMAS = ("edgebb.bench/", "edgebb.sweep-result/", "edgebb.recommendation/")


def _not_results(path: str) -> str | None:
    """What the existing file at `path` is, unless it is one a results file may replace: empty, a results JSON edgebb
    wrote (by its schema), or a CSV table (a header of column names)."""
    import re

    from ..core.formats import format_for
    from ..selection.store import is_store

    if os.path.getsize(path) == 0:
        return None
    if format_for(path) is not None:
        return "a model file"
    if is_store(path):
        return "an edgebb sweep store"
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return "a file that is not an edgebb results file"
    schema = re.match(r'\s*\{\s*"schema"\s*:\s*"([^"]*)"', head)  # edgebb writes its schema first
    if schema and schema.group(1).startswith(RESULT_SCHEMAS):
        return None
    if schema and schema.group(1).startswith("edgebb.manifest"):
        return "a conversion's manifest"
    if not schema and re.fullmatch(r"[a-z0-9_]+(,[a-z0-9_]+)+", head.split("\n", 1)[0].strip()):
        return None  # a CSV table edgebb wrote (its header: column names)
    return "a file that is not an edgebb results file"


def write_outputs(outputs: list[tuple[str | None, str]], results_json: str) -> None:
    """Write each (path, text); one that cannot be written loses nothing: its own text goes to a temporary file
    of its kind (and the whole JSON, where no JSON output holds it), the others are written, and the error names
    where each went (a CSV had been dropped without a word when the JSON was rescued)."""
    import tempfile

    from ..core.files import write_atomic

    def rescue(text: str, suffix: str) -> str:
        fd, path = tempfile.mkstemp(prefix="edgebb-results-", suffix=suffix)
        with open(fd, "w") as f:
            f.write(text)
        return path

    failed, rescued = None, []
    for path, text in outputs:
        if not path:
            continue
        try:
            write_atomic(path, text)
        except InputError as exc:
            failed = failed or exc
            rescued.append((path, rescue(text, os.path.splitext(path)[1] or ".txt")))
            continue
        terminal().say(f"wrote {path}")
    if failed is None:
        return
    if not any(path and text == results_json for path, text in outputs):  # a table alone: the whole result too
        rescued.append(("the results", rescue(results_json, ".json")))
    raise InputError(f"{failed}; saved instead: " + "; ".join(f"{p} to {r}" for p, r in rescued)) from failed
