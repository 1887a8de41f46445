"""What every command shares: the terminal it writes to (made on first use, so --quiet given to the group or to
the command both count), shared options, and writing result files without losing the results."""

from __future__ import annotations

import os
import re

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


def check_outputs(json_path: str | None, csv_path: str | None = None, *, kind: tuple[str, str],
                  inputs: dict[str, str] | None = None, data: tuple[str, ...] = ()) -> None:
    """The results files a command will write (`--json`, `--csv`), checked before any work (a probe file where
    each will go). A results file replaces only an empty file or an earlier one of its own `kind` ((JSON schema,
    CSV's first column): a bench JSON, which may hold a Pi's measurements, is no recommendation's to replace, nor
    a user's `filename,label` CSV or a training log a sweep table's); never one of the command's `inputs` ({path:
    what it is to the command}, the store a sweep will write included); never in a subfolder of an image folder in
    `data` (a results file in a new folder there made it a class); and two outputs are never one file."""
    from ..core.files import check_can_write_file, check_outside

    seen: dict[str, str] = {}
    for path, earlier in ((json_path, _earlier_json(kind[0])), (csv_path, _earlier_csv(kind[1]))):
        if not path or path == "-":
            continue
        check_can_write_file(path)
        for folder in data:
            check_outside(path, folder, "results file", file=True)
        real = os.path.realpath(path)
        if real in seen:
            raise InputError(f"{path} is named for two outputs ({seen[real]} and {path}): one would replace the other")
        seen[real] = path
        what = next((what for p, what in (inputs or {}).items() if p and os.path.realpath(p) == real), None)
        if what is None and os.path.isfile(path) and os.path.getsize(path) and not earlier(_head(path)):
            what = _what_it_holds(path, kind)
        if what:
            raise InputError(f"{path} is {what}: writing results there would destroy it; choose another file "
                             "(nothing was changed)")


def _head(path: str) -> str:
    with open(path, "rb") as f:
        return f.read(4096).decode("utf-8", "replace")


def _earlier_json(schema: str):
    """Whether a file's head is a results JSON of `schema` (edgebb writes the schema first)."""
    return lambda head: bool(re.match(r'\s*\{\s*"schema"\s*:\s*"' + re.escape(schema), head))


def _earlier_csv(first_column: str):
    """Whether a file's head is a CSV table whose header starts with `first_column` (this command's)."""
    return lambda head: bool(re.fullmatch(re.escape(first_column) + r"(,[a-z0-9_]+)+", head.split("\n", 1)[0].strip()))


def _what_it_holds(path: str, kind: tuple[str, str]) -> str:
    """What an existing file a results file may not replace is, in a few words (`kind` as check_outputs takes it:
    this command's own table given for its JSON, or its JSON for its table, is named as such)."""
    from ..core.formats import format_for
    from ..selection.store import is_store

    if kind[1] and _earlier_csv(kind[1])(_head(path)):
        return "this command's earlier CSV table (--json writes JSON)"
    if _earlier_json(kind[0])(_head(path)):
        return "this command's earlier JSON result (--csv writes a table)"

    if format_for(path) is not None:
        return "a model file"
    if is_store(path):
        return "an edgebb sweep store"
    schema = re.match(r'\s*\{\s*"schema"\s*:\s*"([^"]*)"', _head(path))
    if schema and schema.group(1).startswith("edgebb.manifest"):
        return "a conversion's manifest"
    if schema and schema.group(1).startswith("edgebb."):
        return f"another kind of edgebb result ({schema.group(1)})"
    return "a file that is not an earlier result of this command"


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
