"""edgebb sweep as a user runs it: a tiny real grid (SqueezeNet 1.1 and MobileNetV2 0.35 at 32 px, one epoch on a
small generated set, fp32 and int8, LiteRT, 1 thread), killed with SIGKILL in the middle and run again; the store,
the reuse, the exports and the bad input that must stop it before any work.

`shared_sweep` builds that sweep once per test session (test_report and test_recommend use it too) and records what
the interruption left, so the kill -9 test checks the same run whichever module asks first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from test_bad_input import share_pytest_base, snapshot  # snapshot: every file under a folder, sha256
from test_remote import SFTP_SERVER, SSHD, sshd  # noqa: F401  (the loopback sshd fixture, for the device test)

SIZE = 32
GRID = ["squeezenet_1_1", "mobilenet_v2@0.35", "--sizes", str(SIZE), "--epochs", "1", "--recipes", "fp32,int8",
        "--targets", "cpu:1", "--runtimes", "litert", "--runs", "3", "--min-seconds", "0", "--warmup", "1",
        "--calib-samples", "8", "--batch-size", "8"]


def edgebb(*args, env=None, timeout=900, user=None, cwd=None):
    command = [sys.executable, "-m", "edgebb", *map(str, args)]
    if user:
        command = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups", *command]
        share_pytest_base()
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def _ok_cells(store: str) -> list[tuple]:
    """(key, created, measured) of the finished cells, read while the sweep may be writing (WAL allows it)."""
    if not os.path.exists(store):
        return []
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("SELECT key, created, provenance FROM cells WHERE status = 'ok'").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []
    return [(k, c, json.loads(p)["measured"]) for k, c, p in rows]


def shared_sweep(tmp_path_factory) -> dict:
    """The session's sweep: started, killed with SIGKILL once the first backbone's cells are in the store, and run
    again to the end. Returns {"out", "data", "killed": [...], "children_alive": [...], "rerun": stderr}."""
    import psutil

    base = tmp_path_factory.getbasetemp() / "edgebb-shared-sweep"
    record = base / "record.json"
    if record.exists():
        return json.loads(record.read_text())
    if base.exists():
        shutil.rmtree(base)
    base.mkdir()
    os.chmod(base, 0o755)
    from edgebb.data.synth import generate

    data, out = base / "shapes", base / "sweep"
    generate(str(data), classes=3, per_class=8, size=SIZE, seed=0)
    store = str(out / "sweep.sqlite")
    proc = subprocess.Popen([sys.executable, "-m", "edgebb", "sweep", *GRID, "--data", str(data), "-o", str(out),
                             "--jobs", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while len(_ok_cells(store)) < 2:
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        assert time.monotonic() < deadline, "no cell finished in 15 minutes"
        time.sleep(0.3)
    children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = _ok_cells(store)
    time.sleep(3)  # a pool worker notices its driver is gone within a second
    alive = [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    rerun = edgebb("sweep", *GRID, "--data", data, "-o", out, "--jobs", "1")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    result = {"out": str(out), "data": str(data), "killed": killed, "children_alive": alive,
              "rerun": rerun.stderr, "table": rerun.stdout}
    record.write_text(json.dumps(result))
    return result


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    return shared_sweep(tmp_path_factory)


def learned_copy(swept: dict, dest) -> str:
    """A copy of the session's sweep in which MobileNetV2 learned: its float model (and so each of its cells)
    scores 5 of the 6 held-out images, above chance for 3 classes, as longer training would make it, and its int8
    conversion check is judged (convert leaves a model at chance unjudged) and passed, as its figures (agreement
    100%, no drop) say; SqueezeNet stays at chance. One epoch on 18 images teaches neither network anything, and a
    model at chance is never recommended nor on a frontier: what needs a choice or a frontier from a real sweep
    reads this copy."""
    from contextlib import closing

    shutil.copytree(swept["out"], dest)
    with closing(sqlite3.connect(os.path.join(dest, "sweep.sqlite"))) as conn, conn:
        conn.execute("UPDATE cells SET accuracy = 5.0 / 6, float_accuracy = 5.0 / 6 WHERE backbone = 'mobilenet_v2'")
        conn.execute("UPDATE cells SET verification = json_set(verification, '$.passed', json('true'), "
                     "'$.min_agreement', 90.0) WHERE backbone = 'mobilenet_v2' AND "
                     "json_extract(verification, '$.passed') IS NULL")
    return str(dest)


def set_spread(out, spreads: dict, busy: dict | None = None) -> None:
    """Give the cells of `out`'s store the latency spread (typical run-to-run variation, a share of p50) of
    `spreads` by (backbone, recipe), and every other cell a quiet 0.01; and the share of the CPU other work used
    while they were measured of `busy`, every other cell 0.02: how noisy or busy a measurement was is the
    machine's doing, not the test's."""
    from contextlib import closing

    with closing(sqlite3.connect(os.path.join(out, "sweep.sqlite"))) as conn, conn:
        conn.execute("UPDATE cells SET bench = json_set(bench, '$.spread', 0.01) WHERE bench IS NOT NULL")
        conn.execute("UPDATE cells SET provenance = json_set(provenance, '$.environment.cpu_busy_before', 0.02, "
                     "'$.environment.cpu_busy_after', 0.02) WHERE bench IS NOT NULL")
        for (backbone, recipe), spread in spreads.items():
            conn.execute("UPDATE cells SET bench = json_set(bench, '$.spread', ?) WHERE backbone = ? AND recipe = ?",
                         (spread, backbone, recipe))
        for (backbone, recipe), share in (busy or {}).items():
            conn.execute("UPDATE cells SET provenance = json_set(provenance, '$.environment.cpu_busy_before', ?) "
                         "WHERE backbone = ? AND recipe = ?", (share, backbone, recipe))


# ------------------------------------------------------------------------------------------ interruption, reuse


def test_kill_9_mid_sweep_loses_only_the_cells_in_flight(swept):
    from edgebb.selection.store import Store

    with Store.open(swept["out"]) as store:
        assert store.integrity() == "ok"
        rows = store.cells()
        runs = store.runs()
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 4  # 2 backbones x 2 recipes x 1 runtime x 1 target, each once
    assert all(r["status"] == "ok" for r in rows), [(r["backbone"], r["error"]) for r in rows]
    before = {k: (created, measured) for k, created, measured in swept["killed"]}
    assert len(before) >= 2
    for row in rows:  # the cells finished before the kill were reused, not measured again
        if row["key"] in before:
            assert (row["created"], row["provenance"]["measured"]) == before[row["key"]]
    store = os.path.join(swept["out"], "sweep.sqlite")
    assert f"sweep: 4 cells: {len(before)} reused from {store}, {4 - len(before)} to run" in swept["rerun"]
    assert [r["status"] for r in runs] == ["running", "finished"]  # the killed run never finished
    assert swept["children_alive"] == [], "a pool worker outlived its killed driver"


def test_ctrl_c_mid_sweep_keeps_the_finished_cells(swept, tmp_path):
    """The session's sweep with MobileNetV2's two cells removed, run again with every measurement slowed: Ctrl-C
    while they are measured exits 130 in one line, leaves no stage process, the store intact and the run marked
    interrupted; the re-run reuses SqueezeNet's cells and measures the rest."""
    from test_bad_input import _interrupt, _processes_with

    from edgebb.selection.store import Store

    out = tmp_path / "out"
    shutil.copytree(swept["out"], out)
    with sqlite3.connect(out / "sweep.sqlite") as conn:
        conn.execute("DELETE FROM cells WHERE backbone = 'mobilenet_v2'")
    env = {**os.environ, "EDGEBB_TEST_RUN": str(tmp_path), "EDGEBB_BENCH_FAULT": "slow"}
    code, err = _interrupt(["sweep", *GRID, "--data", swept["data"], "-o", out], signal.SIGINT,
                           "measuring mobilenet_v2", env=env, delay=0.5)
    assert code == 130, err[-3000:]
    # the last line says what is kept, as the store holds it then, and how to go on (it was "edgebb: interrupted")
    assert "Traceback" not in err and err.strip().splitlines()[-1] == (
        f"edgebb: interrupted; 2 of 4 cells are finished and kept in {out}/sweep.sqlite (and the trained model the "
        "others need); the same command reuses them and runs the other 2"), err[-3000:]
    time.sleep(1)
    assert _processes_with(f"EDGEBB_TEST_RUN={tmp_path}") == [], "a stage process outlived its interrupted sweep"
    with Store.open(str(out)) as store:
        assert store.integrity() == "ok" and store.runs()[-1]["status"] == "interrupted"
        finished = [r for r in store.cells() if r["status"] == "ok"]
    assert sorted(r["backbone"] for r in finished) == ["squeezenet_1_1"] * 2
    rerun = edgebb("sweep", *GRID, "--data", swept["data"], "-o", out)
    assert rerun.returncode == 0 and "4 cells: 2 reused from" in rerun.stderr, rerun.stderr[-3000:]


def test_a_ctrl_c_while_the_pool_shuts_down_still_ends_the_run(swept, tmp_path, monkeypatch):
    """The pool's shutdown waits for its workers; a Ctrl-C landing there once left the run 'running' for ever."""
    from edgebb.selection import sweep
    from edgebb.selection.executors.local import LocalExecutor
    from edgebb.selection.store import Store

    def interrupted(self, cancel=False):
        raise KeyboardInterrupt

    out = tmp_path / "copy"
    shutil.copytree(swept["out"], out)
    monkeypatch.setattr(LocalExecutor, "close", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep(["squeezenet_1_1", "mobilenet_v2@0.35"], swept["data"], str(out), sizes=(SIZE,), epochs=1,
              recipes="fp32,int8", targets=("cpu:1",), runtimes=("litert",), runs=3, min_seconds=0, warmup=1,
              calib_samples=8, batch_size=8)
    with Store.open(str(out)) as store:
        assert [r["status"] for r in store.runs()][-1] == "finished"  # every cell was reused: it had finished


def test_int8_qat_from_a_weights_file_without_training(swept, tmp_path):
    """--epochs 0 --weights FILE: no training stage, the file's weights are what is converted (the fp32 cell's
    accuracy is theirs), and int8-qat fine-tunes them with fake quantization inside the sweep."""
    import tf_keras as keras

    from edgebb.models import create_model
    from edgebb.selection.store import Store

    keras.utils.set_random_seed(3)
    weights = tmp_path / "mine.weights.h5"
    create_model("mobilenet_v2", width=0.35, input_size=SIZE, num_classes=3).save_weights(str(weights))
    out = tmp_path / "out"
    grid = ["mobilenet_v2@0.35", *GRID[2:]]
    grid[grid.index("--epochs") + 1], grid[grid.index("--recipes") + 1] = "0", "fp32,int8-qat"
    result = edgebb("sweep", *grid, "--weights", weights, "--data", swept["data"], "-o", out)
    assert result.returncode == 0, result.stderr[-3000:]
    with Store.open(str(out)) as store:
        rows = {r["recipe"]: r for r in store.cells()}
    assert sorted(rows) == ["fp32", "int8-qat"] and all(r["status"] == "ok" for r in rows.values()), rows
    assert all(r["train_seconds"] is None for r in rows.values())  # nothing was trained
    assert rows["fp32"]["weights"] == str(weights)
    qat = rows["int8-qat"]
    assert qat["accuracy"] is not None and qat["agreement"] is not None and qat["p50_ms"] > 0


def test_rerun_reuses_every_finished_cell(swept):
    from edgebb.selection import sweep

    started = time.perf_counter()
    result = sweep(["squeezenet_1_1", "mobilenet_v2@0.35"], swept["data"], swept["out"], sizes=(SIZE,), epochs=1,
                   recipes="fp32,int8", targets=("cpu:1",), runtimes=("litert",), runs=3, min_seconds=0, warmup=1,
                   calib_samples=8, batch_size=8)
    assert result.reused == 4 and result.measured == 0
    assert time.perf_counter() - started < 30
    assert len(result.rows) == 4 and not result.failed


def test_other_conversion_code_converts_and_measures_again_but_keeps_the_trained_model(swept, tmp_path, monkeypatch):
    """A store whose artifacts another edgebb.conversion made (an exporter changed since) must not hand out their
    figures as today's: those cells are converted and measured again, the training is reused, and it is said."""
    from edgebb.selection import plan, sweep
    from edgebb.selection.store import Store

    out = tmp_path / "sweep"
    shutil.copytree(swept["out"], out)
    models = snapshot(out / "models")
    assert models
    with Store.open(str(out / "sweep.sqlite")) as store:
        before = store.cells()
    monkeypatch.setattr(plan, "converter_revision", lambda: "0" * 12)
    lines = []
    result = sweep(["squeezenet_1_1"], swept["data"], str(out), sizes=(SIZE,), epochs=1, recipes="fp32,int8",
                   targets=("cpu:1",), runtimes=("litert",), runs=3, min_seconds=0, warmup=1, calib_samples=8,
                   batch_size=8, progress=lines.append)
    assert result.reused == 0 and result.measured == 2 and not result.failed
    assert any("2 finished cell(s)" in line and "converted by other edgebb code" in line for line in lines), lines
    assert not any("training squeezenet" in line for line in lines), lines
    assert snapshot(out / "models") == models  # the trained model was reused, untouched
    assert all(r["provenance"]["converter"] == "0" * 12 for r in result.rows)
    with Store.open(str(out / "sweep.sqlite")) as store:
        after = {r["key"]: r for r in store.cells()}
    assert all(r["key"] in after for r in before)  # the earlier rows stay in the store

    lines.clear()  # and once measured with this code, a re-run reuses them without a word about other code
    again = sweep(["squeezenet_1_1"], swept["data"], str(out), sizes=(SIZE,), epochs=1, recipes="fp32,int8",
                  targets=("cpu:1",), runtimes=("litert",), runs=3, min_seconds=0, warmup=1, calib_samples=8,
                  batch_size=8, progress=lines.append)
    assert again.reused == 2 and again.measured == 0
    assert not any("other edgebb code" in line for line in lines), lines


def test_the_progress_moves_while_models_train_and_convert(swept, tmp_path):
    """A cell counts a third when its model is trained, a third when converted, the rest when its row is written:
    counting whole cells only, `make demo` showed [1/16] through four minutes of training."""
    from edgebb.core.progress import Progress, Step
    from edgebb.selection import sweep

    seen = []

    class Recorder(Progress):
        def step(self, description, total=None):
            class Recorded(Step):
                def _update(self, detail, log, amount):
                    seen.append((self.completed, self.position, detail or ""))

            return Recorded(description, total)

    result = sweep(["squeezenet_1_1"], swept["data"], str(tmp_path / "sweep"), sizes=(SIZE,), epochs=1,
                   recipes="fp32,int8", targets=("cpu:1",), runtimes=("litert",), runs=3, min_seconds=0, warmup=1,
                   calib_samples=8, batch_size=8, progress=Recorder())
    assert result.measured == 2 and not result.failed
    counts = [completed for completed, _, _ in seen]
    assert counts == sorted(counts) and counts[-1] == pytest.approx(2)
    trained = next(i for i, (_, _, detail) in enumerate(seen) if detail.startswith("training squeezenet_1_1")
                   and detail.endswith(": done"))
    assert seen[trained][:2] == (pytest.approx(2 / 3), "[1/2]"), seen
    converted = [c for c, _, detail in seen if detail.startswith("measuring")]
    assert converted and converted[0] == pytest.approx(4 / 3), seen  # both cells converted, neither measured yet
    assert seen[-1][1] == "[2/2]"


def test_a_resumed_sweep_says_what_it_reuses_and_counts_what_it_runs(swept, tmp_path):
    """A new user's resumed sweep said `cells to measure (12)` and started at [9/12]: the trainings and conversions
    it reused counted as two thirds of each cell. The first line says how many cells there are, how many are reused
    and how many run (and that their model is trained and converted already), and the count starts at the first."""
    from edgebb.core.progress import Progress, Step
    from edgebb.selection import sweep

    out = tmp_path / "out"
    shutil.copytree(swept["out"], out)
    with sqlite3.connect(out / "sweep.sqlite") as conn:
        conn.execute("DELETE FROM cells WHERE backbone = 'mobilenet_v2'")
    said, seen = [], []

    class Recorder(Progress):
        def say(self, message):
            said.append(message)

        def step(self, description, total=None):
            said.append(f"{description} ({total:g})")

            class Recorded(Step):
                def _update(self, detail, log, amount):
                    seen.append((self.completed, self.position, detail or ""))

            return Recorded(description, total)

    result = sweep(["squeezenet_1_1", "mobilenet_v2@0.35"], swept["data"], str(out), sizes=(SIZE,), epochs=1,
                   recipes="fp32,int8", targets=("cpu:1",), runtimes=("litert",), runs=3, min_seconds=0, warmup=1,
                   calib_samples=8, batch_size=8, progress=Recorder())
    assert result.reused == 2 and result.measured == 2 and not result.failed
    assert said[0].startswith(f"sweep: 4 cells: 2 reused from {out}/sweep.sqlite, 2 to run (their model is trained "
                              "and converted: reused); the count below is of cells"), said
    assert said[1] == "sweep: cells to run (2)", said
    measuring = [position for _, position, detail in seen if detail.startswith("measuring mobilenet_v2")]
    assert measuring and set(measuring) == {"[1/2]"}, seen  # nothing counted before its measurement ends
    assert seen[-1][:2] == (pytest.approx(2), "[2/2]"), seen

    # every cell finished: nothing to run, and the line says so
    said.clear()
    sweep(["squeezenet_1_1", "mobilenet_v2@0.35"], swept["data"], str(out), sizes=(SIZE,), epochs=1,
          recipes="fp32,int8", targets=("cpu:1",), runtimes=("litert",), runs=3, min_seconds=0, warmup=1,
          calib_samples=8, batch_size=8, progress=Recorder())
    assert said[0] == f"sweep: 4 cells: all 4 reused from {out}/sweep.sqlite, none to run", said
    assert not any(line.startswith("sweep: cells to run") for line in said), said  # a heading with nothing under it


def test_plan_lists_what_would_run_not_what_the_store_holds(swept, tmp_path):
    """--plan listed a training and a conversion for models already finished in the store. It lists what the sweep
    would run (the same reuse the sweep makes), says what is reused, and writes nothing."""
    from edgebb.selection import SweepOptions
    from edgebb.selection.plan import make_plan
    from edgebb.selection.reuse import kept

    def plan(out):
        result = edgebb("sweep", *GRID, "--data", swept["data"], "-o", out, "--plan")
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout, [line.split() for line in result.stdout.splitlines() if "@32" in line]

    text, rows = plan(tmp_path / "fresh")  # nothing in a store yet: every stage of both models
    assert [r[3] for r in rows] == ["train", "convert", "measure"] * 2, text
    assert "4 cells, all to run; 2 model(s), 1 target(s)" in text and not (tmp_path / "fresh").exists()

    from contextlib import closing

    out = tmp_path / "out"
    shutil.copytree(swept["out"], out)
    with closing(sqlite3.connect(out / "sweep.sqlite")) as conn, conn:
        conn.execute("DELETE FROM cells WHERE backbone = 'mobilenet_v2'")
    before = snapshot(out)
    text, rows = plan(out)
    assert [(r[0], r[3:6], r[-1]) for r in rows] == [("mobilenet_v2", ["measure", "on", "cpu:1"], "2")], text
    assert (f"4 cells: 2 reused from {out}/sweep.sqlite, 2 to run (their model is trained and converted: reused)"
            in text), text
    assert "nothing was run or written" in text and snapshot(out) == before

    text, rows = plan(swept["out"])  # every cell finished
    assert rows == [] and f"4 cells: all 4 reused from {swept['out']}/sweep.sqlite, none to run" in text, text

    # what an interrupted sweep says it kept, where nothing had finished yet
    fresh = make_plan(SweepOptions(backbones=("squeezenet_1_1",), sizes=(SIZE,), targets=("cpu:1",),
                                   runtimes=("litert",), data=swept["data"]), str(tmp_path / "new"))
    assert kept(fresh) == "no cell had finished: the same command runs the 2 cells"


def test_every_option_says_what_it_does_and_sweeps_its_default():
    """`edgebb sweep --help` showed `--batch-size INTEGER` with nothing beside it. Every option of sweep, report and
    recommend has a help text, and every sweep option that takes a value names its default, the one SweepOptions
    has (the options default to None so a --config file's values stand)."""
    import dataclasses

    import click

    from edgebb.cli import cli
    from edgebb.selection import SweepOptions

    for name in ("sweep", "report", "recommend"):
        for param in cli.commands[name].params:
            if isinstance(param, click.Option):
                assert param.help, (name, param.name)
    defaults = {f.name: f.default for f in dataclasses.fields(SweepOptions)}
    for param in cli.commands["sweep"].params:
        if not isinstance(param, click.Option) or param.is_flag and param.name != "retry_failed":
            continue
        assert "[default: " in param.help, param.name
        value = defaults.get(param.name)
        if value is not None and not isinstance(value, bool):
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else \
                f"{value:g}" if isinstance(value, float) else str(value)
            assert f"[default: {shown}]" in param.help, (param.name, shown, param.help)


def test_a_pinned_width_says_it_overrides_widths(tmp_path):
    """`sweep mobilenet_v2@0.35 --widths 0.5` said only `no backbone of the grid has width 0.5`: the pin overrides
    --widths for that backbone, and the error says so, with the ways to get both."""
    from edgebb.core.errors import InputError
    from edgebb.selection.grid import SweepOptions, expand

    result = edgebb("sweep", "mobilenet_v2@0.35", "--widths", "0.5", "--sizes", SIZE, "-o", tmp_path / "o",
                    timeout=120)
    assert_one_line(result, 2, "no backbone of the grid has width 0.5 (mobilenet_v2@0.35 pins its width with @, "
                               "which overrides --widths for it: give mobilenet_v2 without @ to sweep --widths, or add "
                               "the width to the pin, mobilenet_v2@0.35+0.5)")
    with pytest.raises(InputError, match=r"^no backbone of the grid has width 0.7$"):  # no pin: nothing to add
        expand(SweepOptions(backbones=("squeezenet_1_1",), widths=(0.7,), sizes=(SIZE,)))
    with pytest.raises(InputError, match=r"\(mobilenet_v3_small@0.75, mobilenet_v2@0.35 pin their widths with @, "
                                          r"which override --widths for them: give mobilenet_v2 without @"):
        expand(SweepOptions(backbones=("mobilenet_v3_small@0.75", "mobilenet_v2@0.35"), widths=(0.5,),
                            sizes=(SIZE,)))


def test_cells_carry_every_figure_and_their_provenance(swept):
    from edgebb.selection.store import Store

    with Store.open(swept["out"]) as store:
        rows = store.cells()
    for r in rows:
        assert r["accuracy_source"] == "measured" and 0 <= r["accuracy"] <= 1
        assert 0 <= r["agreement"] <= 1 and r["verification"]["samples"] == 6  # the held-out split: 2 per class
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["peak_rss_mb"] > 0 and r["size_mb"] > 0 and r["macs"] > 0 and r["params"] > 0
        assert r["train_seconds"] > 0 and r["convert_seconds"] > 0 and r["weights"] == "random"
        # what the model started from (offline, MobileNetV2 0.35 too trained from random weights, though its family
        # has ImageNet weights: `pretrained` was true beside `weights: random`)
        assert r["pretrained"] is False
        # convert loaded the model training saved: on the same held-out images, the same float accuracy
        assert r["float_accuracy"] == pytest.approx(r["provenance"]["train"]["best_val_accuracy"], abs=1e-6)
        assert r["target"] == "cpu:1" and r["threads"] == 1 and r["runtime"] == "litert"
        p = r["provenance"]
        assert p["versions"]["edgebb"] and p["versions"]["tensorflow"] and p["target"]["cpu_model"]
        assert p["environment"]["cores"] and p["data"]["images"] == 24 and r["bench"]["status"] == "ok"
    int8 = {r["backbone"]: r["size_mb"] for r in rows if r["recipe"] == "int8"}
    fp32 = {r["backbone"]: r["size_mb"] for r in rows if r["recipe"] == "fp32"}
    assert all(int8[b] < fp32[b] for b in int8)
    out = swept["out"]
    assert sorted(os.listdir(out)) == ["artifacts", "models", "sweep.sqlite"]
    assert len(os.listdir(os.path.join(out, "artifacts"))) == 2
    # the trained models are kept as .h5 (see stages.as_h5), each with the metadata convert needs, and nothing else
    models = sorted(n for n in os.listdir(os.path.join(out, "models")) if not n.endswith((".log.csv", ".log.json")))
    assert len(models) == 2 and all(n.endswith(".h5") for n in models), models
    from edgebb.build.meta import read_meta

    meta = read_meta(os.path.join(out, "models", models[0]))
    assert meta["training_images"]["count"] == 18 and len(meta["labels"]) == 3


def test_the_table_says_which_models_did_not_learn(swept):
    """A model whose float accuracy cannot be told from guessing is named under the table (SqueezeNet 1.1 trained
    from random weights stays at chance), with the same lines edgebb.selection.cells.not_learned gives."""
    from edgebb.selection.cells import not_learned
    from edgebb.selection.store import Store

    with Store.open(swept["out"]) as store:
        lines = not_learned(store.cells())
    assert any(line.startswith("squeezenet_1_1 1 @32 is not clearly above chance") for line in lines), lines
    table = " ".join(swept["table"].split())
    assert all(" ".join(f"note: {line}".split()) in table for line in lines)


def test_as_h5_keeps_the_weights_and_the_metadata(tmp_path):
    import numpy as np

    from edgebb.build.meta import read_meta, write_meta
    from edgebb.models import create_model, load_model
    from edgebb.selection.stages import as_h5

    model = create_model("mobilenet_v3_small", width=0.75, input_size=SIZE, num_classes=3)
    model.compile("adam", "sparse_categorical_crossentropy")  # compiled, as edgebb train leaves it
    model.save(str(tmp_path / "m.keras"))
    write_meta(str(tmp_path / "m.keras"), {"labels": ["a", "b", "c"]})
    as_h5(str(tmp_path / "m.keras"), str(tmp_path / "m.h5"))
    x = np.random.default_rng(0).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    again = load_model(str(tmp_path / "m.h5"))
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert read_meta(str(tmp_path / "m.h5")) == {"labels": ["a", "b", "c"]}
    assert sorted(os.listdir(tmp_path)) == ["m.h5", "m.keras"]  # no temporary file left behind


def _nap(task: dict, progress=None) -> dict:
    """A heavy stage for the executor test (module level: a spawned worker imports it by name)."""
    started, steps = time.time(), task.get("say", 1)
    for i in range(steps):
        if progress and "say" in task:
            progress(f"epoch {i + 1}/{steps}")
        time.sleep(task["seconds"] / steps)
    return {"started": started, "ended": time.time()}


def test_what_a_worker_says_reaches_the_driver_while_it_runs():
    """A training in a pool worker says its epochs as they end; the driver hears them, with their stage, before
    the stage is done (not all at once after it)."""
    from edgebb.selection.executors import Stage
    from edgebb.selection.executors.local import LocalExecutor

    heard = []
    executor = LocalExecutor(jobs=1, on_progress=lambda stage, message: heard.append((stage.id, message, time.time())))
    executor.submit(Stage("train", "prepare", _nap, {"seconds": 3, "say": 3}))
    try:
        (outcome,) = list(executor.completed())
    finally:
        executor.close()
    assert outcome.error is None, outcome.error
    assert [(i, m) for i, m, _ in heard] == [("train", "epoch 1/3"), ("train", "epoch 2/3"), ("train", "epoch 3/3")]
    assert heard[0][2] < outcome.result["ended"] - 1.5  # relayed while the stage still ran


def test_heavy_stages_never_wait_for_a_measurement():
    """A measurement waits until no training or conversion runs; the workers do not wait for it: with a long stage
    in one worker, the other keeps taking stages."""
    from edgebb.selection.executors import Stage
    from edgebb.selection.executors.local import LocalExecutor

    executor = LocalExecutor(jobs=2)
    executor.submit(Stage("long", "prepare", _nap, {"seconds": 4}))
    executor.submit(Stage("short", "prepare", _nap, {"seconds": 0.1}))
    done, measured = {}, []
    try:
        for outcome in executor.completed():
            assert outcome.error is None, outcome.error
            done[outcome.stage.id] = outcome.result
            if outcome.stage.id == "short":
                executor.submit(Stage("measure", "measure", lambda task, progress=None: measured.append(time.time())
                                      or {}, {}, device="local"))
                executor.submit(Stage("next", "convert", _nap, {"seconds": 0.1}))
    finally:
        executor.close()
    assert done["next"]["ended"] < done["long"]["ended"]  # ran beside the long stage while the measurement waited
    assert measured and measured[0] >= done["long"]["ended"]  # the measurement ran with no heavy stage beside it


def test_json_and_csv_exports(swept, tmp_path):
    """The table's figures and its P column's frontier marks (the JSON and CSV had no marks: a user rebuilt the
    frontier by hand), in both exports; a model at chance is never on it."""
    import csv

    out = learned_copy(swept, tmp_path / "learned")
    result = edgebb("sweep", *GRID, "--data", swept["data"], "-o", out, "--json", "-", "--csv", tmp_path / "t.csv",
                    "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "edgebb.sweep-result/1" and len(data["cells"]) == 4
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert {"backbone", "width", "size", "recipe", "runtime", "target", "p50_ms", "accuracy", "pareto_latency",
            "pareto_memory"} <= set(rows[0]) and "provenance" not in rows[0]
    marked = {(c["backbone"], c["recipe"]) for c in data["cells"] if c["pareto_latency"]}
    assert marked and {b for b, _ in marked} == {"mobilenet_v2"}  # SqueezeNet is at chance
    assert {(r["backbone"], r["recipe"]) for r in rows if r["pareto_latency"] == "True"} == marked
    table = edgebb("sweep", *GRID, "--data", swept["data"], "-o", out, "-q").stdout.splitlines()
    starred = {(line.split()[1], line.split()[4]) for line in table if line.startswith("* ") and "Pareto" not in line}
    assert starred == marked, table
    # whether a cell may be shipped, and why not, as the table's status says it (the exports said "ok" of a cell
    # at chance and of an int8 one not judged); and its p50's noise
    for c in data["cells"]:
        assert c["candidate"] == (c["excluded"] is None) and c["spread"] is not None, c
        if c["backbone"] == "squeezenet_1_1":  # at chance; its int8 conversion was not judged, as convert says
            assert not c["candidate"] and ("chance" if c["recipe"] == "fp32" else "not judged") in c["excluded"], c
    assert {(r["backbone"], r["recipe"]) for r in rows if r["candidate"] == "True"} == \
        {(c["backbone"], c["recipe"]) for c in data["cells"] if c["candidate"]}
    assert all(r["spread"] for r in rows)


def test_python_api_pareto_and_save(swept, tmp_path):
    from edgebb.selection import sweep
    from edgebb.selection.pareto import MEMORY

    def again(out):
        return sweep(["squeezenet_1_1", "mobilenet_v2@0.35"], swept["data"], out, sizes=(SIZE,), epochs=1,
                     recipes="fp32,int8", targets="cpu:1", runtimes="litert", runs=3, min_seconds=0, warmup=1,
                     calib_samples=8, batch_size=8)

    # the session's sweep: no model learned, so no cell is worth shipping, on either frontier
    result = again(swept["out"])
    assert result.measured == 0 and result.pareto("cpu:1") == [] and result.pareto("cpu:1", objectives=MEMORY) == []
    result = again(learned_copy(swept, tmp_path / "learned"))  # MobileNetV2 learned, SqueezeNet did not
    best = result.pareto("cpu:1")
    assert best and all(b["status"] == "ok" and b["backbone"] == "mobilenet_v2" for b in best)
    latencies = [b["p50_ms"] for b in best]
    assert latencies == sorted(latencies)
    accuracies = [b["accuracy"] for b in best]  # along the frontier, slower means more accurate
    assert accuracies == sorted(accuracies)
    assert result.pareto("cpu:1", objectives=MEMORY)
    path = result.save(str(tmp_path / "s.json"))
    assert len(json.loads(open(path).read())["cells"]) == 4
    assert result.save(str(tmp_path / "s.csv")).endswith(".csv")


def test_a_failed_cell_is_a_row_and_the_sweep_goes_on(swept, tmp_path):
    """A measurement that dies (here: killed by --timeout) is a row with its cause; exit 1 names the count."""
    out = tmp_path / "copy"
    shutil.copytree(swept["out"], out)
    result = edgebb("sweep", *GRID, "--data", swept["data"], "-o", out, "--timeout", "0.001")
    assert result.returncode == 1, result.stderr
    assert "4 of 4 cells failed" in result.stderr.strip().splitlines()[-1]
    # nothing was measured: no Pareto legend and no "next: edgebb report ...", but a line saying so and where to look
    assert "Pareto-optimal" not in result.stdout and "next: " not in result.stderr
    assert "nothing was measured: all 4 cells failed (the footnotes above give each cause" in \
        " ".join(result.stdout.split()), result.stdout
    from edgebb.selection.store import Store

    with Store.open(str(out)) as store:
        failed = [r for r in store.cells() if r["status"] == "failed"]
    assert len(failed) == 4 and all("timed out" in r["error"] and r["stage"] == "measure" for r in failed)
    assert "timed out" in result.stdout


def test_a_failed_rerun_then_the_first_command_again_shows_the_first_commands_cells(swept, tmp_path):
    """A new user swept a grid, ran it again with a --timeout too short (every cell failed), then the first command
    again: it reused its 4 ok cells and printed them, but report and recommend showed the failed rows (written
    last). The store's view is the cells the newest sweep of each configuration used, as its table showed them."""
    from edgebb.reporting.report import build, load
    from edgebb.selection import sweep
    from edgebb.selection.store import Store

    out = learned_copy(swept, tmp_path / "out")

    def run(**extra):
        return sweep(["squeezenet_1_1", "mobilenet_v2@0.35"], swept["data"], out, sizes=(SIZE,), epochs=1,
                     recipes="fp32,int8", targets="cpu:1", runtimes="litert", runs=3, min_seconds=0, warmup=1,
                     calib_samples=8, batch_size=8, **extra)

    def view():
        with Store.open(out) as store:
            rows, _ = store.view()
        return {r["key"]: r["status"] for r in rows}

    first = {r["key"]: r["status"] for r in run().rows}
    assert view() == first and set(first.values()) == {"ok"}
    failed = run(timeout=0.001)
    assert len(failed.failed) == 4 and view() == {r["key"]: "failed" for r in failed.rows}  # as its table said
    rerun = run()
    assert rerun.reused == 4 and rerun.measured == 0
    assert {r["key"]: r["status"] for r in rerun.rows} == first == view()
    with Store.open(out) as store:
        assert len(store.cells()) == 8  # the failed rows stay in the store, not in the view
    doc = build(load(out))
    assert "4 cells (4 measured, 0 failed or skipped)" in doc.subtitle[2]
    answer = edgebb("recommend", out, "--target", "cpu:1")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "choice: mobilenet_v2 0.35 @32" in answer.stdout and "timed out" not in answer.stdout


def test_the_view_is_what_the_newest_sweep_of_each_configuration_used(tmp_path):
    """Store.view on a real store written by hand: rows of one configuration under other keys (other bench
    settings, epochs, versions) are shown as the newest run that asked for them left them, whichever was written
    last; a run interrupted before its cell was written shows the row before; other data is left out."""
    from edgebb.selection.store import Store

    def row(key, run_id, status="ok", backbone="mobilenet_v2", data="d1"):
        return {"key": key, "run_id": run_id, "backbone": backbone, "width": 0.35, "size": 32, "recipe": "fp32",
                "runtime": "litert", "target": "cpu:1", "status": status, "data_fingerprint": data}

    def shown(store):
        rows, notes = store.view()
        return {r["backbone"]: r["key"] for r in rows}, notes

    with Store.create(str(tmp_path)) as store:
        one = store.start_run({}, ["a", "other"], "d1", [])
        store.put_cells([row("a", one), row("other", one, backbone="squeezenet_1_1")])
        two = store.start_run({}, ["b"], "d1", [])  # the same grid with --timeout 0.001: a new key, failed
        store.put_cells([row("b", two, status="failed")])
        assert shown(store) == ({"mobilenet_v2": "b", "squeezenet_1_1": "other"}, [])
        store.start_run({}, ["a"], "d1", [])  # the first command again: "a" reused, nothing written
        assert shown(store)[0]["mobilenet_v2"] == "a"
        store.start_run({}, ["b"], "d1", [])  # and the second again
        assert shown(store)[0]["mobilenet_v2"] == "b"
        store.start_run({}, ["c"], "d1", [])  # interrupted before its cell was written
        assert shown(store)[0]["mobilenet_v2"] == "b"
        six = store.start_run({}, ["d"], "d2", [])  # other data: what was measured on d1 is left out
        store.put_cells([row("d", six, data="d2")])
        assert shown(store) == ({"mobilenet_v2": "d"}, ["3 cell(s) of an earlier sweep on other data left out"])


def test_noisy_cells_are_warned_about_in_the_table_and_the_json(swept, tmp_path):
    """edgebb bench warns when a row's latencies varied by more than 15% (std / mean); a sweep's table and its
    JSON said nothing. They name how many cells and the noisiest, with bench's threshold and words."""
    from edgebb.benchmark.analysis import NOISY

    out = tmp_path / "out"
    shutil.copytree(swept["out"], out)
    set_spread(out, {("squeezenet_1_1", "int8"): 0.42, ("mobilenet_v2", "fp32"): NOISY + 0.01})
    result = edgebb("sweep", *GRID, "--data", swept["data"], "-o", out, "--json", tmp_path / "s.json")
    assert result.returncode == 0 and "4 reused from the store" in result.stdout, result.stderr[-3000:]
    text = " ".join(result.stdout.split())
    warning = ("warning: 2 cell(s) varied by more than 15% from run to run (interquartile range / 1.349, a share of "
               "p50): squeezenet_1_1 1 @32 int8 on litert (cpu:1) 42%; mobilenet_v2 0.35 @32 fp32 on litert (cpu:1) "
               "16%; their comparisons are "
               "uncertain")
    assert warning in text, text
    notes = json.loads((tmp_path / "s.json").read_text())["notes"]
    assert [" ".join(n.split()) for n in notes if n.startswith("warning: ")][0].startswith(warning), notes


def test_cells_measured_on_a_busy_machine_are_said_and_remeasure_measures_them_again(swept, tmp_path):
    """edgebb bench warns when other work used the machine while it measured; a sweep kept that warning in each
    cell's provenance and showed it nowhere. The table and the JSON name those cells, and --remeasure measures
    every finished cell again without training or converting anything."""
    out = tmp_path / "out"
    shutil.copytree(swept["out"], out)
    set_spread(out, {}, busy={("squeezenet_1_1", "int8"): 0.61})
    with sqlite3.connect(out / "sweep.sqlite") as conn:
        conn.execute("UPDATE cells SET provenance = json_set(provenance, '$.measured', '2000-01-01T00:00:00Z')")
    result = edgebb("sweep", *GRID, "--data", swept["data"], "-o", out, "--json", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr[-3000:]
    text = " ".join(result.stdout.split())
    warning = ("warning: 1 cell(s) were measured while other work used more than 25% of the machine's CPU time: "
               "squeezenet_1_1 1 @32 int8 on litert (cpu:1) 61%; their latencies are slower and noisier than an "
               "idle machine's: measure them again with nothing else running (the same sweep with --remeasure")
    assert warning in text, text
    assert any(" ".join(n.split()).startswith(warning) for n in json.loads((tmp_path / "s.json").read_text())["notes"])

    files = {p: os.stat(p).st_mtime_ns for p in map(str, out.rglob("*")) if p.endswith((".tflite", ".keras"))}
    assert len(files) >= 4, files
    again = edgebb("sweep", *GRID, "--data", swept["data"], "-o", out, "--remeasure", "--json", tmp_path / "s2.json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "4 cells: 4 to measure again (--remeasure) (their models are trained and converted: reused)" in \
        " ".join(again.stderr.split()), again.stderr
    assert {p: os.stat(p).st_mtime_ns for p in files} == files  # nothing trained or converted again
    cells = json.loads((tmp_path / "s2.json").read_text())["cells"]
    assert len(cells) == 4 and all(c["status"] == "ok" for c in cells)
    assert all(c["provenance"]["measured"] > "2000-01-01T00:00:00Z" and
               c["provenance"]["environment"].get("cpu_busy_before") != 0.61 for c in cells), cells
    with sqlite3.connect(out / "sweep.sqlite") as conn:  # the new figures replace the old under the same keys
        assert conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 4


def test_an_interrupted_remeasure_says_how_many_it_measured_again(swept, tmp_path):
    """Ctrl-C in a --remeasure keeps every cell, some with new figures and the rest with their earlier ones: the
    last line says how many were measured again, and that the same command without --remeasure reuses them."""
    from edgebb.selection import SweepOptions
    from edgebb.selection.plan import make_plan
    from edgebb.selection.reuse import kept
    from edgebb.selection.store import Store

    out = tmp_path / "out"
    shutil.copytree(swept["out"], out)
    options = dict(backbones=("squeezenet_1_1", "mobilenet_v2@0.35"), sizes=(SIZE,), epochs=1, recipes="fp32,int8",
                   targets=("cpu:1",), runtimes=("litert",), runs=3, min_seconds=0, warmup=1, calib_samples=8,
                   batch_size=8, data=swept["data"])
    plan = make_plan(SweepOptions(**options, remeasure=True), str(out))
    with Store.open(str(out)) as store:  # the interrupted run had measured one cell again
        run = store.start_run({}, [c.key for c in plan.cells], None, [])
        store.put_cells([{**store.cells([plan.cells[0].key])[0], "run_id": run}])
    assert kept(plan) == (f"all 4 cells are finished and kept in {out}/sweep.sqlite, 1 of them measured again before "
                          "it, the others with their earlier figures; the same command without --remeasure reuses "
                          "them as they are, with it measures all 4 again")
    assert kept(make_plan(SweepOptions(**options), str(out))) == (
        f"all 4 cells are finished and kept in {out}/sweep.sqlite; the same command reuses them")


def test_a_throttled_device_and_a_busy_machine_are_warned_about_per_cell():
    from edgebb.selection.cells import busy_warning, measure_warnings, throttle_warning

    def cell(i, busy=None, throttled=None, target="cpu:1", status="ok"):
        env = {"cpu_busy_before": busy, "throttled_before": "0x0" if throttled else None,
               "throttled_after": throttled}
        return {"key": str(i), "backbone": f"b{i}", "width": 1.0, "size": 32, "recipe": "int8", "runtime": "litert",
                "target": target, "status": status, "bench": {"spread": 0.01}, "provenance": {"environment": env}}

    rows = [cell(0, 0.3), cell(1, 0.9), cell(2, 0.2), cell(3, 0.5), cell(4, 0.26), cell(5, 0.8, status="failed")]
    text = busy_warning(rows)
    assert text.startswith("4 cell(s) were measured while other work used more than 25% of the machine's CPU time: "
                           "the busiest: b1 1 @32 int8 on litert (cpu:1) 90%; b3 1 @32 int8 on litert (cpu:1) 50%; "
                           "b0 1 @32 int8 on litert (cpu:1) 30%; 1 more; "), text
    assert busy_warning(rows[2:3]) is None and throttle_warning(rows) is None
    pi = [cell(6, throttled="0x50005", target="ssh://pi@board"), cell(7, throttled="0x0", target="ssh://pi@board")]
    warning = throttle_warning(pi)
    assert warning.startswith("ssh://pi@board throttled (under-voltage, throttled) while 1 cell(s) were measured on "
                              "it, so their figures are not an unthrottled device's: cool the board"), warning
    assert measure_warnings(pi + rows)[0] == warning and measure_warnings(rows[2:3]) == []


def test_the_noise_warning_names_the_worst_few():
    from edgebb.selection.cells import noise_warning
    from edgebb.selection.sweep import SweepResult

    def cell(i, spread, status="ok"):
        return {"key": str(i), "backbone": f"b{i}", "width": 1.0, "size": 32, "recipe": "int8", "runtime": "litert",
                "target": "cpu:1", "status": status, "bench": {"cv": 5.0, "spread": spread}}

    rows = [cell(0, 0.2), cell(1, 0.9), cell(2, 0.15), cell(3, 0.5), cell(4, 0.3), cell(5, 0.8, "failed")]
    text = noise_warning(rows)
    assert text.startswith("4 cell(s) varied by more than 15% from run to run (interquartile range / 1.349, a share "
                           "of p50): the worst: b1 1 @32 int8 on litert (cpu:1) 90%; b3 1 @32 int8 on litert (cpu:1) "
                           "50%; b4 ")
    assert "30%; 1 more; their comparisons are uncertain" in text and "b2" not in text  # 0.15 is not over
    assert noise_warning(rows[2:3]) is None and noise_warning([{**cell(7, None), "bench": {}}]) is None
    # a cell stored before edgebb recorded `spread` is judged by its cv (std / mean)
    assert noise_warning([{**cell(8, None), "bench": {"cv": 0.5}}]).startswith("1 cell(s) varied")
    assert noise_warning([{**cell(8, None), "bench": {"cv": 0.1}}]) is None
    result = SweepResult("out", "out/sweep.sqlite", rows)
    assert result.warnings == [text] and result.to_dict()["notes"] == [f"warning: {text}"]


def test_toml_config(swept, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(f"""
backbones = ["squeezenet_1_1", "mobilenet_v2@0.35"]
sizes = [{SIZE}]
recipes = ["fp32", "int8"]
runtimes = ["litert"]
targets = ["cpu:1"]
data = "{swept['data']}"
output = "{swept['out']}"
epochs = 1

[train]
batch_size = 8

[convert]
calib_samples = 8

[bench]
runs = 3
min_seconds = 0
warmup = 1
""")
    result = edgebb("sweep", "--config", config)
    assert result.returncode == 0, result.stderr
    assert "4 reused from the store" in result.stdout


def test_published_accuracy_without_data():
    from edgebb.conversion.recipes import RECIPES
    from edgebb.selection.grid import published_accuracy

    assert published_accuracy("mobilenet_v2", 0.35, 224, RECIPES["fp32"])[0] == pytest.approx(0.603)
    assert published_accuracy("mobilenet_v2", 0.35, 224, RECIPES["fp32"])[1].startswith("published: keras")
    assert published_accuracy("mobilenet_v2", 0.35, 224, RECIPES["int8"]) == (None, None)  # never invented
    assert published_accuracy("mobilenet_v2", 0.35, 96, RECIPES["fp32"]) == (None, None)
    assert published_accuracy("inception_resnet_v2", 1.0, 299, RECIPES["fp32"])[0] == pytest.approx(0.803)


def test_without_data_accuracy_is_published_or_absent_and_random_int8_is_not_judged():
    """The figures add_artifact puts on a cell converted without --data (random weights): the float recipe at the
    published input size gets the published top-1 with its source; int8, another size, none; a random network's
    int8 agreement (near-ties reordered by rounding) is shown as measured, and the cell is no candidate."""
    from edgebb.selection.cells import Cell, add_artifact
    from edgebb.selection.grid import ModelConfig
    from edgebb.selection.targets import TargetSpec

    conv = {"path": "/x.tflite", "convert_seconds": 1.0, "size_bytes": 1, "random_weights": True,
            "verification": {"top1_agreement": 8.3, "accuracy": None, "reference_accuracy": None}}
    rows = {}
    for recipe, size in (("fp32", 224), ("int8", 224), ("fp32", 96)):
        cell = Cell("k", ModelConfig("mobilenet_v2", 0.35, size), "m", recipe, "tflite", "c",
                    TargetSpec("cpu:1", ("litert",)), "litert", {})
        rows[recipe, size] = row = {"provenance": {}}
        add_artifact(row, conv, cell, has_data=False)
    assert rows["fp32", 224]["accuracy"] == pytest.approx(0.603)
    assert rows["fp32", 224]["accuracy_source"] == "published: keras.applications MobileNetV2 docs (224x224)"
    assert rows["fp32", 224]["agreement"] == pytest.approx(0.083)  # float: the artifact computes what Keras does
    assert "accuracy" not in rows["int8", 224] and rows["int8", 224]["agreement"] == pytest.approx(0.083)
    from edgebb.selection.pareto import excluded

    unjudged = {**rows["int8", 224], "recipe": "int8", "verification": {**conv["verification"], "passed": None}}
    assert excluded(unjudged).startswith("not judged")
    assert "accuracy" not in rows["fp32", 96]


def test_grid_skips_widths_a_backbone_does_not_have():
    from edgebb.selection.grid import SweepOptions, expand

    assert SweepOptions(backbones=("mobilenet_v2",), augment="none").augment == ()
    options = SweepOptions(backbones=("mobilenet_v2",), augment="flip, crop")
    assert options.train("mobilenet_v2")["augment"] == ["flip", "crop"]
    # without --lr each backbone trains at its own rate (SqueezeNet's is lower: it has no BatchNorm)
    assert options.train("mobilenet_v2")["lr"] == 1e-3 and options.train("squeezenet_1_1")["lr"] == 3e-4
    assert SweepOptions(backbones=("mobilenet_v2",), lr=0.002).train("squeezenet_1_1")["lr"] == 0.002
    assert "rotate" in SweepOptions(backbones=("mobilenet_v2",)).augment  # edgebb train's default
    grid = expand(SweepOptions(backbones=("mobilenet_v2", "efficientnet_lite0", "mobilenet_v3_small"),
                               widths=(0.5, 1.0), sizes=(128,)))
    assert [(m.backbone, m.width) for m in grid.models] == [("mobilenet_v2", 0.5), ("mobilenet_v2", 1.0),
                                                            ("efficientnet_lite0", 1.0), ("mobilenet_v3_small", 1.0)]
    assert any("efficientnet_lite0 has no width 0.5" in n for n in grid.notes)


def test_target_strings():
    from edgebb.selection.targets import parse_target

    t = parse_target("cpu:4", ("litert", "onnxruntime"))
    assert (t.label, t.runtimes, t.threads, t.local) == ("cpu:4", ("litert", "onnxruntime"), 4, True)
    assert parse_target("cpu", ("litert",)).label == "cpu:1"
    assert parse_target("litert-gpu", ("litert",)).runtimes == ("litert-gpu",)
    assert parse_target("gpu", ("litert",)).runtimes == ("litert-gpu",)
    r = parse_target("ssh://pi@raspberrypi.local:2222?python=~/e/bin/python&threads=4", ("litert", "onnxruntime"))
    assert (r.remote, r.python, r.threads, r.device) == ("pi@raspberrypi.local:2222", "~/e/bin/python", 4,
                                                         "ssh://pi@raspberrypi.local:2222")
    table = parse_target({"name": "pi5", "ssh": "pi@pi5", "threads": 4, "runtimes": ["litert"],
                          "ssh_options": ["IdentityFile=/k"]}, ("litert",))
    assert (table.label, table.ssh_options, table.runtimes) == ("pi5", ("IdentityFile=/k",), ("litert",))


# ---------------------------------------------------------------------------------------------------- bad input


def assert_one_line(result, code, fragment):
    err = result.stderr.strip()
    assert result.returncode == code, (result.returncode, err[-2000:])
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert lines and lines[-1].startswith("edgebb: error: "), err
    assert sum(ln.startswith("edgebb: error") for ln in lines) == 1, err
    assert fragment in lines[-1], (fragment, lines[-1])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    from edgebb.data.synth import generate

    generate(str(root / "shapes"), classes=3, per_class=4, size=SIZE, seed=0)
    return root


BASE = ["squeezenet_1_1", "--sizes", str(SIZE), "--data", "{w}/shapes"]
# The catalogue of bad input (unknown names, bad numbers, missing or corrupt files, unwritable places) for sweep,
# report and recommend is in tests/test_bad_input.py, with every other command's.


def test_a_folder_with_someone_elses_models_is_left_alone(world, tmp_path):
    out = tmp_path / "out"
    (out / "models").mkdir(parents=True)
    (out / "models" / "mine.keras").write_text("the user's")
    before = snapshot(out)
    result = edgebb("sweep", *[a.format(w=world) for a in BASE], "-o", out, timeout=120)
    assert_one_line(result, 2, "not made by edgebb sweep")
    assert snapshot(out) == before


def test_unavailable_local_runtime_is_refused_before_any_work(world, tmp_path):
    from edgebb.runtimes import available

    ok, reason = available("litert-gpu")
    if ok:
        pytest.skip("litert-gpu runs here")
    result = edgebb("sweep", *[a.format(w=world) for a in BASE], "--targets", "litert-gpu", "-o", tmp_path / "o",
                    timeout=120)
    assert_one_line(result, 2, "target litert-gpu: runtime litert-gpu cannot run here")
    assert not (tmp_path / "o").exists()


def test_sweep_on_a_device_over_ssh(swept, tmp_path, request):
    """A [[target]] table in a TOML file: the loopback sshd of tests/test_remote.py as the device."""
    if not (SSHD and shutil.which("ssh") and shutil.which("scp") and SFTP_SERVER):
        pytest.skip("needs OpenSSH's sshd, sftp-server, ssh and scp (.ci/run installs them)")
    server = request.getfixturevalue("sshd")
    out = tmp_path / "copy"
    shutil.copytree(swept["out"], out)
    options = [o for o in server["options"] if o != "--ssh-option"]
    config = tmp_path / "device.toml"
    config.write_text(f'[[target]]\nname = "loopback"\nssh = "{server["destination"]}"\npython = "{sys.executable}"\n'
                      f"threads = 1\nssh_options = {json.dumps(options)}\n")
    grid = [a for i, a in enumerate(GRID) if a != "--targets" and GRID[i - 1] != "--targets"]
    result = edgebb("sweep", *grid, "--data", swept["data"], "-o", out, "--config", config)
    assert result.returncode == 0, result.stderr
    from edgebb.selection.store import Store

    with Store.open(str(out)) as store:
        rows = [r for r in store.cells() if r["target"] == "loopback"]
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert all(r["provenance"]["environment"]["remote"]["host"] == "127.0.0.1" for r in rows)
    assert "4 reused" not in result.stdout  # measured there, not taken from cpu:1



def test_a_conversion_stage_says_why_an_artifact_was_not_written(monkeypatch):
    """An artifact its runtime cannot load is left out by convert (with one line why); the sweep's cell said only
    "conversion made no tflite artifact for int8". The stage hands the reason on, by recipe and format."""
    from types import SimpleNamespace

    import edgebb.conversion
    from edgebb.selection import stages

    why = "m_int8.tflite was not written: litert cannot load it: failed to create XNNPACK runtime"
    made = SimpleNamespace(data={"images": 8}, notes=[why], source=SimpleNamespace(
        macs=1, params=1, random_weights=True, config={}), artifacts=[], refused=[("/o/m_int8.tflite", why)])
    monkeypatch.setattr(edgebb.conversion, "convert", lambda *a, **k: made)
    task = {"source": "m.keras", "out_dir": "/o", "recipes": {"int8": ["tflite"]}, "width": 1.0, "size": 32,
            "calib_samples": 8, "eval_samples": 8, "seed": 0}
    assert stages.convert(task)["recipes"]["int8"]["refused"] == {"tflite": why}
