"""The `edgebb` command line: each command parses its options into the library's options object, calls the
library, and renders what it returns (edgebb.reporting). TensorFlow is imported only inside commands that build,
train or convert a model, so `edgebb --help` is instant.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..core import interrupts
from ..core.errors import EdgebbError
from ..core.interrupts import Terminated
from .common import state


def _kept(ctx) -> str:
    """"; " and what the interrupted command kept (edgebb.cli.common.on_interrupt), or nothing."""
    kept = state(ctx).kept
    try:
        said = kept() if kept else None
    except Exception:  # an interrupt is no time for a second error
        said = None
    return f"; {said}" if said else ""


class _Group(click.Group):
    """Turns edgebb's errors into one line on stderr and their exit code (2 for bad input and usage errors);
    Ctrl-C into 130 and SIGTERM into 143."""

    def main(self, args=None, prog_name=None, **kwargs):
        interrupts.install()
        try:
            # Without standalone mode, click returns the code of ctx.exit() instead of exiting with it.
            code = super().main(args=args, prog_name=prog_name, standalone_mode=False, **kwargs)
            sys.exit(code if isinstance(code, int) else 0)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("edgebb: interrupted", err=True)
            sys.exit(130)
        except click.exceptions.NoArgsIsHelpError as exc:  # `edgebb` alone, `edgebb data`: the help
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.ClickException as exc:  # usage errors, as one line like every other error
            click.echo(f"edgebb: error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)

    def invoke(self, ctx):
        try:
            result = super().invoke(ctx)
            interrupts.check()  # swallowed by a library in the command's last stretch: still an interrupted run
            return result
        except EdgebbError as exc:
            state(ctx).close()
            click.echo(f"edgebb: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Terminated:
            state(ctx).close()
            click.echo(f"edgebb: terminated{_kept(ctx)}", err=True)
            ctx.exit(143)
        except BrokenPipeError:  # `edgebb list | head`: the reader has all it wanted; nothing to say
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit would fail too
            ctx.exit(141)
        except KeyboardInterrupt:
            state(ctx).close()
            click.echo(f"edgebb: interrupted{_kept(ctx)}", err=True)
            ctx.exit(130)
        except OSError as exc:  # a place that cannot be written or read, found late: still one line
            state(ctx).close()
            click.echo(f"edgebb: error: {exc.filename or ''}{': ' if exc.filename else ''}"
                       f"{exc.strerror or exc}", err=True)
            ctx.exit(2)
        finally:
            state(ctx).close()


def _one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="edgebb")
@click.option("--quiet", "-q", is_flag=True, help="No progress; plain tables.")
@click.pass_context
def cli(ctx, quiet):
    """edgebb: build, quantize, export, verify and benchmark mobile CNN backbones for edge devices."""
    state(ctx).quiet = quiet


from . import bench, convert, data, select, train, zoo  # noqa: E402,F401  (they add their commands to `cli`)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `edgebb` console script and `python -m edgebb`."""
    cli.main(args=argv, prog_name="edgebb")


if __name__ == "__main__":
    main(sys.argv[1:])
