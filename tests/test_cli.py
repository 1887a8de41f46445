"""The command line as a user runs it: real subprocesses, real exit codes, real files."""

import json
import os
import subprocess
import sys

import pytest


def edgebb(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "edgebb", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


def test_help_starts_without_tensorflow():
    code = "import sys; from edgebb.cli import cli; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    result = edgebb("--help")
    assert result.returncode == 0 and "info" in result.stdout


def test_info_json_with_layers():
    result = edgebb("info", "mobilenet_v2", "--width", "0.5", "--size", "96", "--classes", "10", "--layers", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("name", "width", "input_size", "params_total", "params_trainable", "macs", "weights_fp32_bytes",
                "weights_int8_bytes", "peak_activation_bytes", "layers"):
        assert key in data
    assert data["name"] == "mobilenet_v2" and data["width"] == 0.5 and data["input_size"] == 96
    assert data["top1"] == 65.4 and data["top1_input_size"] == 224
    assert sum(layer["macs"] for layer in data["layers"]) == data["macs"]
    assert sum(layer["params"] for layer in data["layers"]) == data["params_total"]
    assert data["layers"][-1]["output_shape"] == [10]
    assert data["weights_int8_bytes"] < data["weights_fp32_bytes"]
    assert result.stderr == ""  # TensorFlow's start-up chatter is kept off the terminal


def test_info_layers_table_counts_activations_in_the_units_beside_it():
    """The table's activation column was KiB (bytes / 1024) headed "KB" beside the decimal MB of the lines above."""
    result = edgebb("info", "mobilenet_v2", "--width", "0.35", "--size", "32", "--layers")
    assert result.returncode == 0, result.stderr
    (header,) = [ln for ln in result.stdout.splitlines() if ln.startswith("layer ")]
    assert "act. kB" in header
    (row,) = [ln.split() for ln in result.stdout.splitlines() if ln.startswith("input ")]
    assert row[3] == "12.29", row  # 32 x 32 x 3 float32 = 12,288 bytes


def test_a_backbone_at_a_width_as_bench_and_sweep_name_it():
    """NAME@WIDTH, which bench and sweep take, is NAME --width WIDTH for info, build, train and convert too (a new
    user's `convert mobilenet_v2@0.35` was 'model file not found')."""
    result = edgebb("info", "mobilenet_v2@0.35", "--size", "96", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["name"], data["width"], data["input_size"]) == ("mobilenet_v2", 0.35, 96)
    same = edgebb("info", "mobilenet_v2@0.35", "-w", "0.35", "--size", "96", "--json")  # agreeing: fine
    assert same.returncode == 0 and json.loads(same.stdout) == data


@pytest.mark.parametrize("args", [("info", "mobilenet_v2"), ("info", "mobilenet_v2", "--layers", "--json")])
def test_a_reader_that_stopped_reading_ends_it_quietly(args):
    """`edgebb info NAME | head`: once the reader has gone, the next write fails with a broken pipe. A new user saw
    "edgebb: error: Broken pipe"; it ends as a shell pipeline's writer does, quietly, with 141 (128 + SIGPIPE). The
    read end is closed before edgebb starts, so its first write fails, whatever the pipe's buffer."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run([sys.executable, "-m", "edgebb", *args], stdout=write, stderr=subprocess.PIPE,
                                text=True)
    finally:
        os.close(write)
    assert result.returncode == 141 and result.stderr == ""


def test_info_table():
    result = edgebb("info", "squeezenet_1_1", "--size", "64", "--layers")
    assert result.returncode == 0, result.stderr
    assert "peak activations" in result.stdout and "fire9_concat" in result.stdout
    assert "2 x MACs" in result.stdout
    assert "at 224x224 (torchvision weights metadata)" in result.stdout  # published at 224, asked at 64


@pytest.mark.parametrize("args, message", [
    (["info", "mobilenetv2"], "did you mean: mobilenet_v2"),
    (["info", "mobilenet_v2", "--width", "0.7"], "width for mobilenet_v2 must be one of"),
    (["info", "resnet50", "--size", "100"], "must be a multiple of 32"),
    (["info", "resnet50", "--classes", "0"], "must be at least 1"),
    (["build", "squeezenet_1_0", "-o", "x.onnx"], "must end in .keras or .h5"),
    (["build", "shufflenet_v2", "-o", "x.keras", "--weights", "imagenet"], "no ImageNet weights exist"),
    (["build", "mobilenet_v3_small_minimalistic", "-w", "0.75", "-s", "96", "-o", "x.keras", "--weights", "imagenet"],
     "no ImageNet weights exist for mobilenet_v3_small_minimalistic at width 0.75 (keras.applications has them at "
     "width 1 only)"),
    (["build", "mobilenet_v2", "-o", "x.keras", "--weights", "missing.h5"], "weights file not found"),
    (["info", "mobilenet_v2@0.35", "-w", "0.5"], "mobilenet_v2@0.35 and --width 0.5 name two widths; give one"),
    (["info", "mobilenet_v2@0.3"], "width for mobilenet_v2 must be one of 0.35, 0.5"),
    (["build", "mobilenet_v2@abc", "-o", "x.keras"], "mobilenet_v2@abc: give one width after the @, a number"),
    (["convert", "mobilenet_v2@0.35+0.5", "-o", "out"], "give one width after the @"),
    (["train", "resnet50@0.5", "-d", ".", "-o", "m.keras"], "width for resnet50 must be 1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = edgebb(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_build_writes_a_loadable_model(tmp_path):
    out = tmp_path / "sub" / "m.keras"
    result = edgebb("build", "mobilenet_v3_small", "-o", str(out), "--width", "0.75", "--size", "96", "-c", "4")
    assert result.returncode == 0, result.stderr
    assert out.exists() and [p.name for p in out.parent.iterdir()] == ["m.keras"]
    from edgebb.models import load_model

    assert load_model(str(out)).output.shape[-1] == 4


def test_build_features(tmp_path):
    out = tmp_path / "f.keras"
    result = edgebb("build", "efficientnet_lite0", "-o", str(out), "--size", "64", "--features")
    assert result.returncode == 0, result.stderr
    from edgebb.models import load_model

    assert [o.shape[1] for o in load_model(str(out)).outputs] == [16, 8, 4, 2]
    from edgebb.build.meta import read_meta

    meta = read_meta(str(out))  # no classifier: no number of classes
    assert meta["backbone"] == {"name": "efficientnet_lite0", "width": 1.0, "input_size": 64, "num_classes": None}
    assert meta["edgebb_build"]["features"] is True and meta["weights"] == "random"
    # --classes sizes a classifier that --features leaves out: it was ignored without a word
    refused = edgebb("build", "efficientnet_lite0", "-o", str(tmp_path / "c.keras"), "--features", "-c", "5")
    assert refused.returncode == 2 and "--classes sizes the classifier, which --features leaves out" in refused.stderr
    assert not (tmp_path / "c.keras").exists()


def test_a_built_model_converts_as_a_trained_one_does(tmp_path):
    """`edgebb build` writes edgebb's metadata (backbone, preprocessing, the weights it holds; no labels, no
    training images) into the file, so `edgebb convert built.keras --data` works as it does for a model from
    `edgebb train` (it stopped with 'carries no edgebb preprocessing', a new user's dead end)."""
    from edgebb.build.meta import read_meta

    model, data, out = tmp_path / "plain.keras", tmp_path / "shapes", tmp_path / "po"
    result = edgebb("build", "mobilenet_v2@0.35", "-s", "32", "-c", "4", "-o", str(model))
    assert result.returncode == 0, result.stderr
    assert edgebb("data", "synth", str(data), "--classes", "4", "--per-class", "6", "--size", "32").returncode == 0
    result = edgebb("convert", str(model), "-o", str(out), "--data", str(data), "--recipe", "fp32,int8",
                    "--format", "tflite", "--calib-samples", "8")
    assert result.returncode == 0, result.stderr
    meta = read_meta(str(model))
    assert meta["backbone"] == {"name": "mobilenet_v2", "width": 0.35, "input_size": 32, "num_classes": 4}
    assert meta["weights"] == "random" and meta["edgebb_build"]["trained"] is False
    assert meta["preprocessing"]["size"] == 32 and "labels" not in meta and "training_images" not in meta
    manifest = json.loads((out / "manifest.json").read_text())
    source = manifest["source"]
    assert source["kind"] == "file" and source["path"] == str(model) and source["input_size"] == 32
    assert source["backbone"] == meta["backbone"] and source["qat"] is False
    assert manifest["preprocessing"] == meta["preprocessing"]
    assert [a["path"] for a in manifest["artifacts"]] == ["plain_fp32.tflite", "plain_int8.tflite"]
    assert all((out / a["path"]).stat().st_size > 0 for a in manifest["artifacts"])
    # its weights are untrained, and the manifest says so (its quantized artifact is then not judged)
    assert source["weights"] == "random" and any("random weights" in n for n in manifest["notes"]), manifest
    # a feature-map model has no top-1 to verify: one line before any work
    features = tmp_path / "f.keras"
    assert edgebb("build", "mobilenet_v2@0.35", "-s", "32", "--features", "-o", str(features)).returncode == 0
    refused = edgebb("convert", str(features), "-o", str(tmp_path / "fo"), "--data", str(data))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "outputs feature maps (edgebb build --features)" in refused.stderr and not (tmp_path / "fo").exists()


def test_info_says_whether_the_width_has_imagenet_weights():
    """MobileNetV3-Small-minimalistic has ImageNet weights at 1.0 only, as `edgebb list` and `build` say too."""
    result = edgebb("info", "mobilenet_v3_small_minimalistic", "--width", "0.75", "--size", "96", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["imagenet_weights"] is False


def test_build_keeps_existing_file_when_it_fails(tmp_path):
    out = tmp_path / "m.keras"
    out.write_bytes(b"precious")
    result = edgebb("build", "mobilenet_v2", "-o", str(out), "--weights", str(tmp_path / "nope.h5"))
    assert result.returncode == 2
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_list_json(tmp_path):
    result = edgebb("list", "--json", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = {(r["name"], r["width"]) for r in rows}
    assert ("shufflenet_v2", 2.0) in names and ("mobilenet_v2", 0.35) in names and ("vgg16", 1.0) in names
    assert len(rows) == 36  # 27 mobile variants and ResNet-50, 9 classic reference backbones
    resnet = next(r for r in rows if r["name"] == "resnet50")
    # the published top-1 of the weights --weights imagenet loads (keras.io), as for ResNet-101 and -152; it had
    # been another checkpoint's 76.71, which ranked ResNet-50 above ResNet-101
    assert resnet["params_total"] == 25636712 and resnet["top1"] == 74.9
    again = edgebb("list", "--json", env={"XDG_CACHE_HOME": str(tmp_path)})  # cached: same figures, no rebuild
    assert json.loads(again.stdout) == rows and "profiling" not in again.stderr
    # the table shows FLOPs only in a column labelled as 2 x MACs (darknet19: 2.79 G MACs, "5.58 G FLOPs")
    table = edgebb("list", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert "GFLOPs = 2 x MACs" in table.stdout, table.stdout
    darknet = next(r for r in rows if r["name"] == "darknet19")
    line = next(ln for ln in table.stdout.splitlines() if ln.lstrip().startswith("darknet19"))
    assert f"{2 * darknet['macs'] / 1e9:.2f}" in line, line


def test_an_output_that_cannot_be_written_loses_nothing(tmp_path):
    """A folder made unwritable mid-run (a new user's chattr +i): the JSON was saved to a temporary file and the CSV
    dropped without a word. Each output that fails is saved as its own kind, the others are written, and the one
    line names where each went; with only a table asked for, the whole result goes beside it."""
    import click

    from edgebb.cli import cli
    from edgebb.cli.common import write_outputs
    from edgebb.core.errors import InputError

    (tmp_path / "file").write_text("in the way")
    blocked = tmp_path / "file"
    results = '{"results": []}\n'
    with click.Context(cli):
        with pytest.raises(InputError) as err:
            write_outputs([(str(blocked / "r.json"), results), (str(blocked / "r.csv"), "a\n1\n")], results)
        saved = dict(part.split(" to ") for part in str(err.value).split("saved instead: ")[1].split("; "))
        assert open(saved[str(blocked / "r.json")]).read() == results
        assert open(saved[str(blocked / "r.csv")]).read() == "a\n1\n" and saved[str(blocked / "r.csv")].endswith(".csv")
        with pytest.raises(InputError) as err:
            write_outputs([(str(tmp_path / "ok.json"), results), (str(blocked / "r.csv"), "a\n1\n")], results)
        assert (tmp_path / "ok.json").read_text() == results and "the results to" not in str(err.value)
        with pytest.raises(InputError) as err:
            write_outputs([(None, results), (str(blocked / "r.csv"), "a\n1\n")], results)
        saved = dict(part.split(" to ") for part in str(err.value).split("saved instead: ")[1].split("; "))
        assert open(saved["the results"]).read() == results
    for path in saved.values():
        os.remove(path)


def test_info_says_the_published_top1_in_one_form():
    """The size a published top-1 was measured at came inside the source's parentheses for some backbones and after
    them for others; it is said once, in one place, whatever size info shows."""
    for name, line in (("mobilenet_v3_small", "68.1% at 224x224 (keras.applications MobileNetV3 docs)"),
                       ("squeezenet_1_1", "58.178% at 224x224 (torchvision")):
        result = edgebb("info", name, "--size", "64")
        assert result.returncode == 0, result.stderr
        assert f"published top-1: {line}" in result.stdout, result.stdout


def test_a_results_file_replaces_only_an_earlier_result_of_its_kind(tmp_path):
    """`--json grid.toml` replaced a sweep's config, `--json data/star/00000.png` a training image, `--csv
    annotations.csv` a user's labels, `recommend --json pi.json` a bench JSON of a Pi: a results file may replace an
    empty file or an earlier result of its own kind (its JSON schema, its CSV's first column), however large, and
    nothing else; each refusal says what the file is."""
    import pytest

    from edgebb.cli.common import check_outputs
    from edgebb.core.errors import InputError

    files = {
        "bench.json": '{\n  "schema": "edgebb.bench/1",\n  "env": {}, "results": [' + '{"x": 1},' * 2000 + "{}]}\n",
        "bench.csv": "model,artifact,path\nm,a,p\n",
        "sweep.json": '{"schema": "edgebb.sweep-result/1", "cells": []}',
        "sweep.csv": "key,run_id,backbone,p50_ms\nk,1,mobilenet_v2,0.5\n",
        "empty.json": "",
        "grid.toml": 'backbones = ["squeezenet_1_1", "mobilenet_v2@0.35"]\n',
        "labels.txt": "ring\nsquare\n",
        "annotations.csv": "filename,label\nimg001.jpg,cat\n",
        "m.json": '{\n  "schema": "edgebb.manifest/1",\n  "artifacts": []\n}',
        "other.json": '{"mine": true}',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "00000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)

    def refusal(json_name=None, csv_name=None, kind=("edgebb.bench/", "model")):
        try:
            check_outputs(json_name and str(tmp_path / json_name), csv_name and str(tmp_path / csv_name), kind=kind)
        except InputError as exc:
            return str(exc).split(" is ", 1)[1].split(":")[0]
        return None

    assert refusal("bench.json", "bench.csv") is None and refusal("empty.json") is None
    assert refusal("sweep.json", "sweep.csv", kind=("edgebb.sweep-result/", "key")) is None
    assert refusal("bench.json", kind=("edgebb.recommendation/", "")) == \
        "another kind of edgebb result (edgebb.bench/1)"
    assert refusal(None, "sweep.csv") == refusal(None, "annotations.csv") == refusal("grid.toml") == \
        refusal("labels.txt") == refusal("00000.png") == refusal("other.json") == \
        "a file that is not an earlier result of this command"
    assert refusal("m.json") == "a conversion's manifest"
    # the command's own table given for its JSON (and the other way round) is named as what it is, not as a file
    # that is no earlier result of the command
    assert refusal("bench.csv") == "this command's earlier CSV table (--json writes JSON)"
    assert refusal(None, "bench.json") == "this command's earlier JSON result (--csv writes a table)"
    with pytest.raises(InputError, match="named for two outputs"):
        check_outputs(str(tmp_path / "x.out"), str(tmp_path / "x.out"), kind=("edgebb.bench/", "model"))


def test_cache_info_gives_each_size_in_a_unit_it_can_show(tmp_path):
    """`cache info` listed a 7.5 kB entry as "0.00" in its MB column (the total said kB): every size, the rows',
    the total's and `cache clear`'s, is in MB from 0.1 MB and in kB below."""
    for name, size in (("small", 7_500), ("large", 2_300_000)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "blob").write_bytes(b"\0" * size)
    result = edgebb("cache", "info", env={"EDGEBB_CACHE": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[3:5]}
    assert rows == {"large": ["2.3", "MB"], "small": ["7.5", "kB"]}, result.stdout
    assert "total 2.3 MB;" in result.stdout and "0.00" not in result.stdout, result.stdout
    result = edgebb("cache", "clear", "small", env={"EDGEBB_CACHE": str(tmp_path)})
    assert result.returncode == 0 and result.stdout.startswith("freed 7.5 kB from"), result.stdout
    result = edgebb("cache", "clear", env={"EDGEBB_CACHE": str(tmp_path / "empty")})  # "freed 0.0 kB" of nothing
    assert result.returncode == 0 and result.stdout.strip().endswith("is empty: nothing to free"), result.stdout
