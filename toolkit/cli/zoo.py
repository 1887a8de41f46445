"""`edgebb list`, `edgebb info`, `edgebb build`: the backbone zoo."""

from __future__ import annotations

import click

from ..core.errors import InputError
from ..core.files import check_can_write_file
from ..core.serialize import to_json
from . import cli
from .common import MODEL_OPTIONS, at_width, quiet_option, terminal, with_options


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@quiet_option
def list_cmd(as_json):
    """Every backbone and width: parameters, MACs at 224x224, published ImageNet top-1."""
    from ..build.listing import zoo_rows
    from ..reporting.results import ZOO_COLUMNS
    from ..reporting.results import zoo_rows as table_rows

    rows = zoo_rows(progress=terminal().progress())
    if as_json:
        click.echo(to_json(rows), nl=False)
        return
    terminal().table(table_rows(rows), ZOO_COLUMNS)


@cli.command()
@click.argument("name")
@with_options(MODEL_OPTIONS)
@click.option("--layers", "with_layers", is_flag=True, help="Add a per-layer table.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@quiet_option
def info(name, width, size, classes, with_layers, as_json):
    """Parameters, MACs, weight bytes and peak activation memory of backbone NAME."""
    from ..build.listing import profile
    from ..models import get_spec, preprocessing_for
    from ..reporting.results import LAYER_COLUMNS, layer_rows
    from ..selection.grid import published_size

    name, width = at_width(name, width)
    spec = get_spec(name)
    spec.check_width(width)
    spec.check_size(size)
    p = profile(name, width, size, classes)
    data = {"name": name, "width": width, "input_size": size, "num_classes": classes, "family": spec.family,
            **p.to_dict(with_layers=with_layers), "preprocessing": preprocessing_for(name, size).to_dict(),
            "feature_strides": list(spec.feature_strides), "imagenet_weights": spec.has_imagenet_at(width),
            "top1": spec.published_top1.get(width),
            "top1_input_size": published_size(spec) if width in spec.published_top1 else None, "paper": spec.paper}
    data.pop("name", None)
    data = {"name": name, **data}
    if as_json:
        click.echo(to_json(data), nl=False)
        return
    summary = [
        ("backbone", f"{name} (width {width:g}, {size}x{size}, {classes} class{'' if classes == 1 else 'es'})"),
        ("parameters", f"{p.params_total:,} total, {p.params_trainable:,} trainable"),
        ("MACs", f"{p.macs / 1e6:,.1f} M (FLOPs, counted as 2 x MACs as darknet and most papers do: "
                 f"{2 * p.macs / 1e9:,.3f} G)"),
        ("weights", f"{p.weights_fp32_bytes / 1e6:,.2f} MB float32, {p.weights_int8_bytes / 1e6:,.2f} MB int8 "
                    "(BatchNorm folded)"),
        ("peak activations", f"{p.peak_activation_bytes / 1e6:,.2f} MB float32 at batch 1"),
        ("preprocessing", _describe_pp(preprocessing_for(name, size))),
        ("published top-1", _published(spec, width, size)),
    ]
    terminal().lines(f"{k:>17}: {v}" for k, v in summary)
    if with_layers:
        terminal().line()
        terminal().table(layer_rows(p), LAYER_COLUMNS)


def _describe_pp(pp) -> str:
    mean = ", ".join(f"{m:g}" for m in pp.mean)
    std = ", ".join(f"{s:g}" for s in pp.std)
    return f"{pp.channel_order.upper()}, (x - [{mean}]) / [{std}], centre crop {pp.crop_fraction:g}"


@cli.command()
@click.argument("name")
@click.option("--output", "-o", required=True, type=click.Path(), help="Model file (.keras or .h5).")
@with_options(MODEL_OPTIONS)
@click.option("--weights", default=None, help='"imagenet" or a weights file; random when omitted.')
@click.option("--features", is_flag=True, help="Output the stride 4/8/16/32 feature maps instead of a head.")
@click.option("--no-top", is_flag=True, help="Leave out the classifier.")
@quiet_option
def build(name, output, width, size, classes, weights, features, no_top):
    """Build backbone NAME and write it as a Keras model file, with the metadata edgebb convert reads."""
    from ..build.meta import built_meta, write_meta
    from ..core.files import atomic_path
    from ..models import create_model, get_spec

    if not output.endswith((".keras", ".h5")):
        raise InputError(f"output must end in .keras or .h5; received {output}")
    from click.core import ParameterSource

    if (features or no_top) and click.get_current_context().get_parameter_source("classes") == \
            ParameterSource.COMMANDLINE:  # it was ignored without a word
        raise InputError(f"--classes sizes the classifier, which {'--features' if features else '--no-top'} leaves "
                         "out; drop one of them")
    name, width = at_width(name, width)
    spec = get_spec(name)
    spec.check_width(width)
    spec.check_size(size)
    check_can_write_file(output, "model file")
    model = create_model(name, width=width, input_size=size, num_classes=classes, weights=weights,
                         features=features, include_top=not no_top)
    meta = built_meta(name, width=width, size=size, classes=classes, weights=weights, features=features,
                      include_top=not no_top)
    with atomic_path(output) as tmp:
        model.save(tmp)
        write_meta(tmp, meta)  # what `edgebb convert` reads: backbone, preprocessing, the weights it holds
    terminal().line(f"wrote {output} ({model.count_params():,} parameters, inputs {size}x{size}x3)")


def _published(spec, width: float, size: int) -> str:
    """The published ImageNet top-1, saying the input size it was measured at where that is not `size`."""
    from ..selection.grid import published_size

    if width not in spec.published_top1:
        return "-"
    import re

    at = published_size(spec)
    # one form for every backbone (the size had come inside the source's parentheses for some, after it for others)
    source = re.sub(r"\s*\(\d+x\d+\)|\d+x\d+;\s*|,\s*\d+x\d+", "", spec.top1_source or "")
    return f"{spec.published_top1[width]}% at {at}x{at} ({source})"
