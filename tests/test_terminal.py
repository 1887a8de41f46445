"""What a user watching a terminal sees: tables that keep their figures whole at any width, and a bench that
converts backbones by name saying what it is doing while it does."""

import io

import pytest

from edgebb.reporting.results import BENCH_COLUMNS
from edgebb.reporting.terminal import Terminal

ROWS = [{"model": "vgg16", "recipe": "fp32", "px": 224, "runtime": "litert", "threads": 1, "p50": 372.04,
         "p90": 404.11, "ips": 2.62, "rss": 1201.97, "size": 553.39, "speedup": 0.25, "mem": 4.34, "status": "ok"},
        {"model": "mobilenet_v2 *", "recipe": "int8", "px": 224, "runtime": "litert", "threads": 1, "p50": 10.15,
         "p90": 12.79, "ips": 91.58, "rss": 67.65, "size": 3.98, "speedup": 9.66, "mem": 0.58, "status": "ok"}]
FIGURES = ["372.04", "404.11", "1,201.97", "553.39", "0.25", "4.34", "10.15", "91.58", "mobilenet_v2"]


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_bench_table_keeps_every_figure_whole(columns, monkeypatch, capsys):
    """At 80 columns rich used to fold the bench table's cells ("372" over ".04", "0.2" over "5"); now a table
    that does not fit is printed plain, one line per row, and the terminal wraps whole lines."""
    monkeypatch.setenv("COLUMNS", str(columns))
    Terminal(rich=True).table(ROWS, BENCH_COLUMNS)
    out = capsys.readouterr().out
    lines = out.splitlines()
    for figure in FIGURES:
        assert any(figure in line for line in lines), (figure, out)
    assert max(len(line) for line in lines) <= columns or out.count("\n") == len(ROWS) + 2  # rich fits, or plain


def test_bench_by_name_reports_the_conversion_under_its_line(monkeypatch, tmp_path):
    """Converting VGG16 for `edgebb bench vgg16` took 3-5 minutes here with one line printed; the conversion's own
    steps now report, indented under it."""
    from edgebb.benchmark import targets
    from edgebb.core.progress import CallbackProgress

    monkeypatch.setenv("EDGEBB_CACHE", str(tmp_path))
    seen = {}

    def fake_convert(source, out_dir, data, *, progress=None, **kwargs):
        progress.say("building " + source)
        with progress.step("converting and verifying", total=1) as step:
            step.advance(detail="tflite fp32: converting")
        seen["kwargs"] = kwargs
        raise KeyboardInterrupt  # stop here: what was said is the point

    monkeypatch.setattr("edgebb.conversion.convert", fake_convert)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        targets.convert_backbone("vgg16", "fp32", ["tflite"], 224, CallbackProgress(lines.append))
    assert lines[0].startswith("converting vgg16 to fp32 (tflite) at 224x224, random weights; cached in ")
    assert lines[1:] == ["  building vgg16", "  converting and verifying (1)", "  [1/1] tflite fp32: converting"]
    assert seen["kwargs"]["size"] == 224


def test_plain_terminal_output_is_unchanged():
    """In a pipe or a log the table is the plain one, as before."""
    import contextlib

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        Terminal(rich=False).table(ROWS, BENCH_COLUMNS)
    header = buffer.getvalue().splitlines()[0]
    assert header.split()[:3] == ["model", "recipe", "px"]


def test_nested_progress_on_a_terminal_indents_narration_and_kept_lines():
    from edgebb.reporting.terminal import RichProgress

    buffer = io.StringIO()
    progress = RichProgress(buffer)
    progress.say("converting vgg16 to fp32")
    nested = progress.nested()
    nested.say("building vgg16")
    with nested.step("converting and verifying", total=1) as step:
        step.advance(detail="vgg16_fp32.tflite: top-1 agreement 100.0%", log=True)
    progress.stop()
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    assert "converting vgg16 to fp32" in lines
    assert "  building vgg16" in lines and "  vgg16_fp32.tflite: top-1 agreement 100.0%" in lines


def test_a_long_detail_is_cut_and_leaves_the_count_and_eta_on_the_line():
    """A sweep's detail ("measuring ... on cpu:1: [1/1] <a long artifact name> on litert, 1 thread(s)") squeezed the
    bar's count, elapsed time and ETA out of a 150-column line; it now takes what is left and ends in an ellipsis."""
    import re

    from rich.console import Console

    from edgebb.reporting.terminal import RichProgress

    buffer = io.StringIO()
    progress = RichProgress(buffer)
    progress.console = Console(file=buffer, force_terminal=True, width=150)
    with progress.step("sweep: cells to measure", total=16) as step:
        step.advance(1, detail="measuring squeezenet_1_1 1 @32 on cpu:1: [1/1] " + "x" * 120 + ".tflite on litert")
        progress._bars.refresh()
        frame = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", buffer.getvalue()).replace("\r", "\n").splitlines()[-1]
    progress.stop()
    assert len(frame.rstrip()) <= 150 and "1/16" in frame and "eta" in frame, frame
    assert "measuring squeezenet_1_1" in frame and frame.rstrip().endswith("…"), frame


def test_bench_footnotes_say_each_text_once():
    """A bench of two int8 artifacts at two thread counts printed footnotes [1]-[4], two copies of two texts: a row
    points to the footnote of its text, written once, in the order first met."""
    from types import SimpleNamespace

    from edgebb.benchmark.rows import BenchRow
    from edgebb.reporting.results import UNJUDGED, bench_rows

    def row(artifact, threads, check, status="ok", error=None):
        return BenchRow(model="m", artifact=artifact, recipe="int8", runtime="litert", threads=threads,
                        status=status, error=error, latency_ms={"p50": 1.0}, extra={"conversion_check": check})

    failed = {"passed": False, "failed_because": "top-1 agreement 80% < 90%"}
    results = [row(a, t, c) for t in (1, 2) for a, c in (("a.tflite", failed), ("b.tflite", failed),
                                                          ("c.tflite", {"passed": None}))]
    results += [row("d.tflite", t, {}, status="failed", error="boom") for t in (1, 2)]
    rows, notes = bench_rows(SimpleNamespace(results=results))
    assert notes == ["[1] a.tflite: failed its conversion check against the float model (top-1 agreement 80% < 90%): "
                     "not a candidate", "[2] b.tflite: failed its conversion check against the float model (top-1 "
                     "agreement 80% < 90%): not a candidate", f"[3] {UNJUDGED}",
                     "[4] d.tflite on litert (1 thread(s)): boom", "[5] d.tflite on litert (2 thread(s)): boom"]
    assert [r["status"] for r in rows] == ["ok, failed check [1]", "ok, failed check [2]", "ok, not judged [3]"] * 2 \
        + ["failed [4]", "failed [5]"]
