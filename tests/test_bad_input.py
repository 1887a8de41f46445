"""The catalogue of bad inputs and faults: one case each, across every command. Each must end in exit code 2
(usage and input errors; 130/143 for Ctrl-C and SIGTERM), a single line naming the problem, no traceback, no
partial file, and nothing already in the output folder changed.

Cases marked `early` must be found before any expensive work: they run with a stand-in `tensorflow` package on
PYTHONPATH that refuses to import, so a command that imported TensorFlow before checking its input fails the case.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

SIZE = 32


def share_pytest_base() -> None:
    """pytest keeps its base folder (/tmp/pytest-of-USER) private, and every pytest session started on the machine
    makes it so again (a CI run once failed here because another session started meanwhile): opened to other users
    right before running as one, not once per module."""
    for base in glob.glob("/tmp/pytest-of-*"):
        if os.stat(base).st_uid == os.getuid():
            os.chmod(base, 0o755)


def run(*args, cwd=None, env=None, user=None, timeout=600):
    command = [sys.executable, "-m", "edgebb", *map(str, args)]
    if user:  # root reads and writes anything: permissions are tested as an unprivileged user
        command = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups", *command]
        share_pytest_base()
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})},
                          timeout=timeout)


def snapshot(folder) -> dict:
    """Every file under `folder` with its sha256 (hidden files included: a leftover .partial shows)."""
    if not os.path.isdir(folder):
        return {}
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def assert_one_line(result, code, *fragments):
    err = result.stderr.strip()
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], err[-2000:])
    assert "Traceback" not in err, err
    last = err.splitlines()[-1] if err else ""
    assert last.startswith("edgebb: "), err
    errors = [ln for ln in err.splitlines() if ln.startswith("edgebb: error")]
    assert len(errors) <= 1, err
    for fragment in fragments:
        assert fragment in last, (fragment, last)


# ------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A folder every user can read (for the unprivileged cases), with a small image set and a blocked TensorFlow."""
    root = tmp_path_factory.mktemp("catalogue")
    os.chmod(root, 0o755)
    for parent in root.parents:  # pytest's base folder is private to root
        if str(parent).startswith("/tmp/pytest-of-"):
            os.chmod(parent, 0o755)
    share_pytest_base()
    from edgebb.data.synth import generate

    generate(str(root / "shapes"), classes=3, per_class=6, size=SIZE, seed=0)
    fake = root / "no-tf" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('TensorFlow was imported before the input was checked')\n")
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Real model files of every kind, and broken copies of them."""
    from edgebb.conversion import convert

    root = tmp_path_factory.mktemp("models")
    out = root / "out"
    convert("squeezenet_1_1", str(out), None, recipes="fp32", formats="tflite,onnx", size=SIZE, calib_samples=4,
            eval_samples=4)
    from edgebb.models import create_model

    model = create_model("squeezenet_1_1", input_size=SIZE, num_classes=3)
    model.save(str(root / "model.keras"))
    model.save(str(root / "model.h5"))
    files = {"tflite": out / f"squeezenet_1_1_{SIZE}_fp32.tflite", "onnx": out / f"squeezenet_1_1_{SIZE}_fp32.onnx",
             "keras": root / "model.keras", "h5": root / "model.h5", "manifest": out / "manifest.json"}
    shutil.copytree(out, root / "cut")  # a manifest whose artifact was cut short after convert wrote it
    tflite = root / "cut" / files["tflite"].name
    tflite.write_bytes(tflite.read_bytes()[:1000])
    for kind in ("tflite", "onnx", "keras", "h5"):
        data = files[kind].read_bytes()
        (root / f"truncated.{kind}").write_bytes(data[: len(data) // 3])
        (root / f"empty.{kind}").write_bytes(b"")
        (root / f"random.{kind}").write_bytes(np.random.default_rng(1).bytes(4096))
    return root, files


def early(world):
    """Environment for a case that must fail before TensorFlow is imported."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(world / "no-tf"), os.environ.get("PYTHONPATH")]))}


# ------------------------------------------------------------------------- cases found before any work


EARLY = [
    # convert
    ("convert-unknown-backbone", ["convert", "mobilenetv2"], "unknown backbone 'mobilenetv2'"),
    ("convert-missing-model", ["convert", "{w}/nowhere/model.keras"], "model file not found"),
    ("convert-empty-h5", ["convert", "{m}/empty.h5"], "empty file"),
    ("convert-random-keras", ["convert", "{m}/random.keras"], "not a Keras model"),
    ("convert-wrong-extension", ["convert", "{m}/random.tflite"], "convert reads"),
    ("convert-size-for-a-model-file", ["convert", "{m}/random.keras", "-s", "96", "-w", "0.5"],
     "--width, --size choose a backbone's configuration"),
    ("convert-missing-data", ["convert", "mobilenet_v2", "--data", "{w}/nowhere"], "data folder not found"),
    ("convert-data-is-file", ["convert", "mobilenet_v2", "--data", "{w}/shapes/synth.json"], "must be a folder"),
    ("convert-data-empty", ["convert", "mobilenet_v2", "--data", "{w}/empty"], "no class subfolders"),
    ("convert-data-one-class", ["convert", "mobilenet_v2", "--data", "{w}/one-class"], "at least 2 classes"),
    ("convert-one-image-per-class", ["convert", "mobilenet_v2", "--data", "{w}/one-each"], "has 1 image"),
    ("convert-unknown-recipe", ["convert", "mobilenet_v2", "--recipe", "int4"], "unknown recipe 'int4'"),
    ("convert-unknown-format", ["convert", "mobilenet_v2", "--format", "coreml"], "unknown format 'coreml'"),
    ("convert-fallback-nothing", ["convert", "mobilenet_v2", "--recipe", "fp32,fp16", "--auto-fallback"],
     "--auto-fallback repairs int8 onnx and int8 tflite artifacts; this conversion makes fp32 tflite, fp16 tflite"),
    ("convert-bad-width", ["convert", "mobilenet_v2", "--width", "0.7"], "width for mobilenet_v2 must be one of"),
    ("convert-bad-size", ["convert", "mobilenet_v2", "--size", "100"], "multiple of 32"),
    ("convert-zero-size", ["convert", "mobilenet_v2", "--size", "0"], "input size"),
    ("convert-huge-size", ["convert", "mobilenet_v2", "--size", "100000"], "between 32 and 2048; received 100000"),
    ("convert-min-agreement-over-100", ["convert", "mobilenet_v2", "--min-agreement", "150"],
     "--min-agreement must be at most 100"),
    ("convert-min-agreement-negative", ["convert", "mobilenet_v2", "--min-agreement", "-1"],
     "--min-agreement must be at least 0"),
    ("convert-calib-zero", ["convert", "mobilenet_v2", "--calib-samples", "0"], "--calib-samples must be at least 1"),
    ("convert-calib-negative", ["convert", "mobilenet_v2", "--calib-samples", "-5"], "--calib-samples"),
    ("convert-calib-nan", ["convert", "mobilenet_v2", "--calib-samples", "abc"], "--calib-samples"),
    ("convert-max-drop-negative", ["convert", "mobilenet_v2", "--max-drop", "-1"], "--max-drop must be at least 0"),
    ("convert-max-drop-nan", ["convert", "mobilenet_v2", "--max-drop", "nan"], "--max-drop must be a number"),
    ("convert-opset-huge", ["convert", "mobilenet_v2", "--opset", "99"], "--opset must be between"),
    ("convert-qat-epochs-zero", ["convert", "mobilenet_v2", "--recipe", "int8-qat", "--qat-epochs", "0",
                                 "--data", "{w}/shapes"], "--qat-epochs must be at least 1"),
    ("convert-qat-without-data", ["convert", "mobilenet_v2", "--recipe", "int8-qat"], "give --data"),
    ("convert-io-dtype", ["convert", "mobilenet_v2", "--io-dtype", "int4"], "--io-dtype must be one of"),
    ("convert-classes-zero", ["convert", "mobilenet_v2", "--classes", "0"], "must be at least 1"),
    ("convert-out-is-file", ["convert", "mobilenet_v2", "-o", "{w}/shapes/synth.json"], "is a file"),
    # bench
    ("bench-missing", ["bench", "{w}/nowhere.tflite"], "artifact not found"),
    ("bench-random-tflite", ["bench", "{m}/random.tflite"], "not a TFLite model"),
    ("bench-random-onnx", ["bench", "{m}/random.onnx"], "not an ONNX model"),
    ("bench-empty-onnx", ["bench", "{m}/empty.onnx"], "empty file"),
    ("bench-wrong-extension", ["bench", "{w}/model.pb"], "not a .tflite or .onnx artifact"),
    ("bench-manifest-missing-fields", ["bench", "{w}/bad-manifest/manifest.json"], "not an edgebb manifest"),
    ("bench-manifest-missing-files", ["bench", "{w}/orphan-manifest/manifest.json"], "listed in"),
    ("bench-a-bench-result", ["bench", "{w}/bench-result.json"], "it is an edgebb bench result with no"),
    ("bench-manifest-not-json", ["bench", "{w}/not-json.json"], "not an edgebb manifest: not JSON"),
    ("bench-unknown-runtime", ["bench", "{m}/out", "--runtime", "litrt"], "did you mean: litert"),
    ("bench-threads-zero", ["bench", "{m}/out", "--threads", "0"], "--threads must be positive"),
    ("bench-threads-negative", ["bench", "{m}/out", "--threads", "-2"], "--threads"),
    ("bench-threads-words", ["bench", "{m}/out", "--threads", "two"], "--threads must be comma-separated"),
    ("bench-threads-huge", ["bench", "{m}/out", "--threads", "100000"], "--threads"),
    ("bench-runs-zero", ["bench", "{m}/out", "--runs", "0"], "--runs must be at least 1; received 0"),
    ("bench-timeout-zero", ["bench", "{m}/out", "--timeout", "0"], "--timeout"),
    ("bench-max-seconds-negative", ["bench", "{m}/out", "--max-seconds", "-1"], "--max-seconds"),
    ("bench-max-seconds-under-min-seconds", ["bench", "{m}/out", "--max-seconds", "0.1", "--min-seconds", "1"],
     "--max-seconds 0.1 is less than --min-seconds 1: a steady state cannot last at least 1 s and stop at 0.1 s"),
    ("bench-memory-limit-zero", ["bench", "{m}/out", "--memory-limit", "0"], "--memory-limit"),
    ("bench-warmup-negative", ["bench", "{m}/out", "--warmup", "-1"], "--warmup must be at least 0; received -1"),
    ("bench-min-seconds-negative", ["bench", "{m}/out", "--min-seconds", "-1"],
     "--min-seconds must be at least 0; received -1"),
    ("bench-sustained-zero", ["bench", "{m}/out", "--sustained", "0"], "--sustained must be positive"),
    ("bench-missing-data", ["bench", "{m}/out", "--data", "{w}/nowhere"], "data folder not found"),
    ("bench-json-into-folder", ["bench", "{m}/out", "--json", "{w}/shapes"], "is a folder"),
    ("bench-unknown-name", ["bench", "mobilenetv2"], "unknown backbone 'mobilenetv2'"),
    ("bench-qat-by-name", ["bench", "mobilenet_v2", "--recipe", "int8-qat"], "needs a trained model"),
    # train
    ("train-unknown-backbone", ["train", "mobilenetv2", "--data", "{w}/shapes", "-o", "{w}/t.keras"],
     "unknown backbone"),
    ("train-one-class", ["train", "mobilenet_v2", "--data", "{w}/one-class", "-o", "{o}/t.keras"],
     "training needs at least 2"),
    ("train-output-suffix", ["train", "mobilenet_v2", "--data", "{w}/shapes", "-o", "{o}/t.h5"], "must end in .keras"),
    # an output inside the data folder becomes part of it: a sweep's models/ was read as an empty class
    ("train-output-in-data", ["train", "mobilenet_v2", "--data", "{w}/shapes", "-o", "{w}/shapes/new/t.keras"],
     "shapes/new/t.keras is inside the data folder"),
    ("convert-output-is-data", ["convert", "mobilenet_v2", "--data", "{w}/shapes", "-o", "{w}/shapes"],
     "shapes is the data folder itself"),
    ("sweep-output-in-data", ["sweep", "squeezenet_1_1", "--sizes", "32", "--data", "{w}/shapes", "-o",
                              "{w}/shapes/sweep"], "shapes/sweep is inside the data folder"),
    ("sweep-json-in-data", ["sweep", "squeezenet_1_1", "--sizes", "32", "--data", "{w}/shapes", "--json",
                            "{w}/shapes/new/s.json"], "new/s.json is inside the data folder"),
    ("train-epochs-zero", ["train", "mobilenet_v2", "--data", "{w}/shapes", "-o", "{o}/t.keras", "--epochs", "0"],
     "--epochs must be at least 1"),
    ("train-lr-negative", ["train", "mobilenet_v2", "--data", "{w}/shapes", "-o", "{o}/t.keras", "--lr", "-1"],
     "--lr must be positive"),
    ("train-val-split-huge", ["train", "mobilenet_v2", "--data", "{w}/shapes", "-o", "{o}/t.keras",
                              "--val-split", "1.5"], "--val-split must be between 0 and 1"),
    ("train-batch-words", ["train", "mobilenet_v2", "--data", "{w}/shapes", "-o", "{o}/t.keras",
                           "--batch-size", "many"], "--batch-size"),
    ("train-augment-unknown", ["train", "mobilenet_v2", "--data", "{w}/shapes", "-o", "{o}/t.keras",
                               "--augment", "blur"], "unknown augmentation 'blur'"),
    ("train-output-under-file", ["train", "mobilenet_v2", "--data", "{w}/shapes", "-o",
                                 "{w}/shapes/synth.json/t.keras"], "is not a folder"),
    # build, info, list, data, cache
    ("build-suffix", ["build", "squeezenet_1_0", "-o", "{o}/x.onnx"], "must end in .keras or .h5"),
    ("build-under-file", ["build", "squeezenet_1_0", "-o", "{w}/shapes/synth.json/x.keras"], "is not a folder"),
    ("build-no-imagenet", ["build", "shufflenet_v2", "-o", "{o}/x.keras", "--weights", "imagenet"],
     "no ImageNet weights exist"),
    ("build-missing-weights", ["build", "mobilenet_v2", "-o", "{o}/x.keras", "--weights", "{w}/missing.h5"],
     "weights file not found"),
    ("info-unknown", ["info", "mobilenetv2"], "did you mean: mobilenet_v2"),
    ("info-bad-width", ["info", "mobilenet_v2", "--width", "0.7"], "width for mobilenet_v2 must be one of"),
    ("info-classes-zero", ["info", "resnet50", "--classes", "0"], "must be at least 1"),
    ("synth-not-empty", ["data", "synth", "{w}/shapes"], "exists and is not empty"),
    ("synth-one-class", ["data", "synth", "{o}/s", "--classes", "1"], "classes must be between"),
    ("synth-tiny", ["data", "synth", "{o}/s", "--size", "8"], "size must be between"),
    ("synth-under-file", ["data", "synth", "{w}/shapes/synth.json/s"], "is not a folder"),
    ("synth-out-is-file", ["data", "synth", "{w}/shapes/synth.json"], "exists and is a file"),
    ("cache-unknown-entry", ["cache", "clear", "no-such-entry"], "no cache entry 'no-such-entry'"),
    ("unknown-option", ["convert", "mobilenet_v2", "--recipes", "int8"], "No such option"),
    # sweep (each gets -o {o}/sweep unless it names one)
    ("sweep-unknown-backbone", ["sweep", "mobilenetv2", "--data", "{w}/shapes"], "unknown backbone 'mobilenetv2'"),
    ("sweep-pinned-bad-width", ["sweep", "mobilenet_v2@0.7", "--data", "{w}/shapes", "--sizes", "32"],
     "width for mobilenet_v2 must be one of"),
    ("sweep-pinned-nothing", ["sweep", "mobilenet_v2@", "--data", "{w}/shapes"], 'received nothing after "@"'),
    ("sweep-width-nobody-has", ["sweep", "squeezenet_1_1", "--widths", "0.7", "--data", "{w}/shapes"],
     "no backbone of the grid has width 0.7"),
    ("sweep-width-words", ["sweep", "mobilenet_v2", "--widths", "half"], "--widths must be comma-separated"),
    ("sweep-size-nobody-takes", ["sweep", "squeezenet_1_1", "--sizes", "100"], "input size 100"),
    ("sweep-size-no-backbone-takes", ["sweep", "squeezenet_1_1", "mobilenet_v2@0.35", "--sizes", "48"],
     "no backbone of the grid takes input size 48 (squeezenet_1_1, mobilenet_v2: a multiple of 32, at least 32)"),
    ("sweep-sizes-words", ["sweep", "squeezenet_1_1", "--sizes", "big"], "--sizes must be comma-separated"),
    ("sweep-unknown-target", ["sweep", "squeezenet_1_1", "--targets", "cpu:1,tpu"], "unknown target 'tpu'"),
    ("sweep-target-threads-zero", ["sweep", "squeezenet_1_1", "--targets", "cpu:0"], "threads of target cpu:0"),
    ("sweep-targets-empty", ["sweep", "squeezenet_1_1", "--targets", ","], "no target given"),
    ("sweep-ssh-unknown-option", ["sweep", "squeezenet_1_1", "--targets", "ssh://pi@host?speed=9"],
     "unknown option 'speed'"),
    ("sweep-ssh-refused", ["sweep", "squeezenet_1_1", "--targets", "ssh://nobody@127.0.0.1:1"], "connection refused"),
    ("sweep-unknown-recipe", ["sweep", "squeezenet_1_1", "--recipes", "fp32,int4"], "unknown recipe 'int4'"),
    ("sweep-unknown-runtime", ["sweep", "squeezenet_1_1", "--runtimes", "litrt"], "did you mean: litert"),
    ("sweep-float-runtime", ["sweep", "squeezenet_1_1", "--runtimes", "keras"], "runs the float"),
    ("sweep-unknown-augment", ["sweep", "squeezenet_1_1", "--data", "{w}/shapes", "--augment", "mixup"],
     "unknown augmentation 'mixup'"),
    ("sweep-missing-data", ["sweep", "squeezenet_1_1", "--data", "{w}/nowhere"], "data folder not found"),
    ("sweep-empty-data", ["sweep", "squeezenet_1_1", "--data", "{w}/empty"], "no class subfolders"),
    ("sweep-data-one-class", ["sweep", "squeezenet_1_1", "--data", "{w}/one-class"], "at least 2 classes"),
    ("sweep-epochs-words", ["sweep", "squeezenet_1_1", "--epochs", "many"], "'many' is not a valid integer"),
    ("sweep-epochs-0-no-weights", ["sweep", "squeezenet_1_1", "--data", "{w}/shapes", "--epochs", "0"],
     "--epochs 0 skips training"),
    ("sweep-qat-without-data", ["sweep", "squeezenet_1_1", "--recipes", "int8-qat"], "needs labelled images"),
    ("sweep-jobs-zero", ["sweep", "squeezenet_1_1", "--jobs", "0"], "--jobs must be at least 1"),
    ("sweep-runs-zero", ["sweep", "squeezenet_1_1", "--runs", "0"], "--runs must be at least 1"),
    ("sweep-max-seconds-negative", ["sweep", "squeezenet_1_1", "--max-seconds", "-1"], "--max-seconds must be"),
    ("sweep-max-seconds-under-min-seconds", ["sweep", "squeezenet_1_1", "--max-seconds", "2", "--min-seconds", "3"],
     "--max-seconds 2 is less than --min-seconds 3: a steady state cannot last at least 3 s and stop at 2 s"),
    ("sweep-calib-zero", ["sweep", "squeezenet_1_1", "--calib-samples", "0"], "--calib-samples must be at least 1"),
    ("sweep-epochs-negative", ["sweep", "squeezenet_1_1", "--epochs", "-1"], "--epochs must be at least 0"),
    ("sweep-unknown-executor", ["sweep", "squeezenet_1_1", "--executor", "dask"], "--executor must be one of local"),
    ("sweep-no-backbone", ["sweep", "--data", "{w}/shapes"], "no backbone given"),
    ("sweep-missing-config", ["sweep", "--config", "{w}/nowhere.toml"], "config file not found"),
    ("sweep-corrupt-toml", ["sweep", "--config", "{w}/corrupt.toml"], "is not valid TOML"),
    ("sweep-unknown-toml-key", ["sweep", "--config", "{w}/unknown-key.toml"], "'epoch'; did you mean: epochs"),
    ("sweep-out-is-file", ["sweep", "squeezenet_1_1", "-o", "{w}/shapes/synth.json"], "is a file"),
    ("sweep-out-foreign-store", ["sweep", "squeezenet_1_1", "-o", "{w}/foreign"], "not an edgebb sweep store"),
    ("sweep-json-into-folder", ["sweep", "squeezenet_1_1", "--json", "{w}/shapes"], "is a folder"),
    # report
    ("report-missing", ["report", "{w}/nowhere.json", "-o", "{o}/r.html"], "report source not found"),
    ("report-not-a-result", ["report", "{w}/shapes/synth.json", "-o", "{o}/r.html"], "is not an edgebb result"),
    ("report-folder-without-store", ["report", "{w}/shapes", "-o", "{o}/r.html"], "is not an edgebb result"),
    ("report-foreign-sqlite", ["report", "{w}/foreign/sweep.sqlite", "-o", "{o}/r.html"], "is not an edgebb result"),
    ("report-bad-suffix", ["report", "{w}/store", "-o", "{o}/r.pdf"], "-o must end in .html, .htm, .md"),
    ("report-out-is-folder", ["report", "{w}/store", "-o", "{w}/shapes"], "-o must end in"),
    ("report-no-output", ["report", "{w}/store"], "Missing option '--output'"),
    ("report-missing-and-no-output", ["report", "{w}/nowhere"], "report source not found: "),
    # recommend
    ("recommend-not-a-sweep", ["recommend", "{w}/shapes", "--target", "cpu:1"], "no sweep store"),
    ("recommend-no-target", ["recommend", "{w}/store"], "Missing option '--target'"),
    ("recommend-missing-and-no-target", ["recommend", "{w}/nowhere"],
     "/nowhere (edgebb sweep -o FOLDER writes one)"),
    ("recommend-target-not-swept", ["recommend", "{w}/store", "--target", "cpu:8"],
     "the sweep measured nothing on cpu:8 (it measured on cpu:1)"),
    ("recommend-latency-words", ["recommend", "{w}/store", "--target", "cpu:1", "--max-latency-ms", "fast"],
     "'fast' is not a valid float"),
    ("recommend-latency-negative", ["recommend", "{w}/store", "--target", "cpu:1", "--max-latency-ms", "-1"],
     "--max-latency-ms must be positive"),
    ("recommend-accuracy-percent", ["recommend", "{w}/store", "--target", "cpu:1", "--min-accuracy", "95"],
     "fraction between 0 and 1"),
    ("recommend-percentile", ["recommend", "{w}/store", "--target", "cpu:1", "--latency", "p75"],
     "--latency must be one of"),
    ("recommend-task", ["recommend", "{w}/store", "--target", "cpu:1", "--task", "pose"], "--task must be one of"),
    ("recommend-dataset-size", ["recommend", "{w}/store", "--target", "cpu:1", "--dataset-size", "0"],
     "--dataset-size must be at least 1"),
    # a results file over the work it describes (--json OUT/sweep.sqlite replaced a sweep's store with its table)
    ("recommend-json-over-store", ["recommend", "{w}/store", "--target", "cpu:1", "--json", "{w}/store/sweep.sqlite"],
     "sweep.sqlite is an edgebb sweep store: writing results there would destroy it"),
    ("sweep-json-over-its-store", ["sweep", "squeezenet_1_1", "-o", "{o}/new", "--json", "{o}/new/sweep.sqlite"],
     "sweep.sqlite is the store this sweep writes"),
    ("bench-json-over-a-config", ["bench", "squeezenet_1_1", "--json", "{w}/corrupt.toml"],
     "corrupt.toml is a file that is not an earlier result of this command: writing results there would destroy it"),
    ("report-over-a-document", ["report", "{w}/store", "-o", "{w}/mine/notes.md"],
     "notes.md is a file that is not an earlier edgebb report: writing the report there would destroy it"),
    ("bench-json-and-csv-one-file", ["bench", "squeezenet_1_1", "--json", "{o}/same.out", "--csv", "{o}/same.out"],
     "same.out is named for two outputs"),
    ("sweep-csv-over-a-store", ["sweep", "squeezenet_1_1", "-o", "{o}/new", "--csv", "{w}/store/sweep.sqlite"],
     "sweep.sqlite is an edgebb sweep store"),
    ("bench-json-over-a-model", ["bench", "squeezenet_1_1", "--json", "{m}/random.onnx"],
     "random.onnx is a model file: writing results there would destroy it"),
    ("bench-json-over-a-manifest", ["bench", "squeezenet_1_1", "--json", "{w}/orphan-manifest/manifest.json"],
     "manifest.json is a conversion's manifest"),
    # a damaged store is named as one, and reading it leaves no -wal or -shm beside it (the snapshot)
    ("report-damaged-store", ["report", "{w}/damaged", "-o", "{o}/r.html"], "a damaged SQLite file: "),
    ("recommend-damaged-store", ["recommend", "{w}/damaged", "--target", "cpu:1"], "a damaged SQLite file: "),
    ("sweep-into-damaged-store", ["sweep", "squeezenet_1_1", "-o", "{w}/damaged"], "a damaged SQLite file: "),
    ("recommend-runtime-not-swept", ["recommend", "{w}/store", "--target", "cpu:1", "--runtime", "openvino"],
     "the sweep measured no openvino cell on cpu:1 (it measured litert there); sweep it with --runtimes openvino"),
    ("recommend-runtime", ["recommend", "{w}/store", "--target", "cpu:1", "--runtime", "tensorrt"],
     "unknown runtime of target cpu:1 'tensorrt'"),
]


def _sweep_store(folder) -> None:
    """A sweep store with one measured cell, written by hand (no TensorFlow): what report and recommend read."""
    from edgebb.selection.store import Store

    with Store.create(str(folder)) as store:
        run = store.start_run({"options": {}, "targets": []}, ["k"], None, [])
        store.put_cell({"key": "k", "run_id": run, "backbone": "mobilenet_v2", "family": "mobilenet", "width": 0.35,
                        "size": 32, "recipe": "int8", "runtime": "litert", "format": "tflite", "target": "cpu:1",
                        "threads": 1, "status": "ok", "p50_ms": 1.0, "p90_ms": 1.1, "p99_ms": 1.2,
                        "peak_rss_mb": 50.0, "size_mb": 0.5, "feature_strides": "4,8,16,32"})
        store.finish_run(run, "finished")


@pytest.fixture(scope="module")
def folders(world, models):
    """The odd folders and files the early cases point at."""
    (world / "empty").mkdir(exist_ok=True)
    one = world / "one-class" / "only"
    one.mkdir(parents=True, exist_ok=True)
    for name in sorted(os.listdir(world / "shapes" / "star"))[:3]:
        shutil.copy(world / "shapes" / "star" / name, one / name)
    for cls in ("star", "ring"):
        (world / "one-each" / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(world / "shapes" / cls / "00000.png", world / "one-each" / cls / "00000.png")
    (world / "model.pb").write_bytes(b"x" * 100)
    (world / "bad-manifest").mkdir(exist_ok=True)
    (world / "bad-manifest" / "manifest.json").write_text(json.dumps({"artifacts": [{}]}))
    (world / "bench-result.json").write_text(json.dumps({"schema": 1, "env": {}, "results": []}))
    (world / "not-json.json").write_text("not json")
    orphan = world / "orphan-manifest"
    orphan.mkdir(exist_ok=True)
    (orphan / "manifest.json").write_text(models[1]["manifest"].read_text())
    (world / "corrupt.toml").write_text("backbones = [\n")
    (world / "mine").mkdir(exist_ok=True)
    (world / "mine" / "notes.md").write_text("# my notes\n")
    (world / "unknown-key.toml").write_text('backbones = ["squeezenet_1_1"]\nepoch = 3\n')
    (world / "foreign").mkdir(exist_ok=True)
    (world / "foreign" / "sweep.sqlite").write_text("the user's own file")
    if not (world / "store").exists():
        _sweep_store(world / "store")
    (world / "damaged").mkdir(exist_ok=True)  # a store cut short, as a full disk or a partial copy leaves one
    whole = (world / "store" / "sweep.sqlite").read_bytes()
    (world / "damaged" / "sweep.sqlite").write_bytes(whole[:len(whole) // 2])
    return world


@pytest.mark.parametrize("name, args, message", EARLY, ids=[c[0] for c in EARLY])
def test_early(name, args, message, world, models, folders, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("the user's")
    before, data_before = snapshot(out), snapshot(world / "shapes")
    kept = {name: snapshot(world / name) for name in ("store", "foreign", "damaged", "orphan-manifest", "mine")}
    args = [a.format(w=world, m=models[0], o=out) for a in args]
    if args[0] in ("convert", "sweep") and "-o" not in args:
        args += ["-o", str(out / "converted")]
    result = run(*args, env=early(world), timeout=120)
    assert_one_line(result, 2, message)
    if args[:2] == ["data", "synth"]:  # refused before its progress ("drawing ...") shows, not after
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert snapshot(out) == before
    assert not os.path.exists(out / "converted")
    assert snapshot(world / "shapes") == data_before  # the data is read, never written
    assert {name: snapshot(world / name) for name in kept} == kept  # a store is read, never written


# ------------------------------------------------------------------------- cases that need a real model


LATE = [
    ("convert-truncated-keras", ["convert", "{m}/truncated.keras"], "cannot read"),
    ("convert-truncated-h5", ["convert", "{m}/truncated.h5"], "cannot read"),
    # the header is whole, the rest is not: found by the format's own parser before any measurement
    ("bench-gpu-fp32-without-gpu", ["bench", "{m}/truncated.tflite", "--runtime", "litert,onnxruntime", "--gpu-fp32"],
     "--gpu-fp32 sets how a GPU runtime computes; no runtime of this run has the choice (add one to --runtime: "
     "litert-gpu)"),
    ("bench-truncated-tflite", ["bench", "{m}/truncated.tflite", "--baseline", "none"],
     "truncated.tflite: truncated or corrupt"),
    ("bench-truncated-onnx", ["bench", "{m}/truncated.onnx", "--baseline", "none"],
     "truncated.onnx: truncated or corrupt"),
    ("bench-manifest-truncated", ["bench", "{m}/cut/manifest.json", "--baseline", "none"],
     "squeezenet_1_1_32_fp32.tflite: truncated or corrupt"),
]


@pytest.mark.parametrize("name, args, message", LATE, ids=[c[0] for c in LATE])
def test_corrupt_models(name, args, message, models, tmp_path):
    args = [a.format(m=models[0]) for a in args]
    if args[0] == "convert":
        args += ["-o", str(tmp_path / "out")]
        result = run(*args)
        assert_one_line(result, 2, message)
        assert not (tmp_path / "out").exists()
    else:
        json_out = tmp_path / "bench.json"
        result = run(*args, "--runs", "2", "--min-seconds", "0", "--warmup", "0", "--json", json_out)
        assert_one_line(result, 2, message)
        assert "measuring" not in result.stderr and not json_out.exists()  # refused before any work


def test_bench_names_what_a_bare_name_is_when_it_is_not_a_backbone(tmp_path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "notes").write_text("not a model")
    result = run("bench", "artifacts", "--baseline", "none", cwd=tmp_path)
    assert_one_line(result, 2, "artifacts: a folder without a manifest.json")
    result = run("bench", "notes", "--baseline", "none", cwd=tmp_path)
    assert_one_line(result, 2, "notes: not a .tflite or .onnx artifact")


def test_unreadable_data_folder(world, tmp_path):
    """A folder the user cannot read (as an unprivileged user: root reads everything)."""
    locked = world / "locked"
    shutil.copytree(world / "shapes", locked, dirs_exist_ok=True)
    os.chmod(locked / "star", 0o000)
    writable = world / "open"
    writable.mkdir(exist_ok=True)
    os.chmod(writable, 0o777)
    try:
        out = writable / "locked-out"
        result = run("convert", "mobilenet_v2", "-o", out, "--data", locked, user=65534, env=early(world),
                     timeout=120)
        assert_one_line(result, 2, "Permission denied", "star")
        assert not out.exists()
    finally:
        os.chmod(locked / "star", 0o755)


def test_unwritable_output_folder(world, folders):
    readonly = world / "readonly"
    readonly.mkdir(exist_ok=True)
    os.chmod(readonly, 0o755)  # owned by root: the unprivileged user cannot write here
    for args in (["convert", "mobilenet_v2", "-o", readonly / "out"],
                 ["train", "mobilenet_v2", "--data", world / "shapes", "-o", readonly / "m.keras"],
                 ["build", "mobilenet_v2", "-o", readonly / "m.keras"],
                 ["data", "synth", readonly / "s"],
                 ["bench", world / "nothing.tflite", "--json", readonly / "r.json"],
                 ["sweep", "squeezenet_1_1", "--sizes", "32", "--data", world / "shapes", "-o", readonly / "sweep"],
                 ["report", world / "store", "-o", readonly / "report.html"]):
        result = run(*args, user=65534, env=early(world), timeout=120)
        assert_one_line(result, 2, str(readonly))
        assert os.listdir(readonly) == []


def test_an_output_in_proc_names_the_real_reason(world, folders):
    """/proc refuses a new file with ENOENT: the error said "cannot write in /proc: No such file or directory" of a
    folder that is there. It says what /proc is instead."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc file system here")
    for args in (["convert", "mobilenet_v2", "-o", "/proc/edgebb-out"],
                 ["report", world / "store", "-o", "/proc/edgebb-report.html"]):
        result = run(*args, env=early(world), timeout=120)
        assert_one_line(result, 2, "in /proc", "a virtual file system that takes no new files")
        assert "No such file or directory" not in result.stderr, result.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs: too small for any artifact."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_full_disk_before_any_work(small_disk, world):
    with open(small_disk / "filler", "wb") as f:  # leave no room at all
        try:
            f.write(b"\0" * (2 << 20))
        except OSError:
            pass
    result = run("convert", "mobilenet_v2", "-o", small_disk / "out", env=early(world), timeout=120)
    assert_one_line(result, 2, "No space left on device")
    assert sorted(os.listdir(small_disk)) == ["filler"]


def test_full_disk_while_writing_an_artifact(small_disk, world):
    """The probe passes (there is room for it), the first artifact does not fit: one line, no partial file."""
    result = run("convert", "squeezenet_1_1", "-o", small_disk / "out", "--recipe", "fp32", "--size", SIZE,
                 "--calib-samples", "4")
    assert_one_line(result, 2, "No space left on device", "squeezenet_1_1")
    leftovers = [n for n in snapshot(small_disk) if not n.endswith(("manifest.json", "labels.txt"))]
    assert leftovers == [], leftovers


def test_bench_results_survive_an_unwritable_csv(models, tmp_path, monkeypatch):
    """Measurements are never lost because a file could not be written: they are saved elsewhere and named."""
    from edgebb.cli import common
    from edgebb.core.errors import InputError

    writes = []

    def failing(path, text):
        writes.append(path)
        if path.endswith(".csv"):
            raise InputError(f"cannot write {path}: No space left on device")
        open(path, "w").write(text)

    monkeypatch.setattr("edgebb.core.files.write_atomic", failing)
    monkeypatch.setattr(common, "terminal", lambda: type("T", (), {"say": staticmethod(lambda m: None)})())
    with pytest.raises(InputError) as err:
        common.write_outputs([(str(tmp_path / "r.json"), '{"results": [1]}'), (str(tmp_path / "r.csv"), "a,b")],
                             '{"results": [1]}')
    message = str(err.value)  # the JSON is written; the CSV is saved as a CSV elsewhere, and named
    assert message.startswith(f"cannot write {tmp_path / 'r.csv'}: No space left on device; saved instead: "), message
    rescue = message.rsplit(f"{tmp_path / 'r.csv'} to ", 1)[1]
    assert rescue.endswith(".csv") and open(rescue).read() == "a,b", message
    assert json.loads((tmp_path / "r.json").read_text()) == {"results": [1]}
    os.unlink(rescue)


# ---------------------------------------------------------------------------------------------- signals


def _interrupt(args, sig, marker, *, cwd=None, timeout=300, env=None, delay=1.0):
    """Start a command, send `sig` `delay` seconds after `marker` shows on its stderr; (exit code, stderr)."""
    # SIGINT as a terminal's Ctrl-C: a shell that started pytest in the background made it ignored, and an ignored
    # SIGINT is inherited (Python then installs no KeyboardInterrupt for it), so the child gets the default back.
    proc = subprocess.Popen([sys.executable, "-m", "edgebb", *map(str, args)], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=cwd, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    deadline = time.monotonic() + timeout
    for line in proc.stderr:
        lines.append(line)
        if marker in line:
            time.sleep(delay)
            proc.send_signal(sig)
            break
        assert time.monotonic() < deadline, "".join(lines)
    rest = proc.communicate(timeout=120)[1]
    return proc.returncode, "".join(lines) + rest


@pytest.mark.parametrize("sig, expected", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, "Terminated")])
def test_an_interrupt_a_library_swallowed_ends_the_work_at_the_next_step(sig, expected, monkeypatch):
    """tf2onnx reads node attributes inside a bare `except:`; a Ctrl-C landing there must still end the command (CI
    saw a conversion run to the end and exit 0)."""
    from edgebb.core import interrupts
    from edgebb.core.progress import Progress

    expected = interrupts.Terminated if expected == "Terminated" else expected
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(interrupts, "_pending", None)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        interrupts.install()
        with Progress().step("converting", total=2) as step:
            step.advance()  # nothing pending: no exception
            try:
                os.kill(os.getpid(), sig)
                time.sleep(1)  # the handler runs here and raises...
            except:  # noqa: E722  ...and a library's bare except swallows it
                pass
            with pytest.raises(expected):
                step.advance()
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_an_interrupt_inside_a_deferred_stretch_comes_at_its_end(monkeypatch):
    """An artifact and the manifest line that lists it are written together: a SIGTERM between them (CI saw an
    artifact on disk that the manifest did not list) is raised once both are written."""
    from edgebb.core import interrupts

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(interrupts, "_pending", None)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    written = []
    try:
        interrupts.install()
        with pytest.raises(interrupts.Terminated):
            with interrupts.deferred():
                written.append("artifact")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.5)
                written.append("manifest")
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert written == ["artifact", "manifest"]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_conversion_leaves_a_consistent_folder(sig, code, world, tmp_path):
    out = tmp_path / "out"
    returncode, err = _interrupt(["convert", "squeezenet_1_1", "-o", out, "--size", SIZE, "--recipe",
                                  "fp32,int8,dynamic", "--format", "tflite,onnx", "--calib-samples", "8"],
                                 sig, "top-1 agreement", delay=0.2)  # after the first artifact, 5 to go (~6 s)
    assert returncode == code, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("edgebb: ")
    files = snapshot(out)
    assert not [n for n in files if n.startswith(".")], files  # no partial file
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {a["path"] for a in manifest["artifacts"]}
    artifacts = {n for n in files if n.endswith((".tflite", ".onnx"))}
    assert listed == artifacts and artifacts, (listed, artifacts)  # what finished, and all of it described
    assert (out / "labels.txt").exists() or manifest["labels"] is None
    # and the last line says so (it had been "edgebb: interrupted" alone)
    word = "interrupted" if sig == signal.SIGINT else "terminated"
    assert err.strip().splitlines()[-1] == f"edgebb: {word}; the artifacts finished before it are kept in {out}, " \
                                           "listed in its manifest.json", err[-2000:]


def test_signal_mid_training_says_what_it_kept(world, tmp_path):
    """Stopped after an epoch was saved, train keeps that model and says where and how to go on; stopped before any,
    it says nothing was saved (and leaves no file)."""
    args = ["train", "mobilenet_v2", "-w", "0.35", "-s", SIZE, "-d", world / "shapes", "--epochs", "50",
            "--batch-size", "4", "--weights", "none"]
    out = tmp_path / "m.keras"
    returncode, err = _interrupt([*args, "-o", out], signal.SIGTERM, "epoch 1 (full)", delay=0)
    assert returncode == 143 and out.exists(), err[-2000:]
    # the last line names the kept model's epoch (it did not)
    assert re.fullmatch(r"edgebb: terminated; the best model so far \(epoch \d+, validation accuracy [0-9.]+%\) is "
                        f"kept at {re.escape(str(out))} " + r"\(the same command with --resume continues from it\)",
                        err.strip().splitlines()[-1]), err[-2000:]
    # the signal stops the fit at a batch's end (raised inside TensorFlow's loop it once crashed it: exit -11); the
    # epoch it cut short is neither logged nor saved: the log holds the epochs the output showed
    shown = [line for line in err.splitlines() if "] epoch " in line]
    assert len(json.loads((tmp_path / "m.log.json").read_text())) == len(shown) >= 1, err[-2000:]
    early = tmp_path / "early.keras"
    returncode, err = _interrupt([*args, "-o", early], signal.SIGTERM, "training (full)", delay=0)
    assert returncode == 143 and not early.exists(), err[-2000:]
    assert err.strip().splitlines()[-1] == "edgebb: terminated; no epoch had finished: nothing was saved", err[-2000:]
    assert not list(tmp_path.glob("early.log.*"))  # nor an empty log beside no model


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_bench_leaves_no_worker_and_no_file(sig, code, models, tmp_path):
    out = tmp_path / "r.json"
    mark = f"EDGEBB_TEST_RUN={tmp_path}"  # inherited by the bench's workers, so only they are looked for
    returncode, err = _interrupt(["bench", models[0] / "out", "--baseline", "none", "--runtime",
                                  "litert,onnxruntime", "--threads", "1,2", "--min-seconds", "3", "--json", out],
                                 sig, "thread(s)", env={**os.environ, "EDGEBB_TEST_RUN": str(tmp_path)})
    assert returncode == code, err
    assert "Traceback" not in err
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".")]
    time.sleep(0.5)
    assert _processes_with(mark) == [], "a worker outlived its bench"


def _processes_with(environment_entry: str) -> list[str]:
    """Command lines of the live processes whose environment holds `environment_entry` (NAME=value)."""
    found, entry = [], environment_entry.encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if entry not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # gone, or not ours to read
            continue
    return found


# ----------------------------------------------------------------------------------- odd but valid images


def _odd_images(folder):
    """Images that are odd but readable, and files that are not: (readable, unreadable) counts."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rgb = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "normal.png")
    Image.fromarray(rgb[:1, :1]).save(folder / "one_pixel.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((rng.integers(0, 65535, (30, 30))).astype(np.uint16)).save(folder / "sixteen_bit.png")
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    frames = [Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    data = (folder / "normal.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    return 6, 2


def test_odd_images_are_read_and_broken_ones_counted(tmp_path):
    from edgebb.data import load_images, scan_folder
    from edgebb.models import preprocessing_for

    readable, broken = _odd_images(tmp_path / "data" / "a")
    _odd_images(tmp_path / "data" / "b")
    folder = scan_folder(tmp_path / "data")
    assert len(folder.skipped) == 2 and "2 non-image files skipped" in folder.summary()
    loaded = load_images(folder.items, preprocessing_for("mobilenet_v2", SIZE))
    assert len(loaded.labels) == 2 * readable and len(loaded.unreadable) == 2 * broken
    assert loaded.x.shape == (2 * readable, SIZE, SIZE, 3) and np.isfinite(loaded.x).all()


def test_convert_counts_what_it_skipped(tmp_path, world):
    data = tmp_path / "data"
    shutil.copytree(world / "shapes", data)
    for cls in os.listdir(data):
        if os.path.isdir(data / cls):
            _odd_images(data / cls / "odd")
    result = run("convert", "squeezenet_1_1", "-o", tmp_path / "out", "--data", data, "--recipe", "fp32",
                 "--size", SIZE, "--calib-samples", "8")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    described = manifest["data"]
    # only what was drawn is decoded: the count says of how many
    assert described["skipped_non_images"] == 3 and described["unreadable_images"] >= 1
    read = described["calibration_images"] + described["evaluation_images"] + described["unreadable_images"]
    assert described["images_read"] == read < sum(len(files) for _, _, files in os.walk(data)) - 3
    assert (f"skipped 3 non-image file(s) and {described['unreadable_images']} unreadable image(s) (of the {read} "
            "files it opened)") in result.stdout + result.stderr
    # the counts it says once read are the manifest's ("held out the other 47" had been followed by 45 evaluated)
    assert (f": read {described['calibration_images']} calibration and {described['evaluation_images']} evaluation "
            "images") in result.stderr, result.stderr


def test_train_counts_the_images_it_trained_on(tmp_path, world):
    """train said "184 for training" and then skipped 2 unreadable files: 182 were trained on. The split line comes
    once the images are read, with the counts of the images read."""
    data = tmp_path / "data"
    shutil.copytree(world / "shapes", data)
    readable = broken = 0
    for cls in sorted(os.listdir(data)):
        if os.path.isdir(data / cls):
            r, b = _odd_images(data / cls / "odd")
            readable, broken = readable + r, broken + b
    result = run("train", "squeezenet_1_1", "--data", data, "-o", tmp_path / "m.keras", "--size", SIZE, "--epochs",
                 "1", "--batch-size", "8")
    assert result.returncode == 0, result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if "for validation" in ln]
    counted = re.search(r"; (\d+) for training, (\d+) for validation", line)
    from edgebb.data import scan_folder

    assert f"skipped {broken} unreadable image(s)" in line, line
    assert int(counted[1]) + int(counted[2]) == len(scan_folder(data).items) - broken, (line, broken)
    # the trained model on a folder of one class: it had judged int8 on the 1 image it held out ("ok", exit 0)
    one = tmp_path / "one-class"
    cls = sorted(c for c in os.listdir(world / "shapes") if os.path.isdir(world / "shapes" / c))[0]
    shutil.copytree(world / "shapes" / cls, one / cls)
    result = run("convert", tmp_path / "m.keras", "--data", one, "-o", tmp_path / "out", "--recipe", "int8")
    assert_one_line(result, 2, "one-class has 1 class folder(s); convert measures top-1 on them, so it needs at "
                    "least 2 classes")
    assert not os.path.exists(tmp_path / "out")


def test_an_empty_file_is_no_training_image_seen_again(tmp_path):
    """`--val-data` left a 0-byte file out of validation as "also a training image": it matched an empty file in
    --data by content. Empty files match nothing (loading skips them as unreadable)."""
    from edgebb.data import scan_folder
    from edgebb.training.datasets import _unseen

    for folder in ("train", "val"):
        _odd_images(tmp_path / folder / "a")
    (tmp_path / "val" / "a" / "normal.png").write_bytes((tmp_path / "train" / "a" / "normal.png").read_bytes())
    train, val = scan_folder(tmp_path / "train"), scan_folder(tmp_path / "val")
    kept = {os.path.basename(i.path) for i in _unseen(val.items, train.items, "val", "train", None)}
    assert "zero.jpg" in kept and "normal.png" not in kept, kept
