"""The zoo is proven against references: keras.applications (weight shapes, order and outputs), torchvision
(trainable parameter counts) and published MACs (shared/reference/backbones.json)."""

import contextlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tf_keras as keras

from edgebb.build.profile import profile_model
from edgebb.models import create_model, get_spec, list_models
from edgebb.models.registry import BuildConfig
from edgebb.models.weights import copy_weights, reestimate_batchnorm, reference_model, weighted_layers

KERAS_BACKED = [(n, w) for n in list_models() if get_spec(n).has_imagenet for w in get_spec(n).widths]
SIZE = 96


def _config(name, width, include_top):
    spec = get_spec(name)
    return spec, BuildConfig(name=name, width=width, input_size=SIZE, num_classes=1000, include_top=include_top,
                             pooling=None, features=False, params=dict(spec.params))


def _randomize(model, rng, x=None):
    """Random weights and BatchNorm statistics, so that a wrong wiring shows in the outputs.

    Kernels are He-scaled (a fixed spread grows 10x per layer of VGG and overflows ResNet-152 and
    Inception-ResNet-v2 to inf, which would make any comparison vacuous); with `x`, BatchNorm statistics are
    then set from the activations `x` produces, as in a trained network, so depth cannot blow them up either.
    """
    for layer in weighted_layers(model):
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if len(shape) > 1:  # a kernel: (kh, kw, in, out), (in, out), or depthwise (kh, kw, C, M)
                fan_in = np.prod(shape[:2] if "depthwise" in w.name else shape[:-1])
                v = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
            else:
                v = rng.normal(0.0, 0.15, shape)
                if "gamma" in w.name or "moving_variance" in w.name:
                    v = np.abs(v) + 0.5
            values.append(v.astype("float32"))
        layer.set_weights(values)
    if x is not None:
        reestimate_batchnorm(model, x)


def _reference_input(spec, reference, x):
    """Raw 0..255 pixels for a reference with in-model normalization (EfficientNet), else our preprocessed input."""
    pp = spec.preprocessing(SIZE)
    ours = ((x - np.array(pp.mean, "float32")) / np.array(pp.std, "float32")).astype("float32")
    norm = [layer for layer in reference.layers if isinstance(layer, keras.layers.Normalization)]
    if not norm:
        return ours, ours
    mean = np.array(pp.mean, "float32") / 255.0
    std = np.array(pp.std, "float32") / 255.0
    norm[0].set_weights([mean, std**2, np.array(0, "int64")])
    return x, ours


@pytest.mark.parametrize("name, width", KERAS_BACKED, ids=[f"{n}-{w:g}" for n, w in KERAS_BACKED])
def test_matches_keras_applications(name, width):
    rng = np.random.default_rng(0)
    for include_top in (True, False):
        spec, cfg = _config(name, width, include_top)
        ours = create_model(name, width=width, input_size=SIZE, include_top=include_top)
        reference = reference_model(spec, cfg)
        ref_shapes = [tuple(w.shape) for layer in weighted_layers(reference) for w in layer.weights]
        our_shapes = [tuple(w.shape) for layer in weighted_layers(ours) for w in layer.weights]
        assert our_shapes == ref_shapes
        x = rng.uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
        ref_in, our_in = _reference_input(spec, reference, x)
        _randomize(reference, rng, ref_in)
        assert copy_weights(reference, ours) == len(weighted_layers(ours))
        expected = reference(ref_in, training=False).numpy()
        got = ours(our_in, training=False).numpy()
        assert np.isfinite(expected).all()
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, atol=1e-4 * scale, rtol=0)
        if include_top:  # the prediction must actually vary with the input, or the check above proves little
            assert float(expected.max() - expected.min()) > 1e-3


def test_imagenet_weights_read_from_keras_cache(tmp_path, monkeypatch):
    """weights="imagenet" goes through keras.applications' own loader: a file in ~/.keras/models is used offline."""
    monkeypatch.setenv("HOME", str(tmp_path))
    spec, cfg = _config("mobilenet_v2", 0.35, True)
    source = reference_model(spec, cfg, input_size=96)
    _randomize(source, np.random.default_rng(3))
    cache = tmp_path / ".keras" / "models"
    cache.mkdir(parents=True)
    source.save_weights(cache / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5")
    ours = create_model("mobilenet_v2", width=0.35, input_size=96, weights="imagenet")
    x = np.random.default_rng(4).uniform(-1, 1, (1, 96, 96, 3)).astype("float32")
    np.testing.assert_allclose(ours(x).numpy(), source(x).numpy(), atol=1e-5)
    # A new head for other classes keeps the ImageNet trunk and leaves only the classifier random.
    ten = create_model("mobilenet_v2", width=0.35, input_size=96, num_classes=10, weights="imagenet")
    np.testing.assert_array_equal(ten.get_layer("head_conv").get_weights()[0],
                                  source.get_layer("Conv_1").get_weights()[0])


def test_imagenet_offline_without_cache_is_a_clear_error(tmp_path, monkeypatch):
    from edgebb import InputError

    monkeypatch.setenv("HOME", str(tmp_path))
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        with pytest.raises(InputError, match="cannot load ImageNet weights for mobilenet_v1"):
            create_model("mobilenet_v1", width=0.25, input_size=128, weights="imagenet")
    assert stdout.getvalue() == ""  # keras' "Downloading data from ..." is progress: stderr, not the results' stdout


@pytest.mark.parametrize("command", [["build"], ["train", "--data", "shapes", "--size", "32", "-q"]])
def test_imagenet_offline_is_one_line_from_the_cli(command, tmp_path):
    """Keras prints "Downloading data from URL" before it connects: offline that line came before edgebb's error,
    so the error was not one line. Everything the command says, stdout and stderr, is that one line."""
    from edgebb.data.synth import generate

    generate(str(tmp_path / "shapes"), classes=2, per_class=4, size=32, seed=0)
    result = subprocess.run([sys.executable, "-m", "edgebb", command[0], "mobilenet_v2", *command[1:], "--weights",
                             "imagenet", "-o", "m.keras"], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "HOME": str(tmp_path)})  # no ~/.keras/models cache
    if result.returncode == 0:
        pytest.skip("online: the ImageNet weights downloaded")
    assert result.returncode == 2 and (result.stdout + result.stderr).splitlines() == [result.stderr.strip()], \
        result.stdout + result.stderr
    assert result.stderr.startswith("edgebb: error: cannot load ImageNet weights for mobilenet_v2"), result.stderr


@pytest.mark.parametrize("width", ["0.5", "1.0", "1.5", "2.0"])
def test_shufflenet_v2_parameters_equal_torchvision(reference, width):
    model = create_model("shufflenet_v2", width=float(width), input_size=SIZE)
    expected = reference["shufflenet_v2"]["widths"][width]["torchvision_num_params"]
    assert profile_model(model).params_trainable == expected


@pytest.mark.parametrize("name", ["squeezenet_1_0", "squeezenet_1_1"])
def test_squeezenet_parameters_equal_torchvision(reference, name):
    model = create_model(name, input_size=SIZE)
    assert profile_model(model).params_trainable == reference[name]["torchvision_num_params"]


@pytest.mark.parametrize("name", [n for n in list_models() if get_spec(n).has_imagenet])
def test_parameters_equal_keras(reference, name):
    if name not in reference:
        pytest.skip("no published figure")
    # at the reference size: VGG's classifier flattens the last feature map, so its size sets fc1's (building
    # takes as long at 224 as at 96)
    profile = profile_model(create_model(name, input_size=reference[name].get("input_size", 224)))
    if "keras_params_trainable" in reference[name]:
        assert profile.params_trainable == reference[name]["keras_params_trainable"]
    # keras.applications' EfficientNet carries a 7-value Normalization layer that ours applies outside
    in_model_norm = 7 if name == "efficientnet_b0" else 0
    assert profile.params_total == reference[name]["keras_params_total"] - in_model_norm


def _reference_macs(reference, name, width):
    entry = reference[name]
    if "widths" in entry:
        return entry["widths"][f"{width:.1f}"]["torchvision_gmacs"] * 1e9
    return entry.get("macs") or entry["torchvision_gmacs"] * 1e9


# The paper's "1.5 G multiply-adds" for GoogLeNet undercounts its own conv1 (34 M listed, 118 M for a 7x7x3x64
# convolution at 112x112); with the paper's 5x5 branches the model is 1.583 G (test_classic.py checks it row by row).
_GOOGLENET = pytest.mark.xfail(strict=True, reason="GoogLeNet paper's 1.5 G MACs undercounts conv1; see test_classic")
MAC_CASES = [pytest.param(n, 1.0, marks=_GOOGLENET if n == "googlenet" else ())
             for n in list_models() if n not in ("shufflenet_v2", "efficientnet_lite0")
             and not n.endswith("minimalistic")] + [pytest.param("shufflenet_v2", w) for w in (0.5, 1.0, 1.5, 2.0)]


@pytest.mark.parametrize("name, width", MAC_CASES, ids=[f"{p.values[0]}-{p.values[1]:g}" for p in MAC_CASES])
def test_macs_at_reference_size_within_2_percent(reference, name, width):
    """At 224, or the reference's own size (Inception-ResNet-v2: 299)."""
    entry = reference.get(name, {})
    if not any(key in entry for key in ("macs", "torchvision_gmacs", "widths")):
        pytest.skip("no published MACs figure")
    macs = profile_model(create_model(name, width=width, input_size=entry.get("input_size", 224))).macs
    expected = _reference_macs(reference, name, width)
    assert abs(macs - expected) / expected < 0.02, (macs, expected)


def test_lite0_is_b0_without_squeeze_excite():
    """EfficientNet-Lite0 has no published MAC figure here: it is B0 less the squeeze-excite convolutions."""
    b0 = profile_model(create_model("efficientnet_b0", input_size=224))
    lite = profile_model(create_model("efficientnet_lite0", input_size=224))
    se_macs = sum(r.macs for r in b0.layers if "_se_" in r.name)
    assert lite.macs == b0.macs - se_macs
    assert not any(r.type in ("Multiply", "HardSwish") or "swish" in r.name for r in lite.layers)
