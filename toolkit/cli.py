"""The `edgebb` command line. Commands parse options, call the library, and print what it returns.

TensorFlow is imported only inside commands that build or convert a model, so `edgebb --help` is instant.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import EdgebbError, InputError
from .report import table, to_json


class _Group(click.Group):
    """Turns edgebb's errors into one line on stderr and their exit code (2 for bad input)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgebbError as exc:
            click.echo(f"edgebb: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("edgebb: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="edgebb")
def cli():
    """edgebb: build, quantize, export, verify and benchmark mobile CNN backbones for edge devices."""


def _progress(i: int, n: int, what: str) -> None:
    if sys.stderr.isatty():  # one line rewritten in place on a terminal, one line per step in a log
        click.echo(f"\r[{i}/{n}] profiling {what:<40}", err=True, nl=i == n)
    else:
        click.echo(f"[{i}/{n}] profiling {what}", err=True)


def _check_positive(ctx, param, value):
    if value is not None and value < 1:
        raise click.BadParameter(f"must be at least 1; received {value}")
    return value


model_options = [
    click.option("--width", "-w", type=float, default=1.0, show_default=True, help="Width multiplier."),
    click.option("--size", "-s", type=int, default=224, show_default=True, help="Input size (square)."),
    click.option("--classes", "-c", type=int, default=1000, show_default=True, callback=_check_positive,
                 help="Number of output classes."),
]


def _with(options):
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json):
    """Every backbone and width: parameters, MACs at 224x224, published ImageNet top-1."""
    from .zoo import zoo_rows

    rows = zoo_rows(progress=_progress)
    if as_json:
        click.echo(to_json(rows), nl=False)
        return
    for row in rows:
        row["params_m"] = row["params_total"] / 1e6
        row["mmacs"] = row["macs"] / 1e6
        row["imagenet"] = "yes" if row["imagenet_weights"] else "-"
    click.echo(table(rows, [("name", "backbone"), ("width", "width"), ("params_m", "params (M)"),
                            ("mmacs", "MMACs@224"), ("top1", "top-1 %"), ("imagenet", "ImageNet weights")]))


@cli.command()
@click.argument("name")
@_with(model_options)
@click.option("--layers", "with_layers", is_flag=True, help="Add a per-layer table.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(name, width, size, classes, with_layers, as_json):
    """Parameters, MACs, weight bytes and peak activation memory of backbone NAME."""
    from .models import get_spec, preprocessing_for
    from .zoo import profile

    spec = get_spec(name)
    spec.check_width(width)
    spec.check_size(size)
    p = profile(name, width, size, classes)
    data = {"name": name, "width": width, "input_size": size, "num_classes": classes, "family": spec.family,
            **p.to_dict(with_layers=with_layers), "preprocessing": preprocessing_for(name, size).to_dict(),
            "feature_strides": list(spec.feature_strides), "imagenet_weights": spec.has_imagenet,
            "top1": spec.published_top1.get(width), "paper": spec.paper}
    data.pop("name", None)
    data = {"name": name, **data}
    if as_json:
        click.echo(to_json(data), nl=False)
        return
    summary = [
        ("backbone", f"{name} (width {width:g}, {size}x{size}, {classes} classes)"),
        ("parameters", f"{p.params_total:,} total, {p.params_trainable:,} trainable"),
        ("MACs", f"{p.macs / 1e6:,.1f} M"),
        ("weights", f"{p.weights_fp32_bytes / 1e6:,.2f} MB float32, {p.weights_int8_bytes / 1e6:,.2f} MB int8 "
                    "(BatchNorm folded)"),
        ("peak activations", f"{p.peak_activation_bytes / 1e6:,.2f} MB float32 at batch 1"),
        ("preprocessing", _describe_pp(preprocessing_for(name, size))),
        ("published top-1", f"{spec.published_top1[width]}% ({spec.top1_source})"
         if width in spec.published_top1 else "-"),
    ]
    click.echo("\n".join(f"{k:>17}: {v}" for k, v in summary))
    if with_layers:
        rows = [{"name": r.name, "type": r.type, "shape": r.output_shape, "kb": r.activation_bytes / 1024,
                 "params": r.params, "mmacs": r.macs / 1e6} for r in p.layers]
        click.echo()
        click.echo(table(rows, [("name", "layer"), ("type", "type"), ("shape", "output"), ("kb", "act. KB"),
                                ("params", "params"), ("mmacs", "MMACs")]))


def _describe_pp(pp) -> str:
    mean = ", ".join(f"{m:g}" for m in pp.mean)
    std = ", ".join(f"{s:g}" for s in pp.std)
    return f"{pp.channel_order.upper()}, (x - [{mean}]) / [{std}], centre crop {pp.crop_fraction:g}"


@cli.command()
@click.argument("name")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Model file (.keras or .h5).")
@_with(model_options)
@click.option("--weights", default=None, help='"imagenet" or a weights file; random when omitted.')
@click.option("--features", is_flag=True, help="Output the stride 4/8/16/32 feature maps instead of a head.")
@click.option("--no-top", is_flag=True, help="Leave out the classifier.")
def build(name, output, width, size, classes, weights, features, no_top):
    """Build backbone NAME and write it as a Keras model file."""
    from .fsutil import atomic_path
    from .models import create_model

    if not output.endswith((".keras", ".h5")):
        raise InputError(f"output must end in .keras or .h5; received {output}")
    model = create_model(name, width=width, input_size=size, num_classes=classes, weights=weights,
                         features=features, include_top=not no_top)
    with atomic_path(output) as tmp:
        model.save(tmp)
    click.echo(f"wrote {output} ({model.count_params():,} parameters, inputs {size}x{size}x3)")


def _say(message: str) -> None:
    click.echo(message, err=True)


@cli.command()
@click.argument("source")
@click.option("--output", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the artifacts and manifest.json.")
@click.option("--data", "-d", type=click.Path(), default=None,
              help="Image folder, one subfolder per class: calibration and held-out evaluation.")
@click.option("--recipe", "-r", "recipes", default="fp32,int8", show_default=True,
              help="Comma-separated: fp32, fp16, dynamic, int8, int16x8, int8-qat.")
@click.option("--format", "-f", "formats", default="tflite", show_default=True, help="Comma-separated: tflite, onnx.")
@_with(model_options[:2])
@click.option("--classes", "-c", type=int, default=None, callback=_check_positive,
              help="Output classes of a backbone [default: the data's classes, else 1000].")
@click.option("--weights", default=None, help='Backbone weights: "imagenet" or a weights file; random if omitted.')
@click.option("--io-dtype", default="int8", show_default=True, help="int8 TFLite input/output: int8, uint8, float32.")
@click.option("--calib-samples", type=int, default=200, show_default=True, help="Calibration images.")
@click.option("--calib-method", default="minmax", show_default=True, help="ONNX int8: minmax, entropy, percentile.")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds weights, data split and calibration.")
@click.option("--max-drop", type=float, default=1.0, show_default=True,
              help="Top-1 points an artifact may lose against the float model.")
@click.option("--auto-fallback", is_flag=True, help="Keep the worst int8 layers in float until --max-drop holds.")
@click.option("--qat-epochs", type=int, default=3, show_default=True,
              help="int8-qat from a float model: epochs of quantization-aware fine-tuning on --data.")
@click.option("--qat-lr", type=float, default=1e-4, show_default=True, help="int8-qat: fine-tuning learning rate.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON instead of a table.")
def convert(source, out_dir, data, recipes, formats, width, size, classes, weights, io_dtype, calib_samples,
            calib_method, opset, seed, max_drop, auto_fallback, qat_epochs, qat_lr, as_json):
    """Convert SOURCE (a backbone name or a .keras/.h5/SavedModel) to verified .tflite/.onnx artifacts."""
    from .conversion import convert as run
    from .errors import CheckFailed

    result = run(source, out_dir, data, recipes=recipes, formats=formats, width=width, size=size, classes=classes,
                 weights=weights, io_dtype=io_dtype, calib_samples=calib_samples, calib_method=calib_method,
                 opset=opset, seed=seed, max_drop=max_drop, auto_fallback=auto_fallback, qat_epochs=qat_epochs,
                 qat_lr=qat_lr, progress=_say)
    if as_json:
        click.echo(to_json(result.manifest), nl=False)
    else:
        click.echo(convert_table(result))
    if result.failed:
        names = ", ".join(f"{os.path.basename(a.path)} (lost {a.verification.drop:.2f} points, "
                          f"top-1 agreement {a.verification.top1_agreement:.1f}%)" for a in result.failed)
        raise CheckFailed(f"over the --max-drop budget of {max_drop:g} points: {names}")


def convert_table(result) -> str:
    """The terminal table of a ConvertResult, with its notes and the manifest's path."""
    rows = []
    for a in result.artifacts:
        v = a.verification
        rows.append({"artifact": os.path.basename(a.path), "size": a.size_bytes / 1e6, "agree": v.top1_agreement,
                     "acc": v.accuracy, "ref": v.reference_accuracy, "err": f"{v.max_abs_error:.2e}",
                     "cos": f"{v.cosine:.5f}", "status": {True: "ok", False: "OVER BUDGET", None: "-"}[v.passed]
                     + (f" ({len(a.float_layers)} float layers)" if a.float_layers else "")})
    text = table(rows, [("artifact", "artifact"), ("size", "MB"), ("agree", "top-1 agree %"), ("acc", "acc %"),
                        ("ref", "float acc %"), ("err", "max abs err"), ("cos", "cosine"), ("status", "budget")])
    data = result.data
    lines = [text, "", f"verified on {data['evaluation_images']} held-out images "
             f"({data['kind']}{': ' + data['path'] if data.get('path') else ''}) and {data['random_inputs']} random "
             "inputs"]
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"manifest: {result.manifest_path}")
    return "\n".join(lines)


@cli.command()
@click.argument("items", nargs=-1, required=True)
@click.option("--runtime", "runtimes", default="litert", show_default=True,
              help="Comma-separated: litert, litert-gpu, tflite-runtime, onnxruntime, keras.")
@click.option("--threads", "-t", default="1", show_default=True, help="Comma-separated thread counts.")
@click.option("--recipe", "-r", "recipes", default="fp32", show_default=True,
              help="Comma-separated recipes for backbone names (converted on the fly, cached).")
@click.option("--size", "-s", type=int, default=224, show_default=True, help="Input size for backbone names.")
@click.option("--data", "-d", type=click.Path(), default=None, help="Image folder to feed instead of random inputs.")
@click.option("--runs", type=int, default=50, show_default=True, help="Steady-state runs (at least).")
@click.option("--min-seconds", type=float, default=2.0, show_default=True, help="Steady-state time (at least).")
@click.option("--max-seconds", type=float, default=None,
              help="Stop a row's steady state after this long even short of --runs (at least 3 runs).")
@click.option("--warmup", type=int, default=5, show_default=True, help="Warm-up runs after the first.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds before a row is killed.")
@click.option("--memory-limit", type=float, default=None, help="Address-space limit per row, in MB.")
@click.option("--baseline", default="resnet50", show_default=True, help='Baseline backbone, or "none".')
@click.option("--profile", is_flag=True, help="Per-op time table where the runtime offers one.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write results as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Write results as CSV.")
@click.option("--remote", default=None, metavar="USER@HOST[:PORT]",
              help="Run the bench on this device over SSH (it needs pip install 'edgebb[device]').")
@click.option("--remote-python", default="python3", show_default=True, metavar="PATH",
              help="The device's Python that has edgebb, e.g. '~/edgebb/bin/python'.")
@click.option("--ssh-option", "ssh_options", multiple=True, metavar="KEY=VALUE",
              help="Passed to ssh/scp as -o (repeatable); overrides edgebb's defaults.")
def bench(items, runtimes, threads, recipes, size, data, runs, min_seconds, max_seconds, warmup, timeout, memory_limit,
          baseline, profile, json_path, csv_path, remote, remote_python, ssh_options):
    """Latency and memory of ITEMS (.tflite/.onnx artifacts, manifest.json files or folders, backbone names)."""
    from .bench import bench as run
    from .bench import flat_row
    from .errors import CheckFailed
    from .fsutil import write_atomic
    from .report import to_csv

    try:
        thread_list = [int(t) for t in threads.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"--threads must be comma-separated integers; received {threads}") from None
    options = dict(runtimes=[r.strip() for r in runtimes.split(",") if r.strip()], threads=thread_list,
                   recipes=recipes, size=size, data=data, runs=runs, min_seconds=min_seconds,
                   max_seconds=max_seconds, warmup=warmup,
                   timeout=timeout, baseline=baseline, memory_limit_mb=memory_limit, profile=profile, progress=_say)
    if remote:
        from .remote import remote_bench

        report = remote_bench(list(items), remote, python=remote_python, ssh_options=ssh_options, **options)
    else:
        report = run(list(items), **options)
    click.echo(bench_table(report))
    for r in report.results:
        if r.get("profile"):
            click.echo(f"\nper-op time, {r['artifact']} on {r['runtime']} ({r['threads']} thread(s)):")
            click.echo(table(r["profile"][:15], [("op", "op"), ("count", "nodes"), ("ms", "ms / inference"),
                                                 ("share", "share")]))
        elif r.get("profile_note"):
            click.echo(f"\nno per-op profile for {r['artifact']}: {r['profile_note']}")
    if json_path:
        write_atomic(json_path, to_json(report.to_dict()))
        click.echo(f"wrote {json_path}", err=True)
    if csv_path:
        rows = [flat_row(r) for r in report.results]
        write_atomic(csv_path, to_csv(rows, list(rows[0]) if rows else []))
        click.echo(f"wrote {csv_path}", err=True)
    if report.failed:
        raise CheckFailed(f"{len(report.failed)} of {len(report.results)} rows failed: "
                          + "; ".join(f"{r['artifact']} on {r['runtime']}: {r['error']}" for r in report.failed))


def bench_table(report) -> str:
    """The terminal table of a BenchReport, with the environment line and the notes."""
    rows = []
    for r in report.results:
        lat = r.get("latency_ms") or {}
        rows.append({"model": r["model"] + (" *" if r.get("baseline") else ""), "recipe": r["recipe"],
                     "runtime": r["runtime"], "threads": r["threads"], "p50": lat.get("p50"), "p90": lat.get("p90"),
                     "ips": r.get("throughput_ips"), "rss": r.get("peak_rss_mb"), "size": r.get("size_mb"),
                     "speedup": r.get("speedup_vs_baseline"), "mem": r.get("memory_ratio_vs_baseline"),
                     "status": (r["status"] if r["status"] == "ok" else f"{r['status']}: {r['error']}")
                     + (" (emulated)" if r.get("emulated") else "") + (" (throttled)" if r.get("throttled") else "")})
    text = table(rows, [("model", "model"), ("recipe", "recipe"), ("runtime", "runtime"), ("threads", "thr"),
                        ("p50", "p50 ms"), ("p90", "p90 ms"), ("ips", "img/s"), ("rss", "peak MB"),
                        ("size", "file MB"), ("speedup", "x vs R50"), ("mem", "mem vs R50"), ("status", "status")])
    env = report.env
    lines = [text, "", f"{env.get('cpu_model')} ({env.get('cores')} cores; {' '.join(env.get('cpu_flags', []))}), "
             f"Python {env.get('python')}" + (f", {env['board']}" if env.get("board") else "")
             + (f", EMULATED ({env.get('emulation')})" if env.get("emulated") else "")
             + (f"; {env['remote']['destination']}" if env.get("remote") else ""),
             "* baseline; x vs R50 = ResNet-50 p50 / this p50 (same recipe, runtime, threads)"]
    state = _device_state_line(env)
    if state:
        lines.insert(2, state)
    lines += [f"note: {n}" for n in report.notes]
    lines += [f"warning: {w}" for w in getattr(report, "warnings", [])]
    return "\n".join(lines)


def _device_state_line(env: dict) -> str | None:
    """Governor, clock, temperature and throttling before -> after the run, where the machine reports them."""
    parts = []
    if env.get("cpu_governor"):
        parts.append(f"governor {env['cpu_governor']}")
    if env.get("cpu_freq_mhz"):
        parts.append(f"{env['cpu_freq_mhz']:.0f} -> {env.get('cpu_freq_after_mhz') or 0:.0f} MHz"
                     + (f" (max {env['cpu_freq_max_mhz']:.0f})" if env.get("cpu_freq_max_mhz") else ""))
    if env.get("temperature_before_c") is not None:
        after = env.get("temperature_after_c")
        parts.append(f"{env['temperature_before_c']:.1f} -> {'?' if after is None else f'{after:.1f}'} C")
    if env.get("throttled_before") is not None:
        parts.append(f"throttled {env['throttled_before']} -> {env.get('throttled_after')}")
    return ("device: " + ", ".join(parts)) if parts else None


@cli.command()
@click.argument("name")
@click.option("--data", "-d", required=True, type=click.Path(), help="Image folder, one subfolder per class.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Model file (.keras).")
@_with(model_options[:2])
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate (fine-tuning uses a tenth).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--val-split", type=float, default=0.2, show_default=True, help="Stratified validation fraction.")
@click.option("--val-data", type=click.Path(), default=None, help="A separate validation folder.")
@click.option("--fine-tune-blocks", type=int, default=2, show_default=True,
              help="Top trunk blocks trained in the fine-tuning phase (pretrained weights only).")
@click.option("--augment", default="flip,crop,rotate,color", show_default=True,
              help='Comma-separated: flip, crop, rotate, color; "none" for no augmentation.')
@click.option("--weights", default="auto", show_default=True,
              help='"auto" (ImageNet where the family has it), "imagenet", or a weights file.')
@click.option("--patience", type=int, default=5, show_default=True, help="Early-stopping patience in epochs.")
@click.option("--qat", is_flag=True, help="Then fine-tune with fake quantization; writes NAME_qat.h5 too.")
@click.option("--qat-epochs", type=int, default=3, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint at --output.")
def train(name, data, output, width, size, epochs, batch_size, lr, seed, val_split, val_data, fine_tune_blocks,
          augment, weights, patience, qat, qat_epochs, resume):
    """Train backbone NAME on an image folder (transfer learning; --qat for quantization-aware training)."""
    from .train import train as run

    kinds = () if augment.strip() == "none" else tuple(a.strip() for a in augment.split(",") if a.strip())
    result = run(name, data, output, width=width, size=size, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                 val_split=val_split, val_data=val_data, fine_tune_blocks=fine_tune_blocks, augment=kinds,
                 weights=None if weights == "none" else weights, patience=patience, qat=qat, qat_epochs=qat_epochs,
                 resume=resume, progress=_say)
    click.echo(f"saved {result.path}: best validation accuracy {100 * result.best_val_accuracy:.1f}% after "
               f"{result.epochs_run} epoch(s), from {result.weights} weights; log in "
               f"{os.path.splitext(result.path)[0]}.log.csv")
    for note in result.notes:
        click.echo(f"note: {note}")


@cli.group()
def data():
    """Image data: generate a learnable stand-in set."""


@data.command("synth")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--classes", type=int, default=4, show_default=True, help="Number of shape classes.")
@click.option("--per-class", type=int, default=50, show_default=True, help="Images per class.")
@click.option("--size", type=int, default=64, show_default=True, help="Image size in pixels.")
@click.option("--seed", type=int, default=0, show_default=True)
def data_synth(out_dir, classes, per_class, size, seed):
    """Write a procedurally generated shapes set (one subfolder per class) that a small CNN can learn."""
    from .synth import generate

    summary = generate(out_dir, classes=classes, per_class=per_class, size=size, seed=seed)
    click.echo(f"wrote {summary.n_images} images of {len(summary.classes)} classes "
               f"({', '.join(summary.classes)}) at {size}x{size} to {out_dir}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `edgebb` console script and `python -m edgebb`."""
    cli.main(args=argv, prog_name="edgebb", standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
