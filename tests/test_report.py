"""edgebb report as a user sees it: the page is rendered by headless Chromium with networking disabled, its DOM
must hold the plots and the tables, the file must fetch nothing from anywhere, and the screenshot is kept in
tests/artifacts/ (gitignored) for a person to look at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from test_sweep import assert_one_line, edgebb, learned_copy, set_spread, shared_sweep

ROOT = os.path.dirname(os.path.abspath(__file__))
ARTIFACTS = os.path.join(ROOT, "artifacts")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    return shared_sweep(tmp_path_factory)


@pytest.fixture(scope="module")
def html_report(swept, tmp_path_factory):
    """The report of the session's sweep as if MobileNetV2 had learned (test_sweep.learned_copy): a frontier to
    draw and cells it dominates; SqueezeNet, at chance, is on no frontier."""
    folder = tmp_path_factory.mktemp("report")
    out = folder / "report.html"
    result = edgebb("report", learned_copy(swept, folder / "sweep"), "-o", out)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    return out


def _artifacts_dir() -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    ignore = os.path.join(ARTIFACTS, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w") as f:
            f.write("# screenshots and other test artifacts: kept for people, never committed\n*\n")
    return ARTIFACTS


def _offline(command: list[str]) -> list[str]:
    """`command` in a network namespace of its own (no interface but a down loopback) where the machine allows it
    (root), else with Chromium's proxy pointed at a closed port: either way nothing can be fetched."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode == 0:
        return ["unshare", "-n", *command]
    return [*command, "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def _chromium(url: str, *extra: str, profile: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(_offline(command), capture_output=True, text=True, timeout=180)


def test_report_renders_offline_in_chromium(html_report, tmp_path):
    text = html_report.read_text()
    assert not re.search(r"<script|<link[^>]+href=[\"']?https?:|url\(\s*[\"']?https?:|src=[\"']?https?:|@import",
                         text, re.IGNORECASE), "the page refers to something outside itself"
    png = os.path.join(_artifacts_dir(), "report.png")
    if os.path.exists(png):
        os.unlink(png)
    url = f"file://{html_report}"
    shot = _chromium(url, f"--screenshot={png}", "--window-size=1400,4000", "--hide-scrollbars",
                     profile=str(tmp_path / "p1"))
    assert os.path.exists(png) and os.path.getsize(png) > 50_000, shot.stderr[-2000:]
    dom = _chromium(url, "--dump-dom", profile=str(tmp_path / "p2")).stdout
    for kind in ("accuracy-latency", "accuracy-memory", "latency-macs", "int8-speedup"):
        assert re.search(rf'<figure class="plot"[^>]*data-plot="{kind}"', dom), kind
    assert dom.count("<svg") >= 4
    for table in ("cells-table", "cost-table", "environment-table", "frontier-cpu-1"):
        assert f'id="{table}"' in dom, table
    cells = re.search(r'<table id="cells-table">.*?</table>', dom, re.S).group(0)
    assert cells.count("<tr") == 1 + 4  # the header and every cell once
    assert "optimal" in cells and "dominated by" in cells and "at chance" in cells
    for words in ("FLOPs (M) = 2 x MACs", "peak activations", "weights int8", "held-out", "Environment and method"):
        assert words in dom, words


def test_report_markdown(swept, tmp_path):
    out = tmp_path / "report.md"
    result = edgebb("report", swept["out"], "-o", out)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "## Every cell" in text and "| backbone | width | px |" in text
    plots = sorted(os.listdir(tmp_path / "report_plots"))
    assert "int8-speedup.svg" in plots and any(p.startswith("accuracy-latency") for p in plots)
    for name in plots:
        assert f"](report_plots/{name})" in text
    # the method section says what training used, never a Python None (the sweep left --lr to each backbone)
    assert "each backbone's default learning rate" in text and "None" not in text


def test_a_section_with_nothing_to_show_has_no_heading():
    """A Markdown report ended with an empty "## Notes". A section whose blocks render as nothing (none, a blank
    paragraph, an empty list, a figure in Markdown without plots) has no heading, nor a link in the HTML page; a
    list leaves out its blank items."""
    from edgebb.reporting.document import Bullets, Document, Figure, Section, render_html, render_markdown

    doc = Document("t", [], [Section("results", "Results", ["Said.", Bullets(["kept", " "])]),
                             Section("plots", "Plots", [Figure("p", "<svg></svg>", "a plot", "kind")]),
                             Section("notes", "Notes", [Bullets([])]), Section("blank", "Blank", ["  "]),
                             Section("none", "Nothing", [])])
    text, files = render_markdown(doc, None)
    assert text == "# t\n\n\n## Results\n\nSaid.\n\n- kept\n" and files == {}, text
    page = render_html(doc)
    assert '<h2>Results</h2><p>Said.</p><ul><li>kept</li></ul>' in page and "<h2>Plots</h2>" in page, page
    assert not any(hidden in page for hidden in ("Notes", "Blank", "Nothing", "<li> </li>")), page


def test_int8_slower_than_fp32_counts_only_differences_beyond_noise():
    """The report said "the quantized model was slower than fp32 for 3 cells", counting a 0.8% difference between
    cells whose runs varied by 4-8%; bench's own rule (more than 5%, and more than twice the larger spread) holds."""
    from edgebb.reporting.report import ReportData, _int8_notes

    def cell(recipe, runtime, p50, spread):
        return {"backbone": "m", "width": 1.0, "size": 64, "target": "cpu:1", "runtime": runtime, "recipe": recipe,
                "status": "ok", "p50_ms": p50, "bench": {"spread": spread}}

    env = {"cpu:1": {"machine": "x86_64", "cpu_flags": ["avx512_vnni"]}}
    close = [cell("fp32", "litert", 1.0, 0.06), cell("int8", "litert", 1.008, 0.04)]
    assert _int8_notes(ReportData("sweep", "s", close, env), "fp32", ["int8"]) == []
    far = close + [cell("fp32", "onnxruntime", 1.0, 0.02), cell("int8", "onnxruntime", 2.3, 0.02)]
    (note,) = _int8_notes(ReportData("sweep", "s", far, env), "fp32", ["int8"])
    assert note.startswith("cpu:1: the quantized model was slower than fp32 for 1 cell(s), by more than"), note


def test_plots_draw_a_cell_that_is_no_candidate_hollow():
    """The scatter plots drew a cell that failed its check against the float model like a candidate: it could sit
    beyond the frontier, faster and more accurate, with nothing to say it is no choice. Such a cell (failed, not
    judged, at chance: pareto.excluded) is drawn hollow in its backbone's colour, and the legend says what hollow
    means; a plot with only candidates has no such entry."""
    import re

    from edgebb.reporting import plots

    def cell(key, accuracy, p50, passed):
        return {"key": key, "backbone": "mobilenet_v2", "width": 0.35, "size": 64, "recipe": "int8",
                "runtime": "litert", "target": "cpu:1", "status": "ok", "accuracy": accuracy, "float_accuracy": 0.9,
                "p50_ms": p50, "peak_rss_mb": 50.0, "macs": 1e7, "data": {"classes": 4, "eval_images": 100},
                "verification": {"passed": passed, "failed_because": "top-1 agreement 40% < 98%"}}

    def hollow(svg):
        return sum("fill: none" in g for g in re.findall(r'<g id="PathCollection_\d+">.*?</g>', svg, re.S))

    good, failed = cell("a", 0.90, 1.0, True), cell("b", 0.95, 0.5, False)
    for draw in (lambda cells: plots.accuracy_vs(cells, {}, x="p50_ms", xlabel="p50", title="t", frontier="latency"),
                 lambda cells: plots.latency_vs_macs(cells, "t")):
        svg = draw([good, failed])
        assert hollow(svg) == 1 and "hollow: no candidate" in svg
        svg = draw([good, {**failed, "verification": {"passed": True}}])
        assert hollow(svg) == 0 and "hollow" not in svg
    # the int8 speed-up bar of a quantized cell that is no candidate is hatched ("1.55x" read as one to ship)
    fp32 = {**good, "key": "f", "recipe": "fp32"}
    svg = plots.int8_speedup([fp32, failed])
    assert "<pattern" in svg and "hatched: the quantized cell is no candidate" in svg
    svg = plots.int8_speedup([fp32, good])
    assert "<pattern" not in svg and "hatched" not in svg


def test_a_crowded_plot_labels_the_cells_that_matter():
    """40 labels printed over each other on one plot: past plots.CROWDED measured cells, the accuracy plots label
    the frontier's cells and the MACs plot each backbone's fastest one; the others keep their colour and marker.
    Labels name the input size where cells differ in it (two cells had read "mobilenet_v2 .5 fp32 litert")."""
    from edgebb.reporting import plots
    from edgebb.selection.pareto import annotate

    cells = [{"key": str(9 * k + i), "backbone": backbone, "width": 0.5, "size": 64 + 32 * i, "recipe": "fp32",
              "runtime": "litert", "target": "cpu:1", "status": "ok", "accuracy": 0.5 + 0.02 * i - 0.005 * k,
              "float_accuracy": 0.9, "p50_ms": 1.0 + 0.5 * i + 0.1 * k, "peak_rss_mb": 50.0, "macs": 10**7 * (i + 1),
              "verification": None} for k, backbone in enumerate(("mobilenet_v2", "squeezenet_1_1"))
             for i in range(9)]
    assert plots.crowded(cells) and not plots.crowded(cells[:12])
    svg = plots.accuracy_vs(cells, annotate(cells), x="p50_ms", xlabel="p50", title="t", frontier="latency")
    assert ">Pareto frontier<" in svg  # in the legend, drawn in no backbone's colour (it was red, as one was)
    labelled = [c for c in cells if f">{plots.short(c, size=True)}<" in svg]
    assert labelled == [c for c in cells if annotate(cells)[c["key"]]["latency"]["optimal"]] and len(labelled) == 9
    svg = plots.latency_vs_macs(cells, "t")
    assert [c["key"] for c in cells if f">{plots.short(c, size=True)}<" in svg] == ["0", "9"]  # each backbone's fastest
    svg = plots.latency_vs_macs(cells[:12], "t")
    assert all(f">{plots.short(c, size=True)}<" in svg for c in cells[:12])


def test_a_sweep_where_no_model_learned_has_no_frontier(swept, tmp_path):
    """The session's sweep: neither model is clearly above chance. The frontier marked the fastest of them as
    worth shipping (the exclusion held only "while others learned"); now no cell is optimal, the caption says why,
    and every cell says it is at chance."""
    out = tmp_path / "report.md"
    result = edgebb("report", swept["out"], "-o", out)
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    frontier = _section(page, "Pareto frontier per target")
    assert "*cpu:1: 0 of 4 cells: none, every model is at chance (see the notes)*" in frontier, frontier
    # (a warning there may name a cell: how noisy or busy a measurement was is the machine's doing)
    tables = "\n".join(line for line in frontier.splitlines() if not line.startswith("Warning: "))
    assert "mobilenet_v2 0.35 @32" not in tables and "squeezenet_1_1" not in tables
    assert "| cell |" not in frontier  # no table header over nothing
    # the plots' captions do not name a line or labels that are not drawn
    captions = [line for line in page.splitlines() if line.startswith("*Top-1 accuracy against")]
    assert len(captions) == 2 and all("no frontier: no candidate" in c and "black line" not in c
                                      and "labelled" not in c for c in captions), captions
    cells = _cells(page)
    for (backbone, recipe, _), shown in cells.items():
        marks = (shown["Pareto (accuracy vs p50)"], shown["Pareto (accuracy vs memory)"])
        # a quantized cell whose conversion did not judge it says that first (these passed: the outputs were no ties)
        assert marks in ((("at chance",) * 2,) if recipe == "fp32" else (("at chance",) * 2, ("not judged",) * 2)), \
            (backbone, recipe, shown)
        assert "not clearly above chance: its float model's top-1" in shown["status"], shown
    assert "is not clearly above chance" in _section(page, "Notes")


def test_the_report_warns_about_noisy_cells(swept, tmp_path):
    """The report said "differences within a run's noise (see the bench warnings) are not findings" and showed no
    warning: a cell whose latencies varied by more than bench's 15%, or measured on a busy machine, is named, at the
    frontier and in the notes."""
    copy = learned_copy(swept, tmp_path / "sweep")
    set_spread(copy, {("mobilenet_v2", "int8"): 0.31}, busy={("mobilenet_v2", "fp32"): 0.4})
    result = edgebb("report", copy, "-o", tmp_path / "r.md")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.md").read_text()
    for warning in ("1 cell(s) varied by more than 15% from run to run (interquartile range / 1.349, a share of "
                    "p50): mobilenet_v2 0.35 @32 int8 on litert (cpu:1) 31%; their comparisons are uncertain",
                    "1 cell(s) were measured while other work used more than 25% of the machine's CPU time: "
                    "mobilenet_v2 0.35 @32 fp32 on litert (cpu:1) 40%; their latencies are slower"):
        assert f"Warning: {warning}" in _section(page, "Pareto frontier per target")
        assert f"- warning: {warning}" in _section(page, "Notes")
    set_spread(copy, {})  # all quiet: no warning
    assert edgebb("report", copy, "-o", tmp_path / "q.md").returncode == 0
    assert "Warning:" not in (tmp_path / "q.md").read_text()


def test_report_of_a_bench_json(swept, tmp_path):
    """Any JSON edgebb bench wrote: latency and memory, no accuracy."""
    artifacts = os.path.join(swept["out"], "artifacts")
    folder = os.path.join(artifacts, sorted(os.listdir(artifacts))[0])
    bench = edgebb("bench", folder, "--runs", "3", "--min-seconds", "0", "--warmup", "1", "--baseline", "none",
                   "--json", tmp_path / "b.json")
    assert bench.returncode == 0, bench.stderr
    result = edgebb("report", tmp_path / "b.json", "-o", tmp_path / "b.html")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "b.html").read_text()
    assert 'data-plot="latency-macs"' in page and 'data-plot="int8-speedup"' in page
    assert 'data-plot="accuracy-latency"' not in page and "holds no accuracy" in page
    # its method says the frontier it draws (p50 against memory), not one of accuracy
    assert "at least as fast and at least as light" in page and "at least as accurate" not in page, page
    # the sweep's first model is MobileNetV2 at 0.35: its rows say the width, and the report reads it back
    import json

    assert {r["model"] for r in json.loads((tmp_path / "b.json").read_text())["results"]} == {"mobilenet_v2@0.35"}
    assert "mobilenet_v2 0.35 @32 fp32 on litert" in page
    assert "x vs" not in page  # no baseline row, no ratio columns


def test_a_bench_report_keeps_the_ratios_to_the_baseline(tmp_path):
    """A report of a bench JSON left out the "x vs R50" and "mem vs R50" columns, the figures bench is run for:
    its every-cell table has them, named as bench's table names them, with the JSON's values."""
    import json

    row = {"status": "ok", "target": "cpu", "threads": 1, "recipe": "fp32", "runtime": "litert", "input_size": 64,
           "latency_ms": {"p50": 2.0, "p90": 2.2, "p99": 2.5}, "peak_rss_mb": 50.0, "size_mb": 1.0, "macs": 10**7}
    rows = [{**row, "model": "resnet50", "baseline": True, "latency_ms": {"p50": 8.0, "p90": 8.5, "p99": 9.0},
             "peak_rss_mb": 200.0, "speedup_vs_baseline": 1.0, "memory_ratio_vs_baseline": 1.0},
            {**row, "model": "mobilenet_v2@0.35", "speedup_vs_baseline": 4.0, "memory_ratio_vs_baseline": 0.25}]
    (tmp_path / "b.json").write_text(json.dumps({"schema": "edgebb.bench/1", "results": rows}))
    result = edgebb("report", tmp_path / "b.json", "-o", tmp_path / "b.md")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "b.md").read_text()
    (header,) = [line for line in text.splitlines() if line.startswith("| Pareto (p50 vs memory)")]
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[columns.index("file MB") + 1: columns.index("file MB") + 3] == ["x vs R50", "mem vs R50"]
    table = {cells[1]: cells for cells in ([c.strip() for c in line.strip("|").split("|")]
                                           for line in text.splitlines()[text.splitlines().index(header) + 2:])
             if len(cells) == len(columns)}
    mobilenet, resnet = table["mobilenet_v2"], table["resnet50"]
    assert mobilenet[columns.index("x vs R50")] == "4.00" and mobilenet[columns.index("mem vs R50")] == "0.25"
    assert resnet[columns.index("x vs R50")] == "1.00" and resnet[columns.index("width")] == "1.00", resnet
    # the frontier's table too, without a column of dashes for the accuracy a bench does not measure
    (frontier,) = [line for line in text.splitlines() if line.startswith("| cell |")]
    assert frontier.startswith("| cell | p50 ms |") and "x vs R50 | mem vs R50 |" in frontier, frontier


def test_a_sweeps_json_reports_as_its_store_does(swept, tmp_path):
    """A report of `sweep --json`'s file said "no data was given" of measured accuracies, "? warm-up runs (at
    least None runs)", and left the environment blank: the method and environment come from each cell's own
    provenance, which the JSON carries as the store does; where runs measured with other settings, it says so.
    A cell without the fields a report needs is refused in one line (it was a KeyError)."""
    import json

    from edgebb.selection.store import Store

    with Store.open(str(swept["out"])) as store:
        cells, _ = store.view()
    source = tmp_path / "sweep.json"
    source.write_text(json.dumps({"schema": "edgebb.sweep-result/1", "cells": cells, "notes": []}, default=str))
    for src, out in ((swept["out"], tmp_path / "store.md"), (source, tmp_path / "json.md")):
        result = edgebb("report", src, "-o", out)
        assert result.returncode == 0, result.stderr
    store_md, json_md = (tmp_path / "store.md").read_text(), (tmp_path / "json.md").read_text()
    method = _section(json_md, "Environment")
    assert method == _section(store_md, "Environment")
    assert "None" not in method and "no data was given" not in method and "? cores" not in method, method
    assert "at least 3 runs" in method, method  # the shared sweep's --runs
    assert "(6 held-out images of its 24 image files in 3 classes;" in method, method  # it had not said how many

    cells[0]["provenance"]["options"]["runs"] = 99  # a cell a later run measured with other settings
    source.write_text(json.dumps({"schema": "edgebb.sweep-result/1", "cells": cells, "notes": []}, default=str))
    assert edgebb("report", source, "-o", tmp_path / "mixed.md").returncode == 0
    method = _section((tmp_path / "mixed.md").read_text(), "Environment")
    assert "at least 99 runs" in method and "for 1 cell(s)" in method and "at least 3 runs" in method, method

    # a cell missing its identity, or a figure its verdict is decided from (float_accuracy: at chance or not), had
    # been reported under another verdict: refused, naming what it lacks
    for key in ("key", "float_accuracy", "p50_ms"):
        edited = [dict(c) for c in cells]
        del edited[1][key]
        source.write_text(json.dumps({"schema": "edgebb.sweep-result/1", "cells": edited, "notes": []}, default=str))
        assert_one_line(edgebb("report", source, "-o", tmp_path / "bad.md"), 2, f"cell 2 lacks {key}")
    # a figure that is no number ended in a TypeError deep in the frontier (report and recommend)
    for key, value in (("accuracy", "high"), ("p50_ms", "0.05"), ("width", "wide"), ("peak_rss_mb", -1.0)):
        edited = [dict(c) for c in cells]
        edited[1][key] = value
        source.write_text(json.dumps({"schema": "edgebb.sweep-result/1", "cells": edited, "notes": []}, default=str))
        for command in (["report", source, "-o", tmp_path / "bad.md"], ["recommend", source, "--target", "cpu:1"]):
            assert_one_line(edgebb(*command), 2, f"cell 2's {key} is {value!r}, not a number of at least 0")


def test_a_bench_row_that_failed_its_conversion_check_is_no_candidate(swept, tmp_path):
    """bench carries each artifact's verdict from its manifest; a row whose artifact failed it is measured and shown,
    in the terminal table and in a report, but it is not on the frontier (a new user's report put an int8 file that
    had lost 2.23 points first among "the candidates worth shipping")."""
    import json

    from edgebb.benchmark.rows import BenchReport, BenchRow
    from edgebb.reporting.results import bench_rows

    artifacts = os.path.join(swept["out"], "artifacts")
    folder = os.path.join(artifacts, sorted(os.listdir(artifacts))[0])
    bench = edgebb("bench", folder, "--runs", "3", "--min-seconds", "0", "--warmup", "1", "--baseline", "none",
                   "--json", tmp_path / "b.json")
    assert bench.returncode == 0, bench.stderr
    data = json.loads((tmp_path / "b.json").read_text())
    rows = [r for r in data["results"] if r["status"] == "ok"]
    assert rows and all("passed" in r["conversion_check"] for r in rows), rows  # read from the manifest
    fastest = min(rows, key=lambda r: r["latency_ms"]["p50"])
    fastest["conversion_check"] = {"passed": False, "failed_because": "lost 9.99 points > 1"}
    (tmp_path / "failed.json").write_text(json.dumps(data))

    table, footnotes = bench_rows(BenchReport(env={}, results=[BenchRow.from_dict(r) for r in data["results"]],
                                              notes=[]))
    shown = [t for t, r in zip(table, data["results"]) if r is fastest][0]
    assert shown["status"].startswith("ok, failed check [") and "lost 9.99 points" in footnotes[-1]

    result = edgebb("report", tmp_path / "failed.json", "-o", tmp_path / "r.md")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.md").read_text()
    frontier = _section(page, "Pareto frontier per target")
    assert _label(fastest) not in frontier, frontier  # the fastest row, which the frontier would otherwise start with
    assert "failed its check against the float model: lost 9.99 points > 1" in page


def _section(page: str, title: str) -> str:
    return page.split(f"## {title}")[1].split("\n## ")[0]


def _label(row: dict) -> str:
    """A bench row as the report names it: the sweep's model is mobilenet_v2@0.35, "mobilenet_v2 0.35" there."""
    name, _, width = row["model"].partition("@")
    return f"{name} {width} @{row['input_size']} {row['recipe']} on {row['runtime']} (cpu:{row['threads']})"


def _cells(page: str) -> dict:
    """The Markdown report's table of every cell: (backbone, recipe, runtime) -> {column header: text}."""
    lines = [ln.strip().strip("|") for ln in _section(page, "Every cell").splitlines() if ln.startswith("| ")]
    header = [h.strip() for h in lines[0].split(" | ")]
    rows = [dict(zip(header, (v.strip() for v in ln.split(" | ")))) for ln in lines[1:]]
    return {(r["backbone"], r["recipe"], r["runtime"]): r for r in rows}


def test_a_bench_row_whose_conversion_was_not_judged_is_no_candidate(swept, tmp_path):
    """An int8 artifact of random weights (or of a float model at chance) is not judged: its row carries
    `conversion_check {"passed": null}` and bench --best does not choose it. A new user's report put such a row alone
    on the frontier and marked the fp32 row "dominated by" it; it is shown with its figures, says it was not judged,
    and the fp32 row is the frontier. The report of a --best JSON does not list the best among the "others", and a
    row bench skipped (ONNX Runtime asked for, no .onnx file) is skipped in both Pareto columns, not failed."""
    import json

    from edgebb.benchmark.best import choose
    from edgebb.benchmark.rows import BenchRow

    artifacts = os.path.join(swept["out"], "artifacts")
    folder = os.path.join(artifacts, sorted(os.listdir(artifacts))[0])
    bench = edgebb("bench", folder, "--best", "--runtime", "litert,onnxruntime", "--threads", "1", "--runs", "3",
                   "--min-seconds", "0", "--warmup", "1", "--baseline", "none", "--json", tmp_path / "b.json")
    assert bench.returncode == 0, bench.stderr
    data = json.loads((tmp_path / "b.json").read_text())
    ok = {r["recipe"]: r for r in data["results"] if r["status"] == "ok" and r["runtime"] == "litert"}
    fp32, int8 = ok["fp32"], ok["int8"]
    int8["conversion_check"] = {"passed": None, "failed_because": None}
    # faster and lighter than fp32 beyond any noise: counted as passed, it would be the frontier and dominate fp32
    int8["latency_ms"] = {k: v / 2 for k, v in fp32["latency_ms"].items()}
    int8["peak_rss_mb"] = fp32["peak_rss_mb"] - 1
    rows = [BenchRow.from_dict(r) for r in data["results"]]
    data["best"] = choose(rows, {r.path: r.get("conversion_check") for r in rows if r.get("conversion_check")}, 1.0)
    (tmp_path / "unjudged.json").write_text(json.dumps(data))

    result = edgebb("report", tmp_path / "unjudged.json", "-o", tmp_path / "r.md")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.md").read_text()
    frontier = _section(page, "Pareto frontier per target")
    assert _label(fp32) in frontier and _label(int8) not in frontier, frontier
    assert "dominated by " + _label(int8).rsplit(" (", 1)[0] not in page
    cells = _cells(page)
    shown = cells["mobilenet_v2", "int8", "litert"]
    assert "Pareto (accuracy vs p50)" not in shown and "Pareto (accuracy vs memory)" not in shown  # no accuracy
    assert shown["Pareto (p50 vs memory)"] == "not judged" and shown["p50 ms"] != "-"
    assert shown["status"] == "not judged: its outputs are near-ties"
    assert cells["mobilenet_v2", "fp32", "litert"]["Pareto (p50 vs memory)"] == "optimal"
    skipped = [c for c in cells.values() if c["status"].startswith("skipped")]
    assert skipped and all(c["Pareto (p50 vs memory)"] == "skipped"
                           for c in skipped)
    notes = _section(page, "Notes")
    assert "not eligible: int8 litert x1 (0.50x): not judged: its outputs are near-ties" in notes
    assert "others (p50 / best's): fp32 litert x1" not in notes  # the best itself, at 1.00x
    # and bench's own table says so too (it read plain "ok")
    from edgebb.benchmark.rows import BenchReport
    from edgebb.reporting.results import bench_rows

    table, footnotes = bench_rows(BenchReport(env={}, results=rows, notes=[]))
    status = {(t["recipe"], t["runtime"]): t["status"] for t in table}
    assert status["int8", "litert"].startswith("ok, not judged [") and status["fp32", "litert"] == "ok", status
    assert sum("not judged" in f for f in footnotes) == 1, footnotes


def test_report_and_recommend_keep_their_outputs_out_of_the_sweeps_data(swept, tmp_path):
    """`report sweep/ -o photos/report.md` wrote photos/report_plots/, which every later command read as an empty
    class of the user's data: refused before anything is written, naming the sweep's data folder."""
    data = tmp_path / "data"
    shutil.copytree(swept["data"], data)
    before = sorted(os.listdir(data))
    out = learned_copy(swept, tmp_path / "sweep")
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(os.path.join(out, "sweep.sqlite"))) as conn, conn:  # as if swept on this copy
        conn.execute("UPDATE cells SET provenance = json_set(provenance, '$.data.path', ?)", (str(data),))
    assert_one_line(edgebb("report", out, "-o", data / "report.md"), 2,
                    f"the report's plots folder {data}/report_plots is inside the data folder {data}")
    # any output of report or recommend in a new folder there, or in a class folder, too (a page in data/new/ made
    # a class); a page at the folder's top level is not read as an image and is written
    assert_one_line(edgebb("report", out, "-o", data / "new" / "r.html"), 2, "new/r.html is inside the data folder")
    refused = edgebb("recommend", out, "--target", "cpu:1", "--json", data / "newr" / "r.json")
    assert_one_line(refused, 2, "results file")
    assert "newr/r.json is inside the data folder" in refused.stderr, refused.stderr
    assert sorted(os.listdir(data)) == before
    assert edgebb("report", out, "-o", data / "r.html").returncode == 0


def test_markdown_report_leaves_a_foreign_plots_folder_alone(swept, tmp_path):
    """report.md writes its plots into report_plots/; one that holds the user's files is not touched. (The other
    bad input of edgebb report is in the catalogue, tests/test_bad_input.py.)"""
    (tmp_path / "r_plots").mkdir()
    (tmp_path / "r_plots" / "mine.txt").write_text("the user's")
    result = edgebb("report", swept["out"], "-o", tmp_path / "r.md")
    assert_one_line(result, 2, "holds more than an earlier report's plots")
    assert sorted(os.listdir(tmp_path)) == ["r_plots"] and os.listdir(tmp_path / "r_plots") == ["mine.txt"]


def test_report_module_imports_no_tensorflow():
    code = ("import sys, edgebb.reporting.report, edgebb.reporting.plots; "
            "print([m for m in ('tensorflow', 'tf_keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
