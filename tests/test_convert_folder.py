"""One output folder holds one model's artifacts, which its manifest.json's top level (source, preprocessing, labels)
describes. `edgebb convert` of another model into a folder whose manifest lists artifacts still there stops before
any work (exit 2, one line, nothing changed); the same model adds to the folder as before."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from test_bad_input import snapshot  # every file under a folder with its sha256

from edgebb import InputError
from edgebb.conversion import convert

SIZE = 32


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "edgebb", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def manifest(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 4-class image folder, and the same images under other class names."""
    from edgebb.data.synth import generate

    root = tmp_path_factory.mktemp("folder_data")
    generate(str(root / "shapes"), classes=4, per_class=6, size=40, seed=1)
    classes = sorted(d for d in os.listdir(root / "shapes") if os.path.isdir(root / "shapes" / d))
    for i, name in enumerate(classes):
        shutil.copytree(root / "shapes" / name, root / "renamed" / f"kind{i}")
    return root


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    """An environment in which importing TensorFlow fails: a case run in it must be refused before any work."""
    fake = tmp_path_factory.mktemp("no_tf") / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise RuntimeError('TensorFlow was imported before the input was checked')\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(fake.parent), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory, data):
    """A folder holding MobileNetV2 0.35's fp32 artifact, converted with the shapes' labels."""
    out = tmp_path_factory.mktemp("mobilenet") / "out"
    convert("mobilenet_v2", str(out), str(data / "shapes"), recipes="fp32", formats="tflite", width=0.35, size=SIZE,
            calib_samples=4)
    return out


@pytest.fixture
def folder(mobilenet, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(mobilenet, out)
    return out


HELD = f"mobilenet_v2 (width 0.35, {SIZE} px, 4 classes, random weights)"


@pytest.mark.parametrize("args, asked", [
    (["efficientnet_b0", "-s", SIZE], f"efficientnet_b0 (width 1, {SIZE} px, 4 classes, random weights)"),
    (["mobilenet_v2", "-w", "0.5", "-s", SIZE], f"mobilenet_v2 (width 0.5, {SIZE} px, 4 classes, random weights)"),
    (["mobilenet_v2", "-w", "0.35", "-s", 64], "mobilenet_v2 (width 0.35, 64 px, 4 classes, random weights)"),
    (["mobilenet_v2", "-w", "0.35", "-s", SIZE, "-c", 10],
     f"mobilenet_v2 (width 0.35, {SIZE} px, 10 classes, random weights)"),
    (["mobilenet_v2", "-w", "0.35", "-s", SIZE, "-d", "{data}/renamed"],
     f"{HELD} with 4 labels (kind0, kind1, kind2, kind3)"),
], ids=["backbone", "width", "size", "classes", "labels"])
def test_another_model_into_the_folder_stops_before_any_work(args, asked, folder, data, no_tensorflow):
    before = snapshot(folder)
    args = [str(a).format(data=data) for a in args]
    if "-d" not in args:
        args += ["-d", data / "shapes"]
    result = run("convert", *args, "-o", folder, "-r", "fp32,int8", "-f", "tflite", env=no_tensorflow)
    err = result.stderr.strip()
    assert result.returncode == 2, (result.stdout[-2000:], err[-2000:])
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    held = HELD + (" with 4 labels (ring, square, star, vbars)" if "labels" in asked else "")
    assert err == (f"edgebb: error: {folder} holds the artifacts of {held}; this conversion is of {asked}, and a "
                   "folder holds one model's artifacts (its manifest.json describes them all): convert into another "
                   "folder with -o (nothing was changed)"), err
    assert snapshot(folder) == before  # every file byte for byte, nothing added


def test_the_same_backbone_adds_to_the_folder(folder, data):
    added = convert("mobilenet_v2", str(folder), str(data / "shapes"), recipes="dynamic", formats="tflite",
                    width=0.35, size=SIZE, calib_samples=4)
    assert not any("replaced" in n for n in added.notes)
    listed = manifest(folder)
    assert [a["recipe"] for a in listed["artifacts"]] == ["fp32", "dynamic"]
    assert listed["source"]["backbone"] == "mobilenet_v2" and listed["labels"] == ["ring", "square", "star", "vbars"]
    again = convert("mobilenet_v2", str(folder), str(data / "shapes"), recipes="fp32", formats="tflite", width=0.35,
                    size=SIZE, calib_samples=4)
    assert any(f"replaced mobilenet_v2_0.35_{SIZE}_fp32.tflite" in n for n in again.notes)
    assert sorted(a["recipe"] for a in manifest(folder)["artifacts"]) == ["dynamic", "fp32"]


def test_a_folder_whose_artifacts_are_gone_starts_afresh(folder, data):
    os.remove(folder / f"mobilenet_v2_0.35_{SIZE}_fp32.tflite")
    convert("squeezenet_1_1", str(folder), str(data / "renamed"), recipes="fp32", formats="tflite", size=SIZE,
            calib_samples=4)
    listed = manifest(folder)
    assert [a["path"] for a in listed["artifacts"]] == [f"squeezenet_1_1_{SIZE}_fp32.tflite"]
    assert listed["source"]["backbone"] == "squeezenet_1_1" and listed["labels"] == [f"kind{i}" for i in range(4)]
    assert (folder / "labels.txt").read_text().split() == listed["labels"]


def test_a_model_file_shares_its_folder_with_its_qat_model_only(tmp_path, data, no_tensorflow):
    """model_qat.h5, which edgebb train --qat saves beside model.keras, is that model's: its int8-qat artifact joins
    the float model's (as the README shows). Another file is another model, and so is model.keras saved again with
    other labels (found once the model is loaded, before any image is read)."""
    from edgebb.build.meta import write_meta
    from edgebb.models import create_model, preprocessing_for
    from edgebb.training.checkpoints import save_checkpoint
    from edgebb.training.qat import quantize_model

    model = create_model("mobilenet_v2", width=0.35, input_size=SIZE, num_classes=4)
    meta = {"backbone": {"name": "mobilenet_v2", "width": 0.35, "input_size": SIZE},  # as edgebb train writes it
            "labels": ["ring", "square", "star", "vbars"],
            "preprocessing": preprocessing_for("mobilenet_v2", SIZE).to_dict()}
    model.save(str(tmp_path / "model.keras"))
    write_meta(str(tmp_path / "model.keras"), meta)
    out = tmp_path / "out"
    shapes = str(data / "shapes")
    convert(str(tmp_path / "model.keras"), str(out), shapes, recipes="fp32", formats="tflite", calib_samples=4)

    save_checkpoint(quantize_model(model), str(tmp_path / "model_qat.h5"), {**meta, "qat": True}, qat=True)
    convert(str(tmp_path / "model_qat.h5"), str(out), shapes, recipes="int8-qat", formats="tflite", calib_samples=4)
    listed = manifest(out)
    assert [a["path"] for a in listed["artifacts"]] == ["model_fp32.tflite", "model_int8-qat.tflite"]

    before = snapshot(out)
    shutil.copy(tmp_path / "model.keras", tmp_path / "other.keras")
    result = run("convert", tmp_path / "other.keras", "-o", out, "-d", shapes, "-r", "int8", env=no_tensorflow)
    err = result.stderr.strip()
    assert result.returncode == 2 and len(err.splitlines()) == 1, err
    assert f"{out} holds the artifacts of {tmp_path / 'model.keras'} (mobilenet_v2 width 0.35, {SIZE} px); " \
           f"this conversion is of {tmp_path / 'other.keras'} (mobilenet_v2 width 0.35, {SIZE} px)" in err, err

    model.save(str(tmp_path / "model.keras"))
    write_meta(str(tmp_path / "model.keras"), {**meta, "labels": ["a", "b", "c", "d"]})
    with pytest.raises(InputError, match=r"with 4 labels \(ring, square, star, vbars\); this conversion is of "
                                         r".*model.keras \(mobilenet_v2 width 0.35, 32 px\) with 4 labels \(a, b"):
        convert(str(tmp_path / "model.keras"), str(out), shapes, recipes="int8", formats="tflite", calib_samples=4)
    assert snapshot(out) == before
