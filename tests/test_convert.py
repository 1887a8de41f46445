"""edgebb convert, end to end: real conversions, real runtimes, real images, real failures."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgebb import InputError
from edgebb.conversion import convert

SIZE = 32


def edgebb(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgebb", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """A generated 4-class image folder, as a user's data would be laid out."""
    from edgebb.data.synth import generate

    root = tmp_path_factory.mktemp("data") / "shapes"
    generate(str(root), classes=4, per_class=12, size=40, seed=1)
    return str(root)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shapes):
    """A small MobileNetV2 fitted to the image folder and saved with its edgebb metadata, as `edgebb train` would:
    quantization is only worth judging on a network whose outputs mean something. 60 epochs fit all 48 images with
    ~98% mean confidence whatever the (nondeterministic) training draws; at 30 a run now and then left near-ties
    that int8 reordered (ONNX int8 agreement 81% on the 16 held-out, once in CI)."""
    import tf_keras as keras

    from edgebb.build.meta import write_meta
    from edgebb.data import load_images, scan_folder
    from edgebb.models import create_model, preprocessing_for
    from edgebb.models.weights import reestimate_batchnorm

    keras.utils.set_random_seed(0)
    pp = preprocessing_for("mobilenet_v2", SIZE)
    folder = scan_folder(shapes)
    images = load_images(folder.items, pp)
    model = create_model("mobilenet_v2", width=0.35, input_size=SIZE, num_classes=len(folder.classes))
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images.x, images.labels, epochs=60, batch_size=16, verbose=0)
    reestimate_batchnorm(model, images.x)
    path = str(tmp_path_factory.mktemp("model") / "shapes_mnv2.keras")
    model.save(path)
    write_meta(path, {"backbone": {"name": "mobilenet_v2", "width": 0.35}, "preprocessing": pp.to_dict(),
                      "labels": folder.classes})
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory, shapes, trained):
    """fp32 and int8 of the trained model in both formats, calibrated and verified on the image folder."""
    out = tmp_path_factory.mktemp("out")
    return convert(trained, str(out), shapes, recipes="fp32,int8", formats="tflite,onnx", calib_samples=16, seed=3)


def test_every_artifact_is_written_and_described(converted):
    names = sorted(os.path.basename(a.path) for a in converted.artifacts)
    assert names == sorted(f"shapes_mnv2_{r}.{f}" for r in ("fp32", "int8") for f in ("onnx", "tflite"))
    manifest = json.loads(open(converted.manifest_path).read())
    assert manifest["source"]["kind"] == "file" and manifest["source"]["backbone"]["name"] == "mobilenet_v2"
    assert manifest["seed"] == 3
    assert manifest["labels"] == sorted(os.listdir(converted.data["path"])) or manifest["labels"] == \
        sorted(d for d in os.listdir(converted.data["path"]) if os.path.isdir(os.path.join(converted.data["path"], d)))
    assert open(os.path.join(converted.out_dir, "labels.txt")).read().split() == manifest["labels"]
    for tool in ("tensorflow", "tf2onnx", "onnxruntime", "ai-edge-litert"):
        assert tool in manifest["versions"]
    for entry in manifest["artifacts"]:
        for key in ("path", "format", "recipe", "sha256", "size_bytes", "inputs", "outputs", "preprocessing",
                    "labels", "macs", "verification"):
            assert key in entry, key
        path = os.path.join(converted.out_dir, entry["path"])
        assert hashlib.sha256(open(path, "rb").read()).hexdigest() == entry["sha256"]
        assert os.path.getsize(path) == entry["size_bytes"]
        assert entry["preprocessing"]["size"] == SIZE and entry["preprocessing"]["mean"] == [127.5] * 3
        for key in ("top1_agreement", "accuracy", "reference_accuracy", "max_abs_error", "cosine"):
            assert entry["verification"][key] is not None
    assert not [p for p in os.listdir(converted.out_dir) if p.startswith(".")]  # no temporary files left


def test_float_artifacts_compute_what_keras_computes(converted):
    for a in converted.artifacts:
        if a.recipe.name == "fp32":
            assert a.verification.top1_agreement == 100.0
            assert a.verification.max_abs_error < 1e-4
            assert a.verification.cosine > 0.99999


def test_int8_artifacts_are_quantized_and_close(converted):
    tflite = next(a for a in converted.artifacts if a.recipe.name == "int8" and a.format == "tflite")
    assert tflite.inputs[0].dtype == "int8" and tflite.inputs[0].scale > 0
    assert tflite.outputs[0].dtype == "int8"
    assert tflite.size_bytes < 0.4 * next(a for a in converted.artifacts if a.recipe.name == "fp32").size_bytes
    for a in converted.artifacts:
        if a.recipe.name == "int8":
            v = a.verification
            assert v.cosine > 0.97 and v.top1_agreement >= 85.0, (a.path, v)
            assert v.accuracy is not None and v.reference_accuracy is not None
    # ONNX int8 runs as integer kernels on this CPU: every Conv/Gemm fused, none left in float
    onnx = next(a for a in converted.artifacts if a.recipe.name == "int8" and a.format == "onnx")
    assert onnx.kernels["float_compute"] == [] and onnx.kernels["integer_nodes"] > 10, onnx.kernels
    assert onnx.verification.cosine > tflite.verification.cosine - 0.01, (onnx.verification, tflite.verification)
    # the same file in OpenVINO: its accuracy can differ from ONNX Runtime's only on the images whose top-1 differs
    from edgebb.runtimes import available

    if available("openvino")[0]:
        other = onnx.verification.other_runtimes["openvino"]
        assert abs(other["accuracy"] - onnx.verification.accuracy) <= 100 - other["top1_agreement"] + 1e-6, other
        assert abs(other["float_top1_agreement"] - onnx.verification.top1_agreement) <= \
            100 - other["top1_agreement"] + 1e-6, other
        assert other["passed"] is (other["drop"] <= onnx.verification.max_drop and other["float_top1_agreement"] >= 90)


def weight_codes(path: str) -> np.ndarray:
    """The largest |code| of each output channel of every int8 Conv kernel in a QDQ ONNX file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    kernels = [constants[n.input[0]] for n in model.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in constants and constants[n.input[0]].ndim == 4]
    assert kernels and all(k.dtype == np.int8 for k in kernels)
    return np.concatenate([np.abs(k.astype(int)).reshape(len(k), -1).max(axis=1) for k in kernels])


def test_int8_onnx_weights_are_tflites_8_bit_grid_unless_this_cpu_saturates(converted):
    """Symmetric per-channel int8 puts each channel's largest weight at code 127, as TFLite does; 7-bit weights
    (for x86 without VNNI) stop at 64."""
    from edgebb.core.cpu import cpu_info, int8_dot_products_saturate

    bits = 7 if int8_dot_products_saturate(cpu_info()) else 8
    onnx = next(a for a in converted.artifacts if a.recipe.name == "int8" and a.format == "onnx")
    assert onnx.options["weights"] == f"int8 per-channel, {bits}-bit", onnx.options
    tops = weight_codes(onnx.path)
    assert (tops == 127).mean() > 0.9 if bits == 8 else tops.max() <= 64, np.bincount(tops)
    assert any(f"int8 ONNX weights are {bits}-bit" in n for n in converted.notes), converted.notes


@pytest.mark.parametrize("bits", ["7", "8"])
def test_onnx_weight_bits_as_asked(bits, tmp_path, shapes):
    result = convert("squeezenet_1_1", str(tmp_path), shapes, recipes="int8", formats="onnx", size=SIZE,
                     calib_samples=8, onnx_weight_bits=bits)
    tops = weight_codes(result.artifacts[0].path)
    assert tops.max() == (127 if bits == "8" else 64), np.bincount(tops)
    assert result.artifacts[0].options["weight_bits_because"] == "asked for (--onnx-weight-bits)"


@pytest.mark.parametrize("machine, flags, bits", [
    ("x86_64", ["avx2", "fma"], 7), ("x86_64", ["avx2", "avx512f"], 7), ("x86_64", ["avx2", "avx512_vnni"], 8),
    ("x86_64", ["avx2", "avx_vnni"], 8), ("aarch64", ["asimd"], 8)])
def test_auto_weight_bits_follow_the_cpu(machine, flags, bits, monkeypatch):
    from edgebb.conversion.exporters.onnx import weight_bits

    monkeypatch.setattr("edgebb.core.cpu.cpu_info",
                        lambda: {"cpu_model": "a CPU", "cpu_flags": flags, "machine": machine, "cores": 2})
    chosen, because = weight_bits("auto")
    assert chosen == bits and "a CPU" in because


def test_same_inputs_and_seed_give_byte_identical_int8_tflite(tmp_path, shapes):
    digests = []
    for run in ("a", "b"):
        result = convert("squeezenet_1_1", str(tmp_path / run), shapes, recipes="int8", formats="tflite",
                         size=SIZE, calib_samples=8, seed=5)
        digests.append(result.artifacts[0].sha256)
    assert digests[0] == digests[1]
    other = convert("squeezenet_1_1", str(tmp_path / "c"), shapes, recipes="int8", formats="tflite", size=SIZE,
                    calib_samples=8, seed=6)
    assert other.artifacts[0].sha256 != digests[0]


def test_the_float_model_does_not_depend_on_the_recipes_asked_for(tmp_path):
    """A backbone with random weights takes its BatchNorm statistics from calibration images. fp32 alone loads 64 of
    them and int8 --calib-samples: both must start from the same images, or an fp32 and an fp32,int8 conversion of
    one backbone and seed (into one folder, a manifest) hold two different float models."""
    from edgebb.data.synth import generate

    data = str(tmp_path / "data")
    generate(data, classes=4, per_class=40, size=40, seed=2)  # 112 not held out: more than 64 and than 100
    for folder in (data, None):  # the user's images, or the generated set that stands in without --data
        digests = [next(a.sha256 for a in convert("mobilenet_v2", str(tmp_path / f"{recipes}{folder is None}"),
                                                   folder, recipes=recipes, formats="tflite", width=0.35, size=SIZE,
                                                   calib_samples=100, seed=5).artifacts if a.recipe.name == "fp32")
                   for recipes in ("fp32", "fp32,int8")]
        assert digests[0] == digests[1], folder


def test_onnx_from_two_runs_is_the_same_file(tmp_path, shapes):
    """tf2onnx's graph rewrites visit nodes in an order that changes from run to run; the export takes that out
    (edgebb.conversion.exporters.onnx_tidy), so two runs write the same bytes, as TFLite's do. MobileNetV2: every
    ReLU6 shares its bounds, named after whichever layer tf2onnx met first, which made its files differ."""
    import hashlib

    from edgebb.runtimes import load_artifact

    digests, outputs = [], []
    x = np.random.default_rng(0).uniform(-1, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    for run in ("a", "b"):
        result = edgebb("convert", "mobilenet_v2", "-w", "0.35", "-o", str(tmp_path / run), "--data", shapes,
                        "--recipe", "fp32,int8", "--format", "onnx", "--size", str(SIZE), "--calib-samples", "4")
        assert result.returncode == 0, result.stderr
        files = [tmp_path / run / f"mobilenet_v2_0.35_{SIZE}_{recipe}.onnx" for recipe in ("fp32", "int8")]
        digests.append([hashlib.sha256(f.read_bytes()).hexdigest() for f in files])
        with load_artifact(str(files[0])) as session:
            outputs.append(session.run(x))
    assert digests[0] == digests[1]
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_other_recipes_and_io_dtypes(tmp_path):
    result = convert("shufflenet_v2", str(tmp_path), None, recipes="fp16,dynamic,int16x8,int8",
                     formats="tflite,onnx", width=0.5, size=SIZE, calib_samples=8, eval_samples=8,
                     io_dtype="uint8")
    by_name = {(a.recipe.name, a.format): a for a in result.artifacts}
    assert set(by_name) == {("fp16", "tflite"), ("dynamic", "tflite"), ("dynamic", "onnx"), ("int16x8", "tflite"),
                            ("int8", "tflite"), ("int8", "onnx")}
    assert by_name["int8", "tflite"].inputs[0].dtype == "uint8"
    assert by_name["int16x8", "tflite"].inputs[0].dtype == "float32"
    assert by_name["fp16", "tflite"].outputs[0].dtype == "float32"
    assert any("fp16 has no onnx form" in n for n in result.notes)
    assert result.data["kind"] == "synthetic" and "not your task" in result.data["note"]


def test_converts_a_saved_keras_model_with_its_metadata(tmp_path, shapes):
    from edgebb.build.meta import write_meta
    from edgebb.data import scan_folder
    from edgebb.models import create_model, preprocessing_for

    model = create_model("mobilenet_v1", width=0.25, input_size=SIZE, num_classes=4)
    path = str(tmp_path / "mine.keras")
    model.save(path)
    write_meta(path, {"backbone": {"name": "mobilenet_v1", "width": 0.25},
                      "preprocessing": preprocessing_for("mobilenet_v1", SIZE).to_dict(),
                      "labels": scan_folder(shapes).classes})
    result = convert(path, str(tmp_path / "out"), shapes, recipes="fp32", formats="tflite", calib_samples=4)
    assert result.source.config["kind"] == "file" and result.artifacts[0].path.endswith("mine_fp32.tflite")
    assert result.artifacts[0].verification.top1_agreement == 100.0


def test_budget_holds_agreement_and_says_what_it_checked(tmp_path, shapes, trained):
    """A trained model's int8 artifact held to an agreement it cannot reach (100% on near-ties) fails with exit 1,
    naming the artifact and the reason; the float artifact passes the same budget."""
    result = edgebb("convert", trained, "-o", str(tmp_path), "--data", shapes, "--recipe", "fp32,int8",
                    "--calib-samples", "8", "--min-agreement", "100", "--max-drop", "100")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    by_recipe = {a["recipe"]: a["verification"] for a in manifest["artifacts"]}
    assert by_recipe["fp32"]["passed"] is True and by_recipe["fp32"]["min_agreement"] == 100
    assert "budget: top-1 accuracy drop <= 100 point(s) and top-1 agreement with the float model >= 100%" \
        in result.stdout
    if by_recipe["int8"]["top1_agreement"] < 100:
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert "shapes_mnv2_int8.tflite" in last and "top-1 agreement" in last and "< 100%" in last
    else:
        assert result.returncode == 0


def test_random_weights_are_not_judged_and_say_so(tmp_path, shapes):
    result = convert("mobilenet_v2", str(tmp_path), shapes, recipes="fp32,int8", width=0.35, size=SIZE,
                     calib_samples=8, min_agreement=100, auto_fallback=True)
    by_recipe = {a.recipe.name: a.verification for a in result.artifacts}
    assert by_recipe["fp32"].passed is True  # the float export must still compute what Keras computes
    assert by_recipe["int8"].passed is None and by_recipe["int8"].min_agreement is None
    assert any("random weights" in n and "not judged" in n for n in result.notes)
    assert any(n.startswith("--auto-fallback did nothing: with random weights") for n in result.notes)
    # with nothing quantized there is nothing unjudged to warn about
    float_only = convert("mobilenet_v2", str(tmp_path / "fp32"), shapes, recipes="fp32", width=0.35, size=SIZE)
    assert float_only.artifacts[0].verification.passed is True
    assert not any("not judged" in n for n in float_only.notes), float_only.notes
    # with no float recipe, the note does not claim a float artifact was checked
    int8_only = convert("mobilenet_v2", str(tmp_path / "int8"), shapes, recipes="int8", width=0.35, size=SIZE,
                        calib_samples=8, formats="tflite")
    note = next(n for n in int8_only.notes if "not judged" in n)
    assert "the float artifacts compute" not in note and "only that each file runs" in note, note


@pytest.mark.parametrize("args, message", [
    (["mobilenetv2"], "unknown backbone 'mobilenetv2'"),
    (["mobilenet_v2", "--data", "/nonexistent"], "data folder not found: /nonexistent"),
    (["mobilenet_v2", "--recipe", "int4"], "unknown recipe 'int4'"),
    (["mobilenet_v2", "--format", "tflite,coreml"], "unknown format 'coreml'"),
    (["mobilenet_v2", "--recipe", "fp16", "--format", "onnx"], "recipe fp16 is not available for onnx"),
    (["mobilenet_v2", "--io-dtype", "int4"], "--io-dtype must be one of"),
    (["mobilenet_v2", "--calib-method", "mse"], "--calib-method must be one of"),
    (["mobilenet_v2", "--width", "0.6"], "width for mobilenet_v2 must be one of"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "out"
    result = edgebb("convert", *args, "-o", str(out), "--size", str(SIZE))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert not out.exists()  # bad input leaves not even an empty output folder


def test_empty_data_folder(tmp_path):
    (tmp_path / "data").mkdir()
    result = edgebb("convert", "mobilenet_v2", "-o", str(tmp_path / "out"), "--data", str(tmp_path / "data"))
    assert result.returncode == 2 and str(tmp_path / "data") in result.stderr


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(os.urandom(2048))
    result = edgebb("convert", str(bad), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "model.keras" in result.stderr.strip().splitlines()[-1]


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = edgebb("convert", "mobilenet_v2", "-o", str(blocker / "out"))
    assert result.returncode == 2 and "cannot create output folder" in result.stderr


def test_a_layer_the_converter_cannot_handle_is_named():
    """An op with no TFLite kernel (erf) fails the conversion with one line naming the op and the layer."""
    import tensorflow as tf
    import tf_keras as keras

    from edgebb.conversion.exporters.tflite import export_tflite
    from edgebb.conversion.recipes import RECIPES

    class Wave(keras.layers.Layer):
        def call(self, x):
            return tf.math.erf(x)

    inputs = keras.Input((SIZE, SIZE, 3))
    x = Wave(name="wave")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="odd")
    with pytest.raises(InputError) as err:
        export_tflite(model, RECIPES["int8"], np.zeros((2, SIZE, SIZE, 3), np.float32), "int8")
    message = str(err.value)
    assert "\n" not in message
    assert "in layer wave" in message and "Erf" in message and "int8" in message


def test_interrupt_leaves_a_folder_consistent_with_what_finished(tmp_path, shapes, monkeypatch):
    import edgebb.conversion.pipeline as conv

    out = tmp_path / "out"
    convert("squeezenet_1_1", str(out), shapes, recipes="dynamic", size=SIZE, calib_samples=4)
    calls = {"n": 0}
    real = conv.export

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(conv, "export", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert("squeezenet_1_1", str(out), shapes, recipes="fp32,int8", size=SIZE, calib_samples=4)
    files = sorted(os.listdir(out))
    assert files == ["labels.txt", "manifest.json", f"squeezenet_1_1_{SIZE}_dynamic.tflite",
                     f"squeezenet_1_1_{SIZE}_fp32.tflite"]  # no partial file
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(a["path"] for a in manifest["artifacts"]) == files[2:]  # the earlier artifact kept, the new one in


def test_a_second_conversion_adds_to_the_manifest(tmp_path, shapes, monkeypatch):
    # into a folder named after the backbone, from where it is: the second run must not take that folder (its own
    # output) for a model to convert
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "squeezenet_1_1"
    convert("squeezenet_1_1", str(out), shapes, recipes="fp32", size=SIZE, calib_samples=4)
    fewer = tmp_path / "fewer"  # the second conversion verifies on other images
    shutil.copytree(shapes, fewer)
    for cls in (d for d in fewer.iterdir() if d.is_dir()):
        for path in sorted(cls.iterdir())[:3]:
            path.unlink()
    second = convert("squeezenet_1_1", str(out), str(fewer), recipes="int8", size=SIZE, calib_samples=4)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["recipe"] for a in manifest["artifacts"]] == ["fp32", "int8"]
    # each artifact says which images verified it; the top level describes the last conversion only
    first_data, second_data = (a["data"] for a in manifest["artifacts"])
    assert second_data == manifest["data"] and first_data["path"] != second_data["path"], manifest["artifacts"]
    assert not any("replaced" in n for n in second.notes)
    third = convert("squeezenet_1_1", str(out), shapes, recipes="fp32", size=SIZE, calib_samples=4)
    assert any(f"replaced squeezenet_1_1_{SIZE}_fp32.tflite" in n for n in third.notes)
    assert sorted(a["recipe"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]) == \
        ["fp32", "int8"]


def test_a_folder_with_a_file_edgebb_did_not_make_is_left_alone(tmp_path, shapes):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"old": true}')
    with pytest.raises(InputError, match="not an edgebb manifest"):
        convert("squeezenet_1_1", str(out), shapes, recipes="fp32", size=SIZE)
    (out / "manifest.json").unlink()
    (out / f"squeezenet_1_1_{SIZE}_fp32.tflite").write_bytes(b"theirs")
    with pytest.raises(InputError, match="was not made by edgebb convert"):
        convert("squeezenet_1_1", str(out), shapes, recipes="fp32", size=SIZE)
    assert sorted(os.listdir(out)) == [f"squeezenet_1_1_{SIZE}_fp32.tflite"]


def test_auto_fallback_keeps_an_outlier_layer_in_float(tmp_path, shapes):
    """The classic PTQ failure: one channel with a range 3000x the others. Per-tensor int8 activations then lose
    every other channel of that layer; --auto-fallback must find the layer, keep it in float and meet the budget."""
    import tf_keras as keras

    from edgebb.build.meta import write_meta
    from edgebb.data import load_images, scan_folder
    from edgebb.models import preprocessing_for

    L = keras.layers
    keras.utils.set_random_seed(0)
    pp = preprocessing_for("mobilenet_v2", SIZE)
    folder = scan_folder(shapes)
    data = load_images(folder.items, pp)
    inputs = keras.Input((SIZE, SIZE, 3), name="input")
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="c1")(inputs)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = L.Conv2D(32, 1, name="mix")(x)  # linear, so a channel can be scaled here and unscaled in the next layer
    x = L.Conv2D(32, 1, activation="relu", name="after")(x)
    outputs = L.Dense(4, activation="softmax", name="fc")(L.GlobalAveragePooling2D(name="pool")(x))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x, data.labels, epochs=40, batch_size=16, verbose=0)
    kernel, bias = model.get_layer("mix").get_weights()
    kernel[..., 0] *= 3000.0
    bias[0] *= 3000.0
    model.get_layer("mix").set_weights([kernel, bias])
    kernel, bias = model.get_layer("after").get_weights()
    kernel[:, :, 0, :] /= 3000.0
    model.get_layer("after").set_weights([kernel, bias])
    path = str(tmp_path / "outlier.keras")
    model.save(path)
    write_meta(path, {"preprocessing": pp.to_dict(), "labels": folder.classes})

    plain = convert(path, str(tmp_path / "plain"), shapes, recipes="int8", formats="tflite,onnx", calib_samples=16,
                    max_drop=5.0)
    assert [a.verification.passed for a in plain.artifacts] == [False, False], plain.artifacts  # it really breaks
    fixed = convert(path, str(tmp_path / "fixed"), shapes, recipes="int8", formats="tflite,onnx", calib_samples=16,
                    max_drop=5.0, auto_fallback=True)
    assert not fixed.failed, [a.verification for a in fixed.artifacts]
    tflite, onnx = fixed.artifacts
    assert "mix" in tflite.float_layers and len(tflite.float_layers) <= 4
    # ONNX names its nodes after the Keras layers (tf2onnx); the ones kept float are named with why
    assert any("mix" in n for n in onnx.float_layers) and len(onnx.float_layers) <= 8, onnx.float_layers
    kept = [f for f in onnx.kernels["float_compute"] if f["reason"] == "kept in float by --auto-fallback"]
    assert kept and all(f["reason"] == "kept in float by --auto-fallback" for f in onnx.kernels["float_compute"])
    manifest = json.loads(open(fixed.manifest_path).read())
    assert [e["float_layers"] for e in manifest["artifacts"]] == [tflite.float_layers, onnx.float_layers]
    # 4 of the 7 layers TFLite quantizes are kept in float: said, as int8 then buys little; ONNX's 5 nodes are few
    assert [n.split(":")[0] for n in fixed.notes if "--auto-fallback kept" in n] == ["outlier_int8.tflite"]
    assert "kept 4 of 7 quantized layers" in " ".join(fixed.notes)
    # --io-dtype uint8: the fallback's file has float input and output; it was dropped without a word
    camera = convert(path, str(tmp_path / "camera"), shapes, recipes="int8", formats="tflite", calib_samples=16,
                     max_drop=5.0, auto_fallback=True, io_dtype="uint8")
    assert camera.manifest["artifacts"][0]["options"]["io_dtype"] == "float32"
    assert any(n.startswith("outlier_int8.tflite: its input and output are float32, not uint8 as --io-dtype asked")
               for n in camera.notes), camera.notes


def test_cosine_of_a_dead_output_is_no_match():
    """An int8 output stuck at its lowest code dequantizes to zeros: that is nothing like the float output, not a
    perfect match; two zero outputs do agree."""
    from edgebb.conversion.verify import compare

    reference = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]], np.float32)
    dead = compare(reference, np.zeros_like(reference), None, 1.0)
    assert dead.cosine == 0.0
    assert compare(np.zeros_like(reference), np.zeros_like(reference), None, 1.0).cosine == 1.0
    half = compare(reference, np.stack([reference[0], np.zeros(3, np.float32)]), None, 1.0)
    assert half.cosine == pytest.approx(0.5)


def test_shares_are_counted_and_a_drop_of_one_image_says_so():
    """51 of 80 agreeing read "63.7%" (100 * mean() is 63.74999...) beside a table's 63.75; and a drop of one image
    failed --max-drop 1 with no word that one of 80 images is 1.25 points (a sweep's table shows only the reason)."""
    from edgebb.conversion.verify import Budget, compare

    labels = np.arange(80) % 2
    reference = np.eye(2, dtype=np.float32)[labels]  # the float model: all 80 right
    got = reference.copy()
    got[:29] = got[:29, ::-1]  # 29 answers flipped: 51 of 80 agree
    check = compare(reference, got, labels, Budget(max_drop=1.0, min_agreement=90.0))
    assert check.top1_agreement == 63.75 and check.drop == 36.25
    assert check.failed_because == ("lost 36.25 points > 1 (one of its 80 images is 1.25 points); "
                                    "top-1 agreement 63.8% < 90%"), check.failed_because
    check = compare(reference, got, labels, Budget(max_drop=40.0, min_agreement=0.0))
    assert check.passed and check.failed_because is None


def test_an_int8_output_that_rounds_to_zero_reads_as_no_match(tmp_path):
    """A new user's random SqueezeNet: its 1000-way softmax is near-uniform (~0.001 each), below the int8 output's
    step of 1/256, so the int8 file outputs 0 everywhere: it read 'cosine 1.00000'."""
    result = convert("squeezenet_1_1", str(tmp_path / "out"), recipes="int8", formats="tflite", size=SIZE,
                     calib_samples=8, eval_samples=8)
    (artifact,) = result.artifacts
    assert artifact.verification.cosine == 0.0
    assert any("every output is 0 on every evaluation image" in n for n in result.notes)


@pytest.fixture(scope="module")
def constant_model(tmp_path_factory, shapes):
    """A SqueezeNet 1.1 whose output is the same for every image, as one that did not learn (a too-high learning
    rate; loss stuck at ln(classes)): its last fire module's squeeze units never fire (dead ReLUs), so every tensor
    after them is 0 on every calibration image."""
    from edgebb.build.meta import write_meta
    from edgebb.data import scan_folder
    from edgebb.models import create_model, preprocessing_for

    classes = scan_folder(shapes).classes
    model = create_model("squeezenet_1_1", width=1.0, input_size=SIZE, num_classes=len(classes))
    squeeze = model.get_layer("fire9_squeeze_conv")
    kernel, bias = squeeze.get_weights()
    squeeze.set_weights([kernel, np.full_like(bias, -1000.0)])
    path = str(tmp_path_factory.mktemp("constant") / "constant.keras")
    model.save(path)
    write_meta(path, {"backbone": {"name": "squeezenet_1_1", "width": 1.0},
                      "preprocessing": preprocessing_for("squeezenet_1_1", SIZE).to_dict(), "labels": classes})
    return path


def test_int8_tflite_of_a_model_with_a_constant_output_loads_in_xnnpack(tmp_path, shapes, constant_model):
    """Tensors calibrated to a range of 0 made XNNPACK refuse the whole int8 file ("failed to create XNNPACK
    runtime"), and the command exit 2 leaving labels.txt alone: they get the model's typical range instead."""
    from edgebb.runtimes import load_artifact

    out = tmp_path / "out"
    result = edgebb("convert", constant_model, "-o", str(out), "--data", shapes, "--recipe", "int8",
                    "-f", "tflite,onnx", "--calib-samples", "8", "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(a["path"] for a in manifest["artifacts"]) == ["constant_int8.onnx", "constant_int8.tflite"]
    tflite = next(a for a in manifest["artifacts"] if a["format"] == "tflite")
    assert any("fire9_squeeze_relu" in name for name in tflite["options"]["zero_ranges_widened"])
    assert tflite["verification"]["top1_agreement"] == 100.0 and tflite["verification"]["max_abs_error"] < 0.01
    with load_artifact(str(out / "constant_int8.tflite"), runtime="litert") as session:  # XNNPACK on
        got = session.run(np.zeros((1, SIZE, SIZE, 3), np.float32))
    assert np.allclose(got, 1.0 / len(manifest["labels"]), atol=0.01)


def test_an_artifact_its_runtime_cannot_load_is_left_out_and_named(tmp_path, shapes, constant_model, monkeypatch,
                                                                   capsys):
    """Where LiteRT still cannot load an int8 file, that one artifact is not written and one line says why (not a
    temporary path, and LiteRT's two reports apart); the ONNX artifact is kept and listed, labels.txt only with a
    manifest, and the command exits 1."""
    import edgebb.conversion.exporters.tflite_ranges as ranges
    from edgebb.cli import main
    from edgebb.core.errors import CheckFailed

    monkeypatch.setattr(ranges, "widen_dead_ranges", lambda calibrated: (calibrated, []))  # the old ranges
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["convert", constant_model, "-o", str(out), "--data", shapes, "--recipe", "int8", "-f", "tflite,onnx",
              "--calib-samples", "8", "--quiet"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 1, error
    assert "constant_int8.tflite was not written: the model's output is the same for every evaluation image" in error
    assert "failed to create XNNPACK runtime; Node number" in error and "edgebb-verify" not in error
    assert sorted(os.listdir(out)) == ["constant_int8.onnx", "labels.txt", "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["path"] for a in manifest["artifacts"]] == ["constant_int8.onnx"]
    assert any("constant_int8.tflite was not written" in n for n in manifest["notes"])
    alone = tmp_path / "alone"
    with pytest.raises(CheckFailed, match="nothing was written"):
        convert(constant_model, str(alone), shapes, recipes="int8", formats="tflite", calib_samples=8)
    assert not alone.exists() or not os.listdir(alone)  # no labels.txt without a manifest


def test_a_budget_finer_than_one_held_out_image_is_said():
    """With 45 held-out images one image is 2.22 points: --max-drop 1 fails any int8 artifact that changes one
    answer, and 5 of 8 int8 cells of a new user's sweep failed so with no word why. Convert says so, naming the
    figure; not when the budget can tell one image apart, nor when nothing is judged."""
    from types import SimpleNamespace

    import numpy as np

    from edgebb.conversion.options import ConvertOptions
    from edgebb.conversion.pipeline import _resolution_note

    ev = SimpleNamespace(eval_labels=np.zeros(45, np.int64))
    (note,) = _resolution_note(ev, ConvertOptions(), moot=False)
    assert note.startswith("one of the 45 held-out images is 2.22 points of top-1, more than --max-drop 1:"), note
    assert note.endswith("give --max-drop 2.22 or more"), note
    assert _resolution_note(ev, ConvertOptions(max_drop=2.5), moot=False) == []
    assert _resolution_note(ev, ConvertOptions(), moot=True) == []
    assert _resolution_note(SimpleNamespace(eval_labels=np.zeros(200, np.int64)), ConvertOptions(), moot=False) == []
    assert _resolution_note(SimpleNamespace(eval_labels=None), ConvertOptions(), moot=False) == []
