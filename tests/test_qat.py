"""Quantization-aware training end to end: `edgebb train --qat`, then `convert --recipe int8-qat`, on a learnable
generated set. The accuracy QAT promises in Keras must be what the full-integer TFLite model delivers."""

import os
import re

import numpy as np
import pytest

from edgebb import InputError

SIZE = 64
CLASSES = 4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """MobileNetV3-Small (hard-swish and squeeze-excite, which need edgebb's QuantizeConfigs) trained on one
    generated set and QAT-fine-tuned, plus a second, disjoint set (another seed) for evaluation.

    Trained to about 99%: integer kernels round a few values differently from fake quantization, which moves
    logits by a few LSB, and a model left at 90% has enough near-ties for that to flip 1-2% of predictions. The
    carry-over claim is about a model worth deploying."""
    from edgebb.data.synth import generate
    from edgebb.training import train

    root = tmp_path_factory.mktemp("qat")
    generate(str(root / "train"), classes=CLASSES, per_class=400, size=SIZE, seed=0)
    generate(str(root / "eval"), classes=CLASSES, per_class=500, size=SIZE, seed=1)
    result = train("mobilenet_v3_small", str(root / "train"), str(root / "m.keras"), width=0.75, size=SIZE,
                   epochs=15, batch_size=32, weights=None, qat=True, qat_epochs=2)
    return root, result


def _accuracy(outputs, labels):
    return 100.0 * float(np.mean(outputs.argmax(axis=1) == labels))


def test_qat_accuracy_carries_over_to_int8_tflite_and_onnx(tmp_path, trained):
    from edgebb.conversion import convert
    from edgebb.data import load_images, scan_folder
    from edgebb.models import load_model
    from edgebb.runtimes import load_artifact
    from edgebb.training.qat import scope

    root, result = trained
    qat_path = str(root / "m_qat.h5")
    assert result.qat and os.path.exists(qat_path)
    converted = convert(qat_path, str(tmp_path / "out"), str(root / "eval"), recipes="int8-qat",
                        formats="tflite,onnx")
    artifact, onnx = converted.artifacts
    assert os.path.basename(artifact.path) == "m_int8-qat.tflite"
    assert artifact.inputs[0].dtype == "int8" and artifact.outputs[0].dtype == "int8"
    for figures in (artifact.qat, onnx.qat):
        assert figures["from"] == "quantization-aware model"
        assert abs(figures["keras_accuracy"] - figures["int8_accuracy"]) <= 0.5, figures
    # the ONNX one is integer kernels on this CPU too, its weights on the grid QAT trained them for
    assert os.path.basename(onnx.path) == "m_int8-qat.onnx" and onnx.kernels["float_compute"] == [], onnx.kernels
    assert "trained with fake quantization" in onnx.options["weights"], onnx.options

    # the same claim on all 2000 images of the disjoint set, measured here rather than read from the manifest
    pp = converted.source.preprocessing
    images = load_images(scan_folder(str(root / "eval")).items, pp)
    with scope():
        keras_model = load_model(qat_path)
    keras_accuracy = _accuracy(keras_model.predict(images.x, batch_size=64, verbose=0), images.labels)
    assert keras_accuracy > 90, f"QAT model did not learn: {keras_accuracy:.1f}%"
    for path in (artifact.path, onnx.path):
        with load_artifact(path) as session:
            int8_accuracy = _accuracy(session.run(images.x), images.labels)
        assert abs(keras_accuracy - int8_accuracy) <= 0.5, (path, keras_accuracy, int8_accuracy)


def test_convert_fine_tunes_a_float_model_for_int8_qat(tmp_path, trained):
    from edgebb.conversion import convert

    root, _ = trained
    lines = []
    converted = convert(str(root / "m.keras"), str(tmp_path / "out"), str(root / "eval"),
                        recipes="int8-qat", formats="tflite,onnx", qat_epochs=1, progress=lines.append)
    assert any("QAT epoch 1/1: loss " in ln for ln in lines), lines  # minutes of fine-tuning show progress
    by_format = {a.format: a for a in converted.artifacts}
    qat = by_format["tflite"]
    assert qat.qat["from"] == "fine-tuned here" and qat.qat["epochs"] == 1 and len(qat.qat["log"]) == 1
    # fine-tuned with the augmentations the float model trained with (every kind, once, whatever it had had: a
    # model trained with none lost accuracy to QAT on flips and crops it never saw)
    from edgebb.build.meta import read_meta

    assert qat.qat["augment"] == read_meta(str(root / "m.keras"))["edgebb_train"]["augment"], qat.qat
    assert any(re.search(r"QAT epoch 1/1: loss [0-9.]+, acc [0-9.]+%", ln) for ln in lines), lines  # as train says
    assert qat.qat["images"] == converted.data["fine_tuning_images"] == 1400  # the 70% not held out
    for artifact in converted.artifacts:  # ONNX: the fine-tuned weights taken into a copy of the float model
        assert abs(artifact.qat["keras_accuracy"] - artifact.qat["int8_accuracy"]) <= 0.5, artifact.qat
    manifest_entry = next(a for a in converted.manifest["artifacts"] if a["recipe"] == "int8-qat")
    assert manifest_entry["qat"]["int8_accuracy"] == qat.verification.accuracy


def test_int8_qat_plans_that_cannot_work_fail_before_any_work(tmp_path, trained):
    from edgebb.conversion import convert

    root, _ = trained
    out = tmp_path / "out"
    with pytest.raises(InputError, match="needs labelled images: give --data"):
        convert(str(root / "m.keras"), str(out), None, recipes="int8-qat")
    with pytest.raises(InputError, match="converts only with --recipe int8-qat; convert its float model for fp32"):
        convert(str(root / "m_qat.h5"), str(out), str(root / "eval"), recipes="fp32,int8-qat")
    with pytest.raises(InputError, match="--qat-epochs must be at least 1"):
        convert(str(root / "m.keras"), str(out), str(root / "eval"), recipes="int8-qat", qat_epochs=0)
    # a QAT model whose metadata names no backbone: no float architecture to take its weights into for ONNX
    import shutil

    from edgebb.build.meta import read_meta, write_meta

    bare = tmp_path / "bare_qat.h5"
    shutil.copy(root / "m_qat.h5", bare)
    write_meta(str(bare), {k: v for k, v in read_meta(str(bare)).items() if k != "backbone"})
    with pytest.raises(InputError, match="names no backbone"):
        convert(str(bare), str(out), str(root / "eval"), recipes="int8-qat", formats="onnx")
    assert not out.exists()


def test_bench_refuses_int8_qat_for_a_backbone_name(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "edgebb", "bench", "mobilenet_v2", "--recipe", "int8-qat"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "needs a trained model" in result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def small_qat():
    from edgebb.models import create_model
    from edgebb.training.qat import quantize_model

    model = create_model("mobilenet_v3_small", width=0.75, input_size=32, num_classes=4)
    return model, quantize_model(model)


def test_depthwise_kernels_get_one_scale_per_channel(small_qat):
    """The library's default gives a (kh, kw, C, 1) kernel one range in all; the converter quantizes per channel."""
    model, qat = small_qat
    for layer in model.layers:
        if type(layer).__name__ == "DepthwiseConv2D":
            (low,) = [v for v in qat.weights if v.name.startswith(f"quant_{layer.name}/depthwise_kernel_min")]
            assert low.shape == (layer.depthwise_kernel.shape[2],), (layer.name, low.shape)


def test_hard_sigmoid_quantizes_the_tensor_the_converter_makes(small_qat):
    _, qat = small_qat
    inner = [layer.layer for layer in qat.layers if type(getattr(layer, "layer", None)).__name__ == "HardSigmoidQAT"]
    assert inner and all(any("shifted_activation_min" in v.name for v in layer.weights) for layer in inner)


def test_swish_and_sigmoid_compute_what_the_int8_ops_compute():
    """The converter lowers swish to LOGISTIC + MUL, and an int8 LOGISTIC always outputs on a fixed 1/256 grid.
    Fed the very int8 tensor the TFLite model feeds them, the QAT model's swish and sigmoid (squeeze-excite's
    gate) layers must give what the int8 model gives. Unmodelled, the gate's rounding gave another output for
    8-28% of the input codes of each swish here, and left every sigmoid up to half a step off."""
    import tensorflow as tf
    import tf_keras as keras

    from edgebb.conversion.exporters.tflite import tflite_converter
    from edgebb.models.blocks import Norm, conv_bn, inverted_residual
    from edgebb.models.weights import reestimate_batchnorm
    from edgebb.training.qat import calibrate_ranges, quantize_model

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = conv_bn(inputs, 16, 3, stride=2, act="swish", name="stem", norm=Norm())
    x = inverted_residual(x, expanded=32, out=16, kernel=3, stride=1, act="swish", name="block", norm=Norm(), se=4,
                          se_inner="swish", se_gate="sigmoid")  # EfficientNet-B0's block, as its builder makes it
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    images = np.random.default_rng(0).uniform(-1, 1, (48, 16, 16, 3)).astype(np.float32)
    reestimate_batchnorm(model, images)  # activations of a trained network's size, not a random one's vanishing ones
    qat = quantize_model(model)
    calibrate_ranges(qat, [images[:24], images[24:]])
    interpreter = tf.lite.Interpreter(  # the reference kernels, whose every tensor can be read back
        model_content=tflite_converter(qat, "int8-qat", images[:8]).convert(), experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    checked = []
    for layer in model.layers:
        if not layer.name.endswith(("_swish", "_sigmoid")):
            continue
        ops = [op for op in interpreter._get_ops_details()
               if any(f"/quant_{layer.name}/" in tensors[i]["name"] for i in op["outputs"])]
        swish = layer.name.endswith("_swish")
        assert [op["op_name"] for op in ops] == (["LOGISTIC", "MUL"] if swish else ["LOGISTIC"]), layer.name
        given, made = tensors[ops[0]["inputs"][0]], tensors[ops[-1]["outputs"][0]]
        codes, steps = [], []
        for image in images[:16]:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
            interpreter.invoke()
            want = qat.get_layer(f"quant_{layer.name}")(_dequantized(interpreter, given), training=False).numpy()
            codes.append(interpreter.get_tensor(given["index"]).ravel())
            steps.append(np.abs(_dequantized(interpreter, made) - want).ravel() / made["quantization"][0])
        codes, steps = np.concatenate(codes), np.concatenate(steps)
        if swish:
            # elementwise, so one output per input code; the int8 MUL rounds twice (to an integer, then a
            # power-of-two shift), which moves a product within ~0.01 step of a tie: one code in ~200 here
            seen, differ = np.unique(codes), np.unique(codes[steps > 0.5])
            assert len(differ) <= 0.02 * len(seen), (layer.name, f"{len(differ)} of {len(seen)} input codes")
        else:
            assert steps.max() < 1e-3, (layer.name, steps.max())  # exactly the int8 model's values, on its grid
        checked.append(layer.name)
    assert len(checked) == 5, checked


def _dequantized(interpreter, tensor):
    scale, zero = tensor["quantization"]
    return (interpreter.get_tensor(tensor["index"]).astype(np.float32) - zero) * scale


def test_calibrated_ranges_replace_the_library_default_and_leave_batchnorm_alone(small_qat):
    from edgebb.training.qat.quantize import _is_activation_range, calibrate_ranges

    _, qat = small_qat
    ranges = {v.name: v for v in qat.non_trainable_weights if _is_activation_range(v.name)}
    statistics = [v.numpy().copy() for v in qat.non_trainable_weights if "moving_" in v.name]
    x = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype(np.float32)
    assert calibrate_ranges(qat, [x[:8], x[8:]]) == len(ranges) > 50
    hsig = [v for name, v in ranges.items() if "hsigmoid" in name and name.endswith("output_max:0")]
    assert hsig and all(0 < float(v.numpy()) <= 1.0 for v in hsig)  # a gate in [0, 1], not the library's [-6, 6]
    inputs = [v for name, v in ranges.items() if name.startswith("quantize_layer")]
    assert sorted(float(v.numpy()) for v in inputs) == pytest.approx([x.min(), x.max()])
    after = [v.numpy() for v in qat.non_trainable_weights if "moving_" in v.name]
    assert all(np.array_equal(a, b) for a, b in zip(statistics, after))


def test_int8_qat_is_byte_identical_for_the_same_seed(tmp_path):
    """Two `edgebb convert --recipe int8-qat --seed 3` at once, on the same images, write the same bytes: the
    fine-tuning inside (augmented batches, calibration, training) draws the same numbers in the same order however
    each run's threads are scheduled. Parallel augmentation made them differ."""
    import hashlib
    import json
    import subprocess
    import sys

    from edgebb.data.synth import generate

    generate(str(tmp_path / "data"), classes=4, per_class=16, size=32, seed=0)
    runs = [subprocess.Popen([sys.executable, "-m", "edgebb", "convert", "squeezenet_1_1", "--size", "32",
                              "--data", str(tmp_path / "data"), "--recipe", "int8-qat", "--seed", "3",
                              "--qat-epochs", "1", "--calib-samples", "8", "--json", "-o", str(tmp_path / run)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for run in ("a", "b")]
    digests = []
    for run, process in zip(("a", "b"), runs):
        out, err = process.communicate()
        assert process.returncode == 0, err[-2000:]
        (entry,) = json.loads(out)["artifacts"]
        assert entry["qat"]["from"] == "fine-tuned here" and len(entry["qat"]["log"]) == 1, entry["qat"]
        digests.append(hashlib.sha256((tmp_path / run / entry["path"]).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
