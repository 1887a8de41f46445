"""litert-gpu, LiteRT's CompiledModel with the GPU accelerator: parity with the CPU runtime (litert) on a small
MobileNetV2, the adapter labels a benchmark reports, and the one-line reasons it gives when it cannot run.

A machine without a GPU runs it on Mesa's lavapipe (software Vulkan, Mesa >= 25; .ci/gpu-setup.sh installs it);
where that is missing the GPU tests skip with the runtime's own reason. Lavapipe compiles each GPU kernel with LLVM
the first time it meets it, about 15 s for this model on 2 cores at each precision; Mesa keeps the result in its
shader cache (under $XDG_CACHE_HOME, the tests' own: see conftest.py), so later runs of this clone take about a
second.
"""

import os
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest

from edgebb import InputError
from edgebb.conversion.exporters.tflite import keras_converter
from edgebb.models import create_model
from edgebb.runtimes import (
    RuntimeUnavailable,
    VulkanDevice,
    _vulkan,
    available,
    base,
    litert_gpu,
    load_artifact,
    quantize,
)

SIZE = 64
CLASSES = 10
SAMPLES = 16

# Measured on lavapipe (Mesa 25.0.7) against litert's XNNPACK on these 16 inputs: 3.9e-6 in float32, where only
# the order of additions differs; 0.035 when the GPU may compute in float16 (LiteRT's default, as on a phone), since
# this random-weight network amplifies rounding (its own fp16-weight export moves the softmax by 0.34). The bounds
# leave room for other drivers' summation orders without letting a wrong kernel (errors of 0.1 and more) through.
FP32_ATOL = 1e-4
FP16_ATOL = 0.1


def _images(n, seed):
    """n normalized images in [-1, 1]: noise plus a per-image colour cast, so that global pooling does not average
    every image to the same prediction."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 0.5, size=(n, SIZE, SIZE, 3)) + rng.uniform(-0.5, 0.5, size=(n, 1, 1, 3))
    return x.astype("float32")


def _expect_software() -> bool:
    """Whether the adapter must be a software one here: every Vulkan device Dawn accepts is a CPU implementation."""
    devices, _ = _vulkan.vulkan_devices()
    return all(d.software for d in devices if not d.missing)


@pytest.fixture(scope="module")
def gpu():
    ok, reason = available("litert-gpu")
    if not ok:
        pytest.skip(f"litert-gpu is unavailable: {reason}")


@pytest.fixture(scope="module")
def mobilenet(gpu, tmp_path_factory):
    """A MobileNetV2 (width 0.35, 64x64, 10 classes) as fp32 .tflite, test inputs, and litert's outputs for them."""
    from edgebb.core.tf import load_tensorflow
    from edgebb.models.weights import reestimate_batchnorm

    tf = load_tensorflow()
    # The same weights each run: unseeded, how many of the 16 top-two gaps clear float16's error was a coin toss
    # (6 to 11 in six draws; CI once drew 6 and failed the guard in test_default_precision_is_close).
    tf.keras.utils.set_random_seed(0)
    model = create_model("mobilenet_v2", width=0.35, input_size=SIZE, num_classes=CLASSES)
    reestimate_batchnorm(model, np.random.default_rng(0).uniform(-1, 1, (16, SIZE, SIZE, 3)).astype("float32"))
    path = tmp_path_factory.mktemp("gpu") / "mnv2_fp32.tflite"
    path.write_bytes(keras_converter(model).convert())
    x = _images(SAMPLES, seed=1)
    with load_artifact(path, runtime="litert") as cpu:
        expected = cpu.run(x)
    assert expected.std(axis=0).max() > 0.02, "the test model's output should depend on its input"
    assert len(set(expected.argmax(axis=1))) > 1, "the inputs should not all get the same class"
    return {"path": str(path), "x": x, "expected": expected}


@pytest.fixture(scope="module")
def fp32_session(mobilenet):
    with load_artifact(mobilenet["path"], runtime="litert-gpu", threads=2, enforce_f32=True) as session:
        yield session


def test_float32_gpu_matches_cpu(mobilenet, fp32_session):
    session = fp32_session
    out = session.run(mobilenet["x"])
    expected = mobilenet["expected"]
    assert out.dtype == np.float32 and out.shape == expected.shape
    error = float(np.abs(out - expected).max())
    assert error < FP32_ATOL, f"max abs error {error:.2e} against litert"
    assert (out.argmax(axis=1) == expected.argmax(axis=1)).all()
    (info,), (out_info,) = session.inputs, session.outputs
    assert info.name == "input" and info.shape == (1, SIZE, SIZE, 3) and info.dtype == "float32"
    assert out_info.name == "predictions_softmax" and out_info.shape == (1, CLASSES)


def test_session_labels_the_adapter(fp32_session):
    session = fp32_session
    assert session.runtime == "litert-gpu" and session.enforce_f32 is True
    assert session.fully_accelerated is True, "every MobileNetV2 op has a GPU kernel"
    assert session.adapter and session.adapter_info["name"] == session.adapter
    assert session.unknown == {}
    if _expect_software():  # a machine without a GPU: lavapipe
        assert session.software is True
        assert "llvmpipe" in session.adapter or "lavapipe" in session.adapter.lower()
    else:
        assert session.software is False


def test_invoke_raw_returns_finished_outputs(mobilenet, fp32_session):
    # GPU runs are asynchronous: a read that did not wait would return the previous run's result (or nothing).
    # Alternating inputs shows each call returns its own input's finished output.
    x, expected = mobilenet["x"], mobilenet["expected"]
    differ = int(np.argmax(np.abs(expected - expected[0]).max(axis=1)))  # the input least like input 0
    for i in (0, differ, 0, differ):
        raw = fp32_session.invoke_raw(x[i:i + 1])
        assert isinstance(raw, np.ndarray) and raw.dtype == np.float32 and raw.shape == (1, CLASSES)
        np.testing.assert_allclose(raw[0], expected[i], atol=FP32_ATOL)
    with pytest.raises(InputError, match="takes one float32 input"):
        fp32_session.invoke_raw(x[:1, : SIZE // 2])  # a TensorBuffer would take the smaller array silently
    with pytest.raises(InputError, match="takes one float32 input"):
        fp32_session.invoke_raw(x[:1].astype(np.float64))


def test_default_precision_is_close(mobilenet):
    with load_artifact(mobilenet["path"], runtime="litert-gpu") as session:
        assert session.enforce_f32 is False
        out = session.run(mobilenet["x"])
    expected = mobilenet["expected"]
    error = float(np.abs(out - expected).max())
    assert error < FP16_ATOL, f"max abs error {error:.3f} against litert"
    # float16 may swap near-ties; where the top two classes are further apart than the error, it must not.
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * error
    assert clear.sum() >= SAMPLES // 4, "too few inputs with a clear winner: the argmax check would say little"
    assert (out.argmax(axis=1) == expected.argmax(axis=1))[clear].all()


def test_int8_model_quantizes_its_io(gpu, tmp_path):
    """An int8-in, int8-out model: `run` quantizes and dequantizes as on the CPU; the GPU computes it in float, so
    it agrees with litert's integer kernels to a few output steps, not to the bit."""
    from edgebb.core.tf import load_tensorflow

    tf = load_tensorflow()
    import tf_keras as keras

    init = keras.initializers
    inputs = keras.Input((16, 16, 3), name="input")
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6",
                            kernel_initializer=init.GlorotUniform(1))(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(4, activation="softmax", kernel_initializer=init.RandomNormal(0, 5, seed=2))(h)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(3)
    x = (rng.uniform(-0.5, 0.5, (8, 16, 16, 3)) + rng.uniform(-0.5, 0.5, (8, 1, 1, 3))).astype("float32")
    converter = keras_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path / "tiny_int8.tflite"
    with warnings.catch_warnings():
        # The converter asks for "statistics for quantized inputs" although the representative dataset gives them.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        path.write_bytes(converter.convert())

    with load_artifact(path, runtime="litert") as cpu, load_artifact(path, runtime="litert-gpu") as gpu_session:
        (info,), (out_info,) = gpu_session.inputs, gpu_session.outputs
        assert info == cpu.inputs[0] and out_info == cpu.outputs[0]
        assert info.dtype == "int8" and info.quantized and out_info.quantized
        expected, out = cpu.run(x), gpu_session.run(x)
        raw = gpu_session.invoke_raw(quantize(x[:1], info))
    assert out.dtype == np.float32 and raw.dtype == np.int8
    np.testing.assert_allclose(out, expected, atol=4 * out_info.scale)


def test_gpu_after_tensorflow_in_a_fresh_process(mobilenet, tmp_path):
    # TensorFlow exports the LLVM it embeds to the whole process; lavapipe, opened after it the usual way, binds its
    # own LLVM calls there and LiteRT's first vkCreateDevice crashes. The runtime opens lavapipe bound to its own.
    np.save(tmp_path / "x.npy", mobilenet["x"][:2])
    code = ("import sys, numpy as np\n"
            "from edgebb.core.tf import load_tensorflow\n"
            "load_tensorflow()\n"
            "from edgebb.runtimes import load_artifact\n"
            "with load_artifact(sys.argv[1], runtime='litert-gpu', enforce_f32=True) as session:\n"
            "    np.save(sys.argv[2], session.run(np.load(sys.argv[3])))\n")
    out = tmp_path / "out.npy"
    done = subprocess.run([sys.executable, "-c", code, mobilenet["path"], str(out), str(tmp_path / "x.npy")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    np.testing.assert_allclose(np.load(out), mobilenet["expected"][:2], atol=FP32_ATOL)


def test_corrupt_file_is_one_line_input_error(gpu, mobilenet, tmp_path):
    # CompiledModel.from_file crashes the process on a truncated model; the runtime verifies the file first.
    path = tmp_path / "truncated.tflite"
    data = open(mobilenet["path"], "rb").read()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        load_artifact(path, runtime="litert-gpu")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="enforce_f32"):
        load_artifact(mobilenet["path"], runtime="litert-gpu", enforce_f32="yes")


# ---------------------------------------------------------------------------------------------------------------
# What needs no GPU: the reasons and labels, from the Vulkan device list and LiteRT's log as they are on a real
# machine (the texts below are what LiteRT 2.3.0 and Mesa 22/25 print).


@pytest.fixture
def litert_with_gpu_api(monkeypatch):
    """Skip unless ai-edge-litert has the GPU API on Linux; forget any GPU failure an earlier test recorded."""
    import sys

    if sys.platform != "linux":
        pytest.skip("the Vulkan checks are Linux's")
    try:
        base.import_module("ai_edge_litert.compiled_model", "ai-edge-litert")
    except RuntimeUnavailable as exc:
        pytest.skip(str(exc))
    monkeypatch.setattr(litert_gpu, "_GPU_FAILURE", [])


def test_unavailable_reason_is_one_line():
    ok, reason = available("litert-gpu")
    assert ok == (reason == "") and "\n" not in reason


def test_reason_names_what_dawn_needs(litert_with_gpu_api, monkeypatch):
    mesa22 = VulkanDevice(name="llvmpipe (LLVM 15.0.6, 256 bits)", kind="cpu", api_version="1.3.230",
                          driver="Mesa 22.3.6 (LLVM 15.0.6)",
                          missing=("shaderSampledImageArrayDynamicIndexing", "shaderStorageImageArrayDynamicIndexing"))
    monkeypatch.setattr(_vulkan, "vulkan_devices", lambda: ((mesa22,), ""))
    ok, reason = available("litert-gpu")
    assert not ok and "\n" not in reason
    assert "Mesa 22.3.6" in reason and "shaderSampledImageArrayDynamicIndexing" in reason and "Dawn" in reason

    reason = "no Vulkan driver: the Vulkan loader finds no ICD"
    monkeypatch.setattr(_vulkan, "vulkan_devices", lambda: ((), reason))
    assert available("litert-gpu") == (False, reason)


def test_dawn_refusal_in_litert_log():
    log = ("INFO: [delegate_webgpu.cc:342] Create WebGPU environment (use_low_power=0, enable_host_mapped_pointer=1)\n"
           "Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.\n"
           " - While initializing adapter (backend=BackendType::Vulkan)\n"
           "ERROR: [delegate_webgpu.cc:359] Failed to initialize WebGPU environment: INTERNAL: No adapters found\n")
    assert litert_gpu._gpu_environment_failure(log) == (
        "LiteRT's GPU accelerator found no usable WebGPU adapter: Vulkan shaderUniform*ArrayDynamicIndexing required.")
    no_loader = log.replace("Vulkan shaderUniform*ArrayDynamicIndexing required.",
                            "Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file")
    assert "libvulkan.so.1" in litert_gpu._gpu_environment_failure(no_loader)
    assert litert_gpu._gpu_environment_failure("INFO: [delegate_webgpu.cc:363] Created a WebGPU environment.") is None


def test_adapter_from_litert_log(monkeypatch):
    monkeypatch.setattr(_vulkan, "vulkan_devices", lambda: ((), "none"))
    log = ("Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16\n"
           "I0000 00:00:1795307960.246141   15183 environment.cc:532] Selected adapter: llvmpipe (LLVM 15.0.6, 256 "
           "bits), arch=software, vendor=mesa, backend=Vulkan, adapterType=CPU / Software\n")
    info = litert_gpu._adapter_info(log)
    assert info == {"name": "llvmpipe (LLVM 15.0.6, 256 bits)", "arch": "software", "vendor": "mesa",
                    "backend": "Vulkan", "type": "CPU / Software", "source": "litert"}
    assert litert_gpu._is_software(info)
    assert not litert_gpu._is_software({"name": "NVIDIA GeForce RTX 4090", "arch": "ada", "type": "Discrete GPU"})
    assert litert_gpu._is_software({"name": "SwiftShader Device (Subzero)", "type": "cpu"})


def test_xdg_runtime_dir_is_made_private(monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    _vulkan.ensure_xdg_runtime_dir()
    path = os.environ["XDG_RUNTIME_DIR"]
    assert os.path.isdir(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o700
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    _vulkan.ensure_xdg_runtime_dir()
    assert os.environ["XDG_RUNTIME_DIR"] == "/run/user/1000"
