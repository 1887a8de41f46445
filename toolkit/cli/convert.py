"""`edgebb convert`: a backbone or a saved model to verified .tflite / .onnx artifacts."""

from __future__ import annotations

import os
import time

import click

from ..core.errors import CheckFailed, InputError
from ..core.serialize import to_json
from . import cli
from .common import (
    MODEL_OPTIONS,
    at_width,
    check_positive,
    on_interrupt,
    quiet_option,
    terminal,
    with_options,
    written_since,
)


@cli.command()
@click.argument("source")
@click.option("--output", "-o", "out_dir", required=True, type=click.Path(),
              help="Folder for one model's artifacts and their manifest.json.")
@click.option("--data", "-d", type=click.Path(), default=None,
              help="Image folder, one subfolder per class: calibration and held-out evaluation.")
@click.option("--recipe", "-r", "recipes", default="fp32,int8", show_default=True,
              help="Comma-separated: fp32, fp16, dynamic, int8, int16x8, int8-qat.")
@click.option("--format", "-f", "formats", default="tflite", show_default=True, help="Comma-separated: tflite, onnx.")
@with_options(MODEL_OPTIONS[:2])
@click.option("--classes", "-c", type=int, default=None, callback=check_positive,
              help="Output classes of a backbone [default: the data's classes, else 1000].")
@click.option("--weights", default=None, help='Backbone weights: "imagenet" or a weights file; random if omitted.')
@click.option("--io-dtype", default="int8", show_default=True, help="int8 TFLite input/output: int8, uint8, float32.")
@click.option("--calib-samples", type=int, default=200, show_default=True, help="Calibration images.")
@click.option("--calib-method", default="minmax", show_default=True, help="ONNX int8: minmax, entropy, percentile.")
@click.option("--onnx-weight-bits", default="auto", show_default=True,
              help="int8 ONNX weights: 8 (TFLite's), 7 (x86 without VNNI), or auto: 7 only on such a CPU.")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds weights, data split and calibration.")
@click.option("--max-drop", type=float, default=1.0, show_default=True,
              help="Top-1 points an artifact may lose against the float model.")
@click.option("--min-agreement", type=float, default=90.0, show_default=True,
              help="Top-1 agreement with the float model an artifact must keep, in %.")
@click.option("--auto-fallback", is_flag=True, help="Keep the worst int8 layers in float until the budget holds.")
@click.option("--qat-epochs", type=int, default=3, show_default=True,
              help="int8-qat from a float model: epochs of quantization-aware fine-tuning on --data.")
@click.option("--qat-lr", type=float, default=1e-4, show_default=True, help="int8-qat: fine-tuning learning rate.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON instead of a table.")
@quiet_option
def convert(source, out_dir, data, as_json, **options):
    """Convert SOURCE (a backbone name or a .keras/.h5/SavedModel) to verified .tflite/.onnx artifacts."""
    from ..conversion import ConvertOptions
    from ..conversion import convert as run
    from ..reporting.results import CONVERT_COLUMNS, convert_lines, convert_rows

    source, options["width"] = at_width(source, options["width"])
    _model_file_has_its_own(source)
    opts = ConvertOptions(**{k: v for k, v in options.items()})
    started = time.time()
    manifest = os.path.join(out_dir, "manifest.json")
    on_interrupt(lambda: f"the artifacts finished before it are kept in {out_dir}, listed in its manifest.json"
                 if written_since(manifest, started) else None)
    term = terminal()
    result = run(source, out_dir, data, opts, progress=term.progress())
    if as_json:
        click.echo(to_json(result.manifest), nl=False)
    else:
        term.table(convert_rows(result), CONVERT_COLUMNS)
        term.lines(convert_lines(result))
    problems = [reason for _, reason in result.refused]
    if result.failed:
        names = "; ".join(f"{os.path.basename(a.path)} ({a.verification.failed_because})" for a in result.failed)
        problems.append(f"over budget: {names}")
    if problems:
        raise CheckFailed("; ".join(problems))


def _model_file_has_its_own(source: str) -> None:
    """A saved model brings its width, input size, classes and weights: those options, given for one, were ignored
    without a word (a new user's -s 96 converted at the model's 64 px)."""
    from click.core import ParameterSource

    from ..conversion.source import looks_like_path

    context = click.get_current_context()
    given = [f"--{name}" for name in ("width", "size", "classes", "weights")
             if context.get_parameter_source(name) == ParameterSource.COMMANDLINE]
    if given and looks_like_path(source):
        verb = "chooses" if len(given) == 1 else "choose"
        raise InputError(f"{', '.join(given)} {verb} a backbone's configuration; {source} is a saved model that has "
                         "its own (leave them out)")
