"""`edgebb train`: transfer learning and quantization-aware training on an image folder."""

from __future__ import annotations

import os
import time

import click

from . import cli
from .common import MODEL_OPTIONS, at_width, on_interrupt, quiet_option, terminal, with_options, written_since


@cli.command()
@click.argument("name")
@click.option("--data", "-d", required=True, type=click.Path(), help="Image folder, one subfolder per class.")
@click.option("--output", "-o", required=True, type=click.Path(), help="Model file (.keras).")
@with_options(MODEL_OPTIONS[:2])
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=None,
              help="Learning rate (fine-tuning uses a tenth) [default: the backbone's, 0.001; SqueezeNet 0.0003].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--val-split", type=float, default=0.2, show_default=True, help="Stratified validation fraction.")
@click.option("--val-data", type=click.Path(), default=None, help="A separate validation folder.")
@click.option("--fine-tune-blocks", type=int, default=2, show_default=True,
              help="Top trunk blocks trained in the fine-tuning phase (pretrained weights only).")
@click.option("--augment", default="flip,crop,rotate,color", show_default=True,
              help='Comma-separated: flip, crop, rotate, color; "none" for no augmentation.')
@click.option("--weights", default="auto", show_default=True,
              help='"auto" (ImageNet where the family has it), "imagenet", "none", or a weights file.')
@click.option("--patience", type=int, default=5, show_default=True, help="Early-stopping patience in epochs.")
@click.option("--qat", is_flag=True, help="Then fine-tune with fake quantization; writes OUTPUT's name + _qat.h5 too "
              "(-o model.keras: model_qat.h5).")
@click.option("--qat-epochs", type=int, default=3, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint at --output.")
@quiet_option
def train(name, data, output, **options):
    """Train backbone NAME on an image folder (transfer learning; --qat for quantization-aware training)."""
    from ..training import TrainOptions
    from ..training import train as run

    name, options["width"] = at_width(name, options["width"])
    started = time.time()
    on_interrupt(lambda: _kept(output, started))
    term = terminal()
    result = run(name, data, output, TrainOptions(**options), progress=term.progress())
    term.line(f"saved {result.path}: best validation accuracy {100 * result.best_val_accuracy:.1f}% at epoch "
              f"{result.best_epoch or '?'} of {result.epochs_run}, from {result.weights} weights; log in "
              f"{os.path.splitext(result.path)[0]}.log.csv")
    for note in result.notes:
        term.line(f"note: {note}")


def _kept(output: str, started: float) -> str:
    """What an interrupted train kept: the best model so far and its epoch, or nothing."""
    from ..build.meta import read_meta

    if not written_since(output, started):
        return "no epoch had finished: nothing was saved"
    meta = read_meta(output) or {}
    what = (f" (epoch {meta['epoch']}, validation accuracy {100 * meta['best_val_accuracy']:.1f}%)"
            if meta.get("epoch") and meta.get("best_val_accuracy") is not None else "")
    return f"the best model so far{what} is kept at {output} (the same command with --resume continues from it)"
