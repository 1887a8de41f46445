"""edgebb.runtimes on real artifacts: a small MobileNetV2 exported to fp32 and int8 TFLite and to ONNX, checked
against the Keras model it came from; plus the failure modes a user meets (unknown names, corrupt files, a
runtime that is not installed) and the promise that importing the module imports no runtime library."""

import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

from edgebb import InputError, runtimes
from edgebb.conversion.exporters.tflite import keras_converter
from edgebb.models import create_model
from edgebb.runtimes import RuntimeUnavailable, TensorInfo, available, get_runtime, load_artifact, runtime_for

SIZE = 32
CLASSES = 5


def _give_weights(model, seed=0):
    """A freshly built backbone at 32x32 computes a constant: the signal dies in BatchNorm layers whose moving
    statistics were never fitted. Random gammas and betas, with the moving statistics set from one batch, make
    the output depend on the input, so the comparisons below mean something."""
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    for layer in norms:
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                           rng.normal(0, 0.3, beta.shape).astype("float32"), mean, var])
        layer.momentum = 0.0  # one training-mode call then sets the moving statistics to that batch's
    model(rng.uniform(-1, 1, size=(16, SIZE, SIZE, 3)).astype("float32"), training=True)
    for layer in norms:
        layer.momentum = 0.99
    return model


def _batch(n, seed):
    """n normalized images in [-1, 1] (MobileNetV2's range). Each gets its own colour cast on top of the noise:
    pure noise averages out in global pooling and every image would get the same prediction."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 0.5, size=(n, SIZE, SIZE, 3)) + rng.uniform(-0.5, 0.5, size=(n, 1, 1, 3))
    return x.astype("float32")


def _tflite_int8(tf, model, io_type):
    """Full-integer conversion; `io_type` tf.int8 gives int8 inputs and outputs, tf.float32 keeps float ones
    (the converter then puts Quantize/Dequantize ops inside the model)."""
    converter = keras_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([_batch(1, seed)] for seed in range(100, 132))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = io_type
    converter.inference_output_type = io_type
    with warnings.catch_warnings():
        # TensorFlow's converter warns about "statistics for quantized inputs" even though the representative
        # dataset supplies them.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return converter.convert()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The Keras model and its exports, built once for the module: {"model", "keras", "fp32", "int8", "onnx"}."""
    from edgebb.core.tf import load_tensorflow

    tf = load_tensorflow()
    import tf2onnx

    folder = tmp_path_factory.mktemp("artifacts")
    tf.keras.utils.set_random_seed(0)  # the same kernels every run: the GPU's float16 check is then not a coin toss
    model = _give_weights(create_model("mobilenet_v2", width=0.35, input_size=SIZE, num_classes=CLASSES))
    paths = {name: str(folder / f"model_{name}{suffix}") for name, suffix in
             (("keras", ".keras"), ("fp32", ".tflite"), ("int8", ".tflite"), ("onnx", ".onnx"))}
    model.save(paths["keras"])

    converter = keras_converter(model)
    with open(paths["fp32"], "wb") as f:
        f.write(converter.convert())

    with open(paths["int8"], "wb") as f:
        f.write(_tflite_int8(tf, model, tf.int8))

    tf2onnx.convert.from_keras(model, input_signature=(tf.TensorSpec((1, SIZE, SIZE, 3), tf.float32, name="input"),),
                               opset=17, output_path=paths["onnx"])
    return {"model": model, **paths}


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory):
    """A three-layer CNN, int8 inside with int8 and with float32 inputs and outputs: {"model", "int8", "float_io"}.

    A random MobileNetV2 is too deep to quantize well (its int8 softmax is off by up to 0.4 on the random inputs
    here); this one quantizes within 0.01, so it can show that `run` feeds and reads integer tensors right."""
    from edgebb.core.tf import load_tensorflow

    tf = load_tensorflow()
    import tf_keras as keras

    layers = keras.layers
    init = keras.initializers
    inputs = keras.Input((SIZE, SIZE, 3), name="input")
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu6",
                      kernel_initializer=init.GlorotUniform(1))(inputs)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu6", depthwise_initializer=init.GlorotUniform(2))(x)
    x = layers.Conv2D(32, 1, activation="relu6", kernel_initializer=init.GlorotUniform(3))(x)
    x = layers.GlobalAveragePooling2D()(x)
    # Large weights give confident, input-dependent probabilities instead of a near-uniform softmax.
    outputs = layers.Dense(CLASSES, activation="softmax", kernel_initializer=init.RandomNormal(0, 20, seed=4))(x)
    model = keras.Model(inputs, outputs)

    folder = tmp_path_factory.mktemp("tiny")
    paths = {"int8": str(folder / "tiny_int8.tflite"), "float_io": str(folder / "tiny_float_io.tflite")}
    for key, io_type in (("int8", tf.int8), ("float_io", tf.float32)):
        with open(paths[key], "wb") as f:
            f.write(_tflite_int8(tf, model, io_type))
    return {"model": model, **paths}


@pytest.fixture(scope="module")
def reference(artifacts):
    """Five inputs and the Keras model's outputs for them."""
    x = _batch(5, seed=1)
    y = artifacts["model"](x, training=False).numpy()
    assert y.std(axis=0).max() > 0.02, "the test model's output should depend on its input"
    return x, y


@pytest.mark.parametrize("kind, runtime", [("fp32", "litert"), ("onnx", "onnxruntime"), ("onnx", "openvino"),
                                           ("keras", "keras")])
def test_float_artifacts_match_keras(artifacts, reference, kind, runtime):
    x, expected = reference
    ok, reason = available(runtime)
    if not ok:
        pytest.skip(reason)
    with load_artifact(artifacts[kind], runtime=runtime, threads=2) as session:
        assert session.runtime == runtime
        (info,) = session.inputs
        assert info.dtype == "float32" and not info.quantized and info.scale is None
        assert info.shape[1:] == (SIZE, SIZE, 3)
        out = session.run(x)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-4)
    # Every runtime names the tensors as Keras does, so outputs can be matched by name.
    assert info.name == "input" and session.outputs[0].name == "predictions_softmax"


def test_int8_tflite_backbone(artifacts, reference):
    x, expected = reference
    with load_artifact(artifacts["int8"]) as session:
        (inp,), (out,) = session.inputs, session.outputs
        assert inp.dtype == "int8" and inp.quantized and inp.scale > 0 and -128 <= inp.zero_point <= 127
        assert out.dtype == "int8" and out.quantized
        assert inp.shape == (1, SIZE, SIZE, 3) and out.shape == (1, CLASSES)
        assert inp.to_dict() == {"name": inp.name, "shape": [1, SIZE, SIZE, 3], "dtype": "int8",
                                 "scale": inp.scale, "zero_point": inp.zero_point}

        probs = session.run(x)
        assert probs.dtype == np.float32 and probs.shape == expected.shape
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.05)

        raw = session.invoke_raw(runtimes.quantize(x[:1], inp))
        assert raw.dtype == np.int8 and raw.shape == (1, CLASSES)
        np.testing.assert_array_equal(runtimes.dequantize(raw, out), probs[:1])


def test_int8_tflite_matches_keras(tiny_int8):
    x = _batch(8, seed=2)
    expected = tiny_int8["model"](x, training=False).numpy()
    assert expected.std(axis=0).max() > 0.05
    with load_artifact(tiny_int8["int8"]) as session:
        probs = session.run(x)
        step = session.outputs[0].scale
    assert probs.dtype == np.float32 and probs.shape == expected.shape
    np.testing.assert_allclose(probs, expected, atol=0.1)
    assert (probs.argmax(axis=1) == expected.argmax(axis=1)).all()
    # The same int8 graph with float inputs and outputs quantizes inside the model: `run` must agree with it
    # to the output's quantization step, or it rounds, offsets or clips differently from TFLite.
    with load_artifact(tiny_int8["float_io"]) as session:
        assert session.inputs[0].dtype == "float32" and not session.inputs[0].quantized
        np.testing.assert_allclose(probs, session.run(x), atol=step * 1.01)


def test_multi_output_matches_keras_by_name(tmp_path):
    # TFLite orders a multi-output model's outputs its own way (a MobileNetV2 feature model comes out as strides
    # 4, 16, 8, 32) and names them "StatefulPartitionedCall:N"; the session names them as Keras does.
    from edgebb.core.tf import load_tensorflow

    load_tensorflow()
    import tf_keras as keras

    inputs = keras.Input((SIZE, SIZE, 3), name="input")
    x = keras.layers.Conv2D(4, 3, strides=2, kernel_initializer=keras.initializers.GlorotUniform(5))(inputs)
    outputs = [keras.layers.ReLU(name="zeta")(x), keras.layers.MaxPooling2D(name="alpha")(x),
               keras.layers.GlobalAveragePooling2D(name="mid")(x)]
    model = keras.Model(inputs, outputs)
    path = tmp_path / "multi.tflite"
    path.write_bytes(keras_converter(model).convert())
    x = _batch(3, seed=6)
    expected = dict(zip(model.output_names, (y.numpy() for y in model(x, training=False))))
    with load_artifact(path) as session:  # a pathlib.Path works as well as a string
        outputs = session.run(x)
        names = [o.name for o in session.outputs]
    assert isinstance(outputs, list) and sorted(names) == ["alpha", "mid", "zeta"]
    for name, out in zip(names, outputs):
        np.testing.assert_allclose(out, expected[name], atol=1e-5)


def test_quantize_rounds_and_clips():
    info = TensorInfo("x", (1, 3), "int8", scale=0.5, zero_point=-10)
    q = runtimes.quantize(np.array([[0.0, 1.26, 1000.0], [-1000.0, -0.74, 0.25]], np.float32), info)
    assert q.dtype == np.int8
    assert q.tolist() == [[-10, -7, 127], [-128, -11, -10]]
    assert runtimes.dequantize(q, info).tolist() == [[0.0, 1.5, 68.5], [-59.0, -0.5, 0.0]]
    assert TensorInfo("x", (1,), "uint8", scale=0.1, zero_point=0).quantized
    assert not TensorInfo("x", (1,), "uint8").quantized
    assert not TensorInfo("x", (1,), "float32", scale=0.1, zero_point=0).quantized


def test_onnx_session_details(artifacts):
    with load_artifact(artifacts["onnx"], provider="CPUExecutionProvider") as session:
        assert session.inputs == [TensorInfo("input", (1, SIZE, SIZE, 3), "float32")]
        assert session.provider == "CPUExecutionProvider" and session.providers == ["CPUExecutionProvider"]
        assert session.outputs[0].dtype == "float32" and session.outputs[0].shape == (1, CLASSES)
        raw = session.invoke_raw(_batch(1, seed=3))
        assert raw.shape == (1, CLASSES) and raw.dtype == np.float32


def test_keras_runtime_loads_custom_layers(tmp_path):
    # MobileNetV3 uses edgebb's HardSwish and HardSigmoid layers, which only edgebb.models.load_model knows.
    model = create_model("mobilenet_v3_small", width=0.75, input_size=SIZE, num_classes=CLASSES)
    path = str(tmp_path / "v3.keras")
    model.save(path)
    x = _batch(3, seed=4)
    with get_runtime("keras").load(path, threads=1) as session:  # TensorFlow is running: threads is ignored
        assert session.inputs[0].shape == (-1, SIZE, SIZE, 3)
        np.testing.assert_allclose(session.run(x), model(x, training=False).numpy(), atol=1e-6)


def test_session_rejects_bad_input_and_use_after_close(artifacts):
    session = load_artifact(artifacts["fp32"], runtime="litert", xnnpack=False)
    with pytest.raises(InputError, match="does not fit"):
        session.run(np.zeros((2, SIZE + 1, SIZE, 3), np.float32))
    with pytest.raises(InputError, match="does not fit"):
        session.run(np.zeros((0, SIZE, SIZE, 3), np.float32))
    session.close()
    session.close()
    with pytest.raises(RuntimeError, match="closed"):
        session.run(_batch(1, seed=5))


@pytest.mark.parametrize("name", list(runtimes.RUNTIMES))
def test_every_registered_runtime_runs_or_says_why_not(name, artifacts, reference):
    """Derived from the registry: a runtime added later is covered without anyone adding a test."""
    runtime = runtimes.RUNTIMES[name]
    ok, reason = available(name)
    if not ok:
        assert reason and "\n" not in reason
        pytest.skip(reason)
    path = {"tflite": artifacts["fp32"], "onnx": artifacts["onnx"], "keras": artifacts["keras"]}[runtime.format]
    x, expected = reference
    with runtime.load(path, threads=1) as session:
        out = session.run(x)
    if runtime.target != "gpu":
        np.testing.assert_allclose(out, expected, atol=1e-4)
        return
    # A GPU computes in float16 through a deep random-weight network: CI saw one probability 0.086 off (0.611 vs
    # 0.525) with the class order intact. Hold the ranking wherever the float model's choice is clear, and a bound
    # that still catches a wrong graph (a shuffled or uniform output is off by far more).
    np.testing.assert_allclose(out, expected, atol=0.15)
    ranked = np.sort(expected, axis=1)
    clear = ranked[:, -1] - ranked[:, -2] > 0.1
    assert clear.any()
    np.testing.assert_array_equal(out.argmax(axis=1)[clear], expected.argmax(axis=1)[clear])


def test_names_and_suffixes():
    with pytest.raises(InputError, match="litert"):
        get_runtime("litrt")
    with pytest.raises(InputError, match="x.pb"):
        runtime_for("x.pb")
    assert runtime_for("a/b.tflite").name == "litert"
    assert runtime_for("b.ONNX").name == "onnxruntime"
    assert runtime_for("b.keras").name == runtime_for("b.h5").name == "keras"
    assert set(runtimes.RUNTIMES) >= {"litert", "tflite-runtime", "onnxruntime", "keras"}
    with pytest.raises(InputError, match="runtime"):
        available("nope")


def test_bad_options(artifacts):
    with pytest.raises(InputError, match="xnnpack"):
        load_artifact(artifacts["fp32"], xnnpak=True)
    with pytest.raises(InputError, match="no options"):
        load_artifact(artifacts["keras"], provider="CPUExecutionProvider")
    with pytest.raises(InputError, match="threads"):
        load_artifact(artifacts["fp32"], threads=0)
    with pytest.raises(InputError, match="loads .onnx"):
        load_artifact(artifacts["fp32"], runtime="onnxruntime")


def test_openvino_computes_in_f32_unless_told(artifacts):
    """OpenVINO's CPU plugin defaults to bf16 where the CPU has AVX512_BF16 or AMX (it moved a float model's outputs
    by 0.18 on such an EPYC); edgebb asks for f32, so its fp32 rows are fp32 on every machine."""
    ok, reason = available("openvino")
    if not ok:
        pytest.skip(reason)
    with load_artifact(artifacts["onnx"], runtime="openvino") as session:
        assert session._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "f32"
    with pytest.raises(InputError, match="precision must be one of f32, bf16, f16"):
        load_artifact(artifacts["onnx"], runtime="openvino", precision="f64")


def test_unknown_onnx_provider(artifacts):
    import onnxruntime

    with pytest.raises(InputError) as err:
        load_artifact(artifacts["onnx"], provider="NoSuchExecutionProvider")
    assert "NoSuchExecutionProvider" in str(err.value)
    for provider in onnxruntime.get_available_providers():
        assert provider in str(err.value)


def test_tflite_runtime_missing(artifacts):
    ok, reason = available("tflite-runtime")
    if ok:
        pytest.skip("tflite-runtime is importable here")
    assert "tflite-runtime" in reason and "\n" not in reason
    with pytest.raises(RuntimeUnavailable, match="tflite-runtime"):
        load_artifact(artifacts["fp32"], runtime="tflite-runtime")


def test_runtime_that_fails_to_import(tmp_path, monkeypatch):
    # What tflite-runtime wheels built against numpy 1 do under numpy 2: the package is there, the import fails.
    package = tmp_path / "tflite_runtime"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "interpreter.py").write_text(
        "import sys\nsys.stderr.write('A module that was compiled using NumPy 1.x cannot be run in NumPy 2\\n')\n"
        "raise ImportError('numpy.core.multiarray failed to import\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(runtimes.base, "IMPORT_FAILURES", {})
    try:
        ok, reason = available("tflite-runtime")
    finally:
        sys.modules.pop("tflite_runtime", None)
        sys.modules.pop("tflite_runtime.interpreter", None)
    assert not ok
    assert reason == (f"tflite-runtime fails to import under numpy {np.__version__}: "
                      "numpy.core.multiarray failed to import")


def test_interrupt_while_a_runtime_imports_is_an_interrupt(tmp_path, monkeypatch):
    # Ctrl-C or SIGTERM inside an extension module's initialisation comes out as ImportError("initialization
    # failed") caused by the interrupt (CI saw a SIGTERM land in onnxruntime's import): it must stay an interrupt,
    # and the runtime must not be remembered as broken.
    (tmp_path / "slow_runtime.py").write_text(
        "try:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt as exc:\n"
        "    raise ImportError('initialization failed') from exc\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(runtimes.base, "IMPORT_FAILURES", {})
    try:
        with pytest.raises(KeyboardInterrupt):
            runtimes.base.import_module("slow_runtime", "slow-runtime")
    finally:
        sys.modules.pop("slow_runtime", None)
    assert runtimes.base.IMPORT_FAILURES == {}


@pytest.mark.parametrize("name", ["random.tflite", "random.onnx", "random.keras", "truncated.tflite",
                                  "truncated.onnx", "onnx_inside.tflite", "empty.tflite", "empty.onnx"])
def test_corrupt_files_give_one_line(artifacts, tmp_path, name):
    path = tmp_path / name
    kind = name.split(".")[0]
    if kind == "random":
        path.write_bytes(np.random.default_rng(6).bytes(4096))
    elif kind == "truncated":
        real = pathlib.Path(artifacts["fp32" if name.endswith(".tflite") else "onnx"]).read_bytes()
        path.write_bytes(real[: len(real) // 2])
    elif kind == "onnx_inside":
        path.write_bytes(pathlib.Path(artifacts["onnx"]).read_bytes())
    else:
        path.write_bytes(b"")
    with pytest.raises(InputError) as err:
        load_artifact(str(path))
    message = str(err.value)
    assert str(path) in message and "\n" not in message


def test_missing_file():
    with pytest.raises(InputError, match="artifact not found: nowhere/model.tflite"):
        load_artifact("nowhere/model.tflite")


def test_versions():
    found = runtimes.versions()
    assert set(found) <= {"ai-edge-litert", "tflite-runtime", "onnxruntime", "openvino", "tensorflow", "tf_keras"}
    assert all(isinstance(v, str) and v for v in found.values())


def test_import_loads_no_runtime_library():
    code = ("import sys; import edgebb.runtimes as r; r.versions(); r.runtime_for('m.tflite'); "
            "r.available('tflite-runtime'); r.available('keras'); "
            "print(sorted(m for m in ('tensorflow', 'onnxruntime', 'ai_edge_litert', 'tf_keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
