"""`edgebb sweep`, `edgebb report` and `edgebb recommend`: choosing the backbone to ship, measured."""

from __future__ import annotations

import os

import click

from ..core.errors import CheckFailed, InputError
from ..core.serialize import to_csv, to_json
from . import cli
from .common import check_outputs, existing_source, on_interrupt, quiet_option, terminal, write_outputs

# Option name -> SweepOptions field; all default to None so a --config file's values stand unless given here.
_SWEEP_FIELDS = ("widths", "sizes", "recipes", "targets", "runtimes", "data", "epochs", "batch_size", "lr", "seed",
                 "weights", "augment", "calib_samples", "eval_samples", "runs", "min_seconds", "max_seconds", "warmup",
                 "timeout", "jobs", "executor", "ray_address")


@cli.command()
@click.argument("backbones", nargs=-1)
@click.option("--config", type=click.Path(), default=None,
              help="A TOML file with the grid (options given here win) [default: none: the options alone].")
@click.option("--widths", default=None, help="Comma-separated width multipliers [default: 1.0 where offered].")
@click.option("--sizes", default=None, help="Comma-separated input sizes [default: 224].")
@click.option("--recipes", default=None, help="Comma-separated recipes [default: fp32,int8].")
@click.option("--targets", default=None,
              help="Comma-separated: cpu:N, gpu, a runtime name (litert-gpu), ssh://user@host[:port] [default: cpu:1].")
@click.option("--runtimes", default=None, help="The CPU runtimes of cpu:N targets [default: litert,onnxruntime].")
@click.option("--data", "-d", type=click.Path(), default=None,
              help="Image folder (one subfolder per class) to train on and verify with [default: none: no training, "
                   "and accuracy is the published figure where one exists].")
@click.option("--output", "-o", type=click.Path(), default=None, help="Output folder [default: sweep].")
@click.option("--epochs", type=int, default=None, help="Training epochs per backbone [default: 3]; 0 with --weights.")
@click.option("--batch-size", type=int, default=None, help="Training batch size [default: 32].")
@click.option("--lr", type=float, default=None, help="Learning rate [default: each backbone's, as edgebb train].")
@click.option("--seed", type=int, default=None,
              help="Seeds training (weights, data split, augmentation) and calibration [default: 0].")
@click.option("--weights", default=None,
              help='"auto" (ImageNet where it exists and can be fetched, else random), "imagenet", "none" (random) '
                   "or a weights file [default: auto].")
@click.option("--augment", default=None,
              help='Training augmentation as edgebb train takes it: flip, crop, rotate, color, or "none" '
                   "[default: all four].")
@click.option("--calib-samples", type=int, default=None, help="Calibration images per conversion [default: 100].")
@click.option("--eval-samples", type=int, default=None, help="Evaluation images without --data [default: 100].")
@click.option("--runs", type=int, default=None, help="Steady-state runs per cell (at least) [default: 30].")
@click.option("--min-seconds", type=float, default=None, help="Steady-state seconds per cell (at least) [default: 1].")
@click.option("--max-seconds", type=float, default=None, help="Steady-state seconds per cell (at most) [default: 10].")
@click.option("--warmup", type=int, default=None, help="Warm-up runs [default: 3].")
@click.option("--timeout", type=float, default=None, help="Seconds before a measurement is killed [default: 600].")
@click.option("--jobs", "-j", type=int, default=None, help="Trainings and conversions at once [default: 1].")
@click.option("--executor", default=None,
              help="How stages run: local (this machine) or ray (a task per stage on a Ray cluster) [default: local].")
@click.option("--ray-address", default=None,
              help="HOST:PORT of a running Ray cluster's head, for --executor ray [default: an embedded cluster].")
@click.option("--plan", "plan_only", is_flag=True,
              help="Print the stages the sweep would run (not what the store holds already), what each asks for "
                   "and where it could run, and stop (nothing runs).")
@click.option("--retry-failed", is_flag=True, default=None,
              help="Run failed cells again [default: a failed cell is reused, as a finished one].")
@click.option("--remeasure", is_flag=True, default=None,
              help="Measure the finished cells again, reusing their trained models and artifacts (after a run on a "
                   "busy machine) [default: a finished cell's figures are reused].")
@click.option("--json", "json_path", type=click.Path(), default=None,
              help='Write the table as JSON ("-": stdout) [default: none].')
@click.option("--csv", "csv_path", type=click.Path(), default=None, help="Write the table as CSV [default: none].")
@quiet_option
def sweep(backbones, config, output, json_path, csv_path, plan_only, **given):
    """Train, convert, verify and measure a grid: BACKBONES (name or name@width) x --widths x --sizes x --recipes x
    --targets, into OUT/sweep.sqlite. A re-run reuses finished cells."""
    from ..reporting.selection import SWEEP_COLUMNS, sweep_lines, sweep_rows
    from ..selection import SweepOptions
    from ..selection.grid import read_config
    from ..selection.plan import make_plan
    from ..selection.reuse import kept
    from ..selection.sweep import Driver

    settings = read_config(config) if config else {}
    settings.update({k: v for k, v in given.items() if v is not None})
    if backbones:
        settings["backbones"] = backbones
    output = output or settings.pop("output", None) or "sweep"
    settings.pop("output", None)
    from ..selection.store import store_path

    check_outputs(json_path, csv_path, kind=("edgebb.sweep-result/", "key"),
                  inputs={store_path(output): "the store this sweep writes", config: "the sweep's --config file"},
                  data=tuple(filter(None, [settings.get("data")])))
    term = terminal()
    on_interrupt(lambda: "it was still planning: nothing was run or written")
    plan = make_plan(SweepOptions(**settings), output, term.progress())
    if plan_only:
        _print_plan(plan, term)
        return
    on_interrupt(lambda: kept(plan))  # what the store holds when it comes, and how to go on
    result = Driver(plan, term.progress()).run()
    table = result.table()
    outputs = [(csv_path, to_csv(table, list(table[0]) if table else []))]
    text = to_json(result.to_dict())
    if json_path == "-":
        click.echo(text, nl=False)
    else:
        rows, footnotes = sweep_rows(result)
        term.table(rows, SWEEP_COLUMNS)
        term.lines(sweep_lines(result, footnotes))
        outputs.append((json_path, text))
    write_outputs(outputs, text)
    if len(result.failed) < len(result.rows):  # with nothing measured there is nothing to report or recommend
        term.say(f"next: edgebb report {output} -o report.html; edgebb recommend {output} --target "
                 f"{result.targets[0] if result.targets else 'cpu:1'} --max-latency-ms N")
    if result.failed:
        rest = "the others are measured" if len(result.failed) < len(result.rows) else "none was measured"
        raise CheckFailed(f"{len(result.failed)} of {len(result.rows)} cells failed (their causes are in the table "
                          f"and in {result.store_path}); {rest}")


def _print_plan(plan, term) -> None:
    from ..selection.executors import EXECUTORS
    from ..selection.plan import stage_rows
    from ..selection.reuse import read

    done = read(plan)  # what the store holds: the sweep reuses it, so it is not listed
    rows = stage_rows(plan, EXECUTORS[plan.options.executor].nodes_for_plan(plan), done)
    if rows:
        term.table(rows, [("model", "model"), ("stage", "stage"), ("asks", "asks for"), ("where", "could run on"),
                          ("cells", "cells")], title=f"sweep plan ({plan.options.executor} executor)")
    term.lines([f"note: {n}" for n in plan.notes]
               + [f"{done.summary()}; {len(plan.models)} model(s), {len(plan.targets)} target(s)"]
               + (["what the store holds is reused, not run again: the table lists only what runs"]
                  if rows and (done.reused or done.prepared or done.converted) else [])
               + [f"nothing was run or written (without --plan: the same command runs the stages above into "
                  f"{plan.out_dir})" if rows else "nothing was run or written (without --plan: the same command "
                  "runs nothing, and shows the table of the cells it reuses)"])


@cli.command()
@click.argument("source", callback=existing_source("report source"))
@click.option("--output", "-o", required=True, type=click.Path(),
              help="report.html (one self-contained page) or report.md (with its plots beside it).")
@quiet_option
def report(source, output):
    """A report of SOURCE (a sweep folder, or the JSON edgebb bench wrote): Pareto plots, cost table, every cell,
    environment and method."""
    from ..reporting.report import write_report

    term = terminal()
    write_report(source, output)
    term.line(f"wrote {output}")


@cli.command()
@click.argument("source", callback=existing_source("sweep folder", " (edgebb sweep -o FOLDER writes one)"))
@click.option("--target", required=True, help="The target to ship on, as the sweep named it (cpu:4, ssh://...).")
@click.option("--runtime", default=None, help="Only this runtime [default: any the sweep measured there].")
@click.option("--max-latency-ms", type=float, default=None,
              help="Latency budget, in ms (of --latency) [default: none].")
@click.option("--latency", default="p50", show_default=True, help="Percentile the budget applies to: p50, p90, p99.")
@click.option("--max-memory-mb", type=float, default=None, help="Peak memory budget, in MB [default: none].")
@click.option("--min-accuracy", type=float, default=None,
              help="Smallest top-1 accuracy, as a fraction (0.9) [default: none].")
@click.option("--task", default="classification", show_default=True,
              help="classification, detection or segmentation (dense tasks need the stride 4-32 pyramid).")
@click.option("--dataset-size", type=int, default=None,
              help="Images you have to train on; under 2000, models the sweep trained from random weights are ruled "
                   "out [default: not given].")
@click.option("--resolution", type=int, default=None,
              help="Smallest input size the task can use, in px [default: any].")
@click.option("--max-train-minutes", type=float, default=None,
              help="Training budget, checked against the sweep's [default: none].")
@click.option("--allow-emulated", is_flag=True, help="Consider cells measured on an emulator or a software GPU.")
@click.option("--measure", is_flag=True, help="Measure estimated finalists on the target before answering.")
@click.option("--json", "json_path", is_flag=False, flag_value="-", default=None, type=click.Path(), metavar="[FILE]",
              help='Write the recommendation as JSON to FILE; without FILE (or "-"), print it instead of the text, '
                   "as sweep --json - does [default: none].")
@quiet_option
def recommend(source, json_path, measure, **budget):
    """The backbone to ship on --target under the budgets, from the sweep in SOURCE (its folder, its sweep.sqlite,
    or the JSON `sweep --json` writes), with the reasons for every candidate it rejects. Exits 1 when nothing meets
    the budgets."""
    from ..reporting.selection import REJECTED_COLUMNS, recommendation_lines, rejected_rows
    from ..reporting.sources import data_folders
    from ..selection.recommend import Budget
    from ..selection.recommend import recommend as answer

    spec = Budget(**budget)
    if measure and _export(source):
        raise InputError(f"--measure writes what it measures into the sweep's store, and {source} is a sweep's JSON "
                         "export: give the sweep's folder or its sweep.sqlite")
    rows, notes, runtimes = _read(source, spec.target)  # read once: the cells, and the data folders they name
    check_outputs(json_path, kind=("edgebb.recommendation/", ""), inputs={source: "the sweep it reads"},
                  data=data_folders(rows))
    term = terminal()
    rec = _answer(rows, notes, runtimes, spec, answer)
    if measure:
        from ..selection.measure import measure_finalists

        for _ in range(3):  # each round measures what the answer rests on; a measured answer stops it
            if not rec.to_measure:
                break
            measure_finalists(source, spec.target, rec.to_measure, term.progress())
            rec = _answer(*_read(source, spec.target), spec, answer)
    text = to_json(rec.to_dict())
    if json_path == "-":
        click.echo(text, nl=False)
    else:
        term.lines(recommendation_lines(rec))
        if rec.rejected:
            term.line("")
            term.table(rejected_rows(rec), REJECTED_COLUMNS, title=f"rejected ({len(rec.rejected)})")
        write_outputs([(json_path, text)], text)
    if rec.choice is None:
        if rec.all_at_chance:
            from ..selection.recommend import ALL_AT_CHANCE

            raise CheckFailed(ALL_AT_CHANCE)
        closest = rec.closest
        raise CheckFailed("nothing meets the budget" + (
            f"; closest: {closest['label']} ({'; '.join(m['reason'] for m in closest['misses'])})" if closest else
            "; every candidate was excluded (failed, emulated, or ruled out by --task, --resolution, "
            "--dataset-size or chance-level accuracy: the table above says which)"))


def _export(source: str) -> bool:
    """Whether `source` is a file of JSON (a sweep's --json export, read as report reads it), not a store."""
    if not os.path.isfile(source):
        return False
    with open(source, "rb") as f:
        return f.read(64).lstrip()[:1] == b"{"


def _read(source: str, target: str) -> tuple[list[dict], list[str], list[str] | None]:
    """(cells, notes, the runtimes swept on `target` or None) of a sweep's store or of its JSON export, the cells in
    the order they were made: the export lists them as the sweep's table does, and the answer's ties, rejected list
    and fitted models followed the order it was given."""
    from ..selection.measure import target_spec
    from ..selection.store import Store

    if _export(source):  # a sweep's JSON export carries the cells the store's view gives, and no runs
        from ..reporting.sources import load

        data = load(source)
        if data.kind != "sweep":
            raise InputError(f"{source} is an edgebb bench result, not a sweep: recommend chooses among a sweep's "
                             "cells (its folder, its sweep.sqlite, or the JSON edgebb sweep --json writes)")
        rows, notes, runtimes = data.cells, [], None
    else:
        with Store.open(source) as store:
            rows, notes = store.view()
            try:
                runtimes = list(target_spec(store, target)[0].runtimes)
            except InputError:
                runtimes = None
    return sorted(rows, key=lambda r: (str(r.get("created") or ""), r["key"])), notes, runtimes


def _answer(rows: list[dict], notes: list[str], runtimes: list[str] | None, budget, answer):
    rec = answer(rows, budget, runtimes=runtimes)
    rec.notes += notes
    return rec
