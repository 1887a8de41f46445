"""`edgebb bench`: latency and memory of artifacts, on this machine or a device over SSH."""

from __future__ import annotations

import click

from ..core.errors import CheckFailed
from ..core.serialize import to_csv, to_json
from . import cli
from .common import check_outputs, quiet_option, terminal, write_outputs


@cli.command()
@click.argument("items", nargs=-1, required=True)
@click.option("--runtime", "runtimes", default="",
              help="Comma-separated: litert, litert-gpu, tflite-runtime, onnxruntime, openvino, keras "
                   "[default: each artifact's own: litert for .tflite, onnxruntime for .onnx].")
@click.option("--threads", "-t", default="1", show_default=True, help="Comma-separated thread counts.")
@click.option("--recipe", "-r", "recipes", default=None,
              help="Comma-separated recipes for backbone names (converted on the fly, cached) "
                   "[default: fp32; fp32,int8 with --best].")
@click.option("--size", "-s", type=int, default=224, show_default=True, help="Input size for backbone names.")
@click.option("--data", "-d", type=click.Path(), default=None, help="Image folder to feed instead of random inputs.")
@click.option("--runs", type=int, default=50, show_default=True, help="Steady-state runs (at least).")
@click.option("--min-seconds", type=float, default=2.0, show_default=True, help="Steady-state time (at least).")
@click.option("--max-seconds", type=float, default=None,
              help="Stop a row's steady state after this long even short of --runs (at least 3 runs).")
@click.option("--warmup", type=int, default=5, show_default=True, help="Warm-up runs after the first.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds before a row is killed.")
@click.option("--memory-limit", "memory_limit_mb", type=float, default=None,
              help="Resident memory a row may use, in MB (the peak MB the table shows): a row that passes it is "
                   "stopped and fails with out of memory.")
@click.option("--baseline", default="resnet50", show_default=True,
              help='Baseline backbone (NAME@WIDTH at a width), or "none".')
@click.option("--profile", is_flag=True, help="Per-op time table where the runtime offers one.")
@click.option("--best", is_flag=True,
              help="Measure every deployment (each CPU runtime unless --runtime, fp32 and int8 unless --recipe) and "
                   "name the fastest whose accuracy holds, with every other one's ratio to it.")
@click.option("--max-drop", type=float, default=1.0, show_default=True,
              help="With --best: the accuracy drop (points, where labelled data measured one) a deployment may have.")
@click.option("--sustained", type=float, default=None, metavar="SECONDS",
              help="Keep each row's steady state running this long (a device heats up and throttles): p50, "
                   "temperature, clock and throttling per window, and the drift.")
@click.option("--gpu-fp32", is_flag=True,
              help="litert-gpu computes in float32 (LiteRT lets the GPU use float16 by default, as on a phone).")
@click.option("--json", "json_path", type=click.Path(), default=None, help="Write results as JSON.")
@click.option("--csv", "csv_path", type=click.Path(), default=None, help="Write results as CSV.")
@click.option("--remote", default=None, metavar="USER@HOST[:PORT]",
              help="Run the bench on this device over SSH (it needs pip install 'edgebb[device]').")
@click.option("--remote-python", default="python3", show_default=True, metavar="PATH",
              help="The device's Python that has edgebb, e.g. '~/edgebb/bin/python'.")
@click.option("--ssh-option", "ssh_options", multiple=True, metavar="KEY=VALUE",
              help="Passed to ssh/scp as -o (repeatable); overrides edgebb's defaults.")
@quiet_option
def bench(items, json_path, csv_path, remote, remote_python, ssh_options, **options):
    """Latency and memory of ITEMS (.tflite/.onnx artifacts, manifest.json files or folders, backbone names;
    NAME@WIDTH for a backbone at a width: mobilenet_v2@0.35)."""
    from ..benchmark import BenchOptions
    from ..benchmark import bench as run
    from ..reporting.results import PROFILE_COLUMNS, bench_columns, bench_lines, bench_rows

    opts = BenchOptions(**options)
    check_outputs(json_path, csv_path, kind=("edgebb.bench/", "model"),
                  inputs={item: "one of the items it measures" for item in items})
    term = terminal()
    if remote is not None:  # --remote '' (an unset shell variable) is an empty destination, not a local bench
        from ..benchmark.remote import remote_bench

        report = remote_bench(list(items), remote, opts, python=remote_python, ssh_options=ssh_options,
                              progress=term.progress())
    else:
        report = run(list(items), opts, progress=term.progress())
    rows, footnotes = bench_rows(report)
    term.table(rows, bench_columns(opts.baseline))
    term.lines(bench_lines(report, footnotes))
    if report.best is not None:
        from ..benchmark.best import best_lines

        term.lines([""] + best_lines(report.best))
    for r in report.results:
        if r.get("profile"):
            term.line(f"\nper-op time, {r.artifact} on {r.runtime} ({r.threads} thread(s)):")
            term.table(r.get("profile")[:15], PROFILE_COLUMNS)
            total = sum(p["ms"] for p in r.get("profile"))
            if r.p50 and total > 1.2 * r.p50:
                term.line(f"(a separate profiled run: {total:.2f} ms per inference against p50 {r.p50:.2f} ms, the "
                          "profiler's own cost per node; read the shares, not the sum)")
        elif r.get("profile_note"):
            term.line(f"\nno per-op profile for {r.artifact}: {r.get('profile_note')}")
    text = to_json(report.to_dict())
    flat = [r.flat() for r in report.results]
    write_outputs([(json_path, text), (csv_path, to_csv(flat, list(flat[0]) if flat else []))], text)
    if report.failed:
        raise CheckFailed(f"{len(report.failed)} of {len(report.results)} rows failed: "
                          + "; ".join(f"{r.artifact} on {r.runtime}: {r.error}" for r in report.failed))


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@quiet_option
def runtimes(names, as_json):
    """Which inference runtimes can run here (all, or NAMES): the format each reads, what it computes on, its package
    and version, or why it cannot run. On a device: what edgebb bench there can measure."""
    from ..runtimes import status

    rows = status(list(names) or None)
    if as_json:
        click.echo(to_json(rows), nl=False)
        return
    term = terminal()
    term.table([{**r, "version": r["version"] or "-", "runs": f"no: {r['reason']}" if not r["available"] else
                 f"yes, on {r['software']}: a software GPU, figures emulated" if r["software"] else "yes"}
                for r in rows], [("runtime", "runtime"), ("format", "reads"), ("target", "on"), ("package", "package"),
                                 ("version", "version"), ("runs", "runs here")])
