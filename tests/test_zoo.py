"""Every registered backbone and width, derived from the registry: builds, runs, names its layers stably, returns
feature maps at the declared strides, and uses only layers the converters and QAT accept."""

import math

import numpy as np
import pytest

from edgebb.models import create_model, get_spec, list_models, load_model, variants

SIZE = 64  # small input keeps the whole zoo fast; full-size checks are in test_reference.py

# Layers the TFLite converter, tf2onnx and tensorflow-model-optimization's 8-bit registry accept, plus edgebb's
# own layers (which get QuantizeConfigs of ours). Lambda, TFOpLambda and preprocessing layers are not here.
# LeakyReLU (DarkNet-19) and AveragePooling2D (Inception-ResNet-v2's Inception-A pool branch) are Keras layers
# all three take as they are (TFLite LEAKY_RELU / AVERAGE_POOL_2D, ONNX LeakyRelu / AveragePool, and both are in
# tfmot's default 8-bit registry); ScaledAdd is edgebb's layer for Inception-ResNet's scaled residual sum.
ACCEPTED = {
    "InputLayer", "Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization", "ReLU", "Activation", "Add",
    "Multiply", "Concatenate", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling2D", "ZeroPadding2D",
    "Reshape", "Permute", "Flatten", "Dropout", "HardSwish", "HardSigmoid", "ChannelSplit",
    "LeakyReLU", "AveragePooling2D", "ScaledAdd",
}
# Families whose strided convolutions and pools are unpadded, so feature maps fall a little short of size / stride.
VALID_PADDED = {"squeezenet", "inception_resnet"}


def small_size(name, size=SIZE):
    """The smallest input size at least `size` that backbone `name` accepts (Inception-ResNet-v2 needs 75)."""
    spec = get_spec(name)
    size = max(size, spec.min_size)
    return size + (-size) % spec.size_multiple


@pytest.mark.parametrize("name, width", variants(), ids=[f"{n}-{w:g}" for n, w in variants()])
def test_builds_and_runs(name, width):
    size = small_size(name)
    model = create_model(name, width=width, input_size=size, num_classes=7)
    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    y = model(x, training=False).numpy()
    assert y.shape == (2, 7)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    assert {type(layer).__name__ for layer in model.layers} <= ACCEPTED


@pytest.mark.parametrize("name", list_models())
def test_feature_maps_at_declared_strides(name):
    spec = get_spec(name)
    size = 128
    model = create_model(name, input_size=size, features=True)
    assert len(model.outputs) == len(spec.feature_strides)
    for out, stride in zip(model.outputs, spec.feature_strides):
        h, w = out.shape[1:3]
        assert h == w
        if spec.family in VALID_PADDED:  # unpadded convs and pools: a few pixels under size / stride
            # (Inception-ResNet-v2's stride-4 map loses 15 input pixels, 3.75 strides: test_classic.py checks its
            # exact sizes)
            assert size // stride - 4 <= h <= math.ceil(size / stride)
        else:
            assert h == math.ceil(size / stride)
    channels = [o.shape[-1] for o in model.outputs]
    assert channels == sorted(channels) or spec.family == "squeezenet"


@pytest.mark.parametrize("name", list_models())
def test_layer_names_are_deterministic(name):
    first = [layer.name for layer in create_model(name, input_size=small_size(name)).layers]
    second = [layer.name for layer in create_model(name, input_size=small_size(name)).layers]
    assert first == second
    assert len(set(first)) == len(first)
    assert not any(n.startswith(("tf.", "lambda", "conv2d", "batch_normalization")) for n in first)


@pytest.mark.parametrize("name, pooling, rank", [("mobilenet_v2", None, 4), ("shufflenet_v2", "avg", 2),
                                                 ("squeezenet_1_1", "max", 2)])
def test_headless(name, pooling, rank):
    model = create_model(name, input_size=SIZE, include_top=False, pooling=pooling)
    assert len(model.output.shape) == rank


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2"])
def test_save_and_load_round_trip(tmp_path, name):
    """edgebb's own layers (hard-swish, channel split) serialise and load back with the same outputs."""
    model = create_model(name, width=get_spec(name).widths[0], input_size=SIZE, num_classes=5)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = load_model(str(path))
    x = np.random.default_rng(1).normal(size=(1, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_weights_file_round_trip(tmp_path):
    a = create_model("squeezenet_1_1", input_size=SIZE, num_classes=3)
    path = tmp_path / "w.weights.h5"
    a.save_weights(path)
    b = create_model("squeezenet_1_1", input_size=SIZE, num_classes=3, weights=str(path))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
