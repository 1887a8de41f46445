"""The registry answers without TensorFlow and rejects bad options with messages that say what is allowed."""

import subprocess
import sys

import pytest

from edgebb import InputError
from edgebb.models import create_model, get_spec, list_models, preprocessing_for, variants

EXPECTED = {
    "mobilenet_v1": (0.25, 0.5, 0.75, 1.0),
    "mobilenet_v2": (0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
    "mobilenet_v3_small": (0.75, 1.0),
    "mobilenet_v3_large": (0.75, 1.0),
    "mobilenet_v3_small_minimalistic": (0.75, 1.0),
    "mobilenet_v3_large_minimalistic": (0.75, 1.0),
    "shufflenet_v2": (0.5, 1.0, 1.5, 2.0),
    "squeezenet_1_0": (1.0,),
    "squeezenet_1_1": (1.0,),
    "efficientnet_b0": (1.0,),
    "efficientnet_lite0": (1.0,),
    "resnet50": (1.0,),
    "resnet18": (1.0,),
    "resnet34": (1.0,),
    "resnet101": (1.0,),
    "resnet152": (1.0,),
    "vgg16": (1.0,),
    "vgg19": (1.0,),
    "inception_resnet_v2": (1.0,),
    "googlenet": (1.0,),
    "darknet19": (1.0,),
}


def test_zoo_offers_the_design_card():
    assert sorted(list_models()) == sorted(EXPECTED)
    for name, widths in EXPECTED.items():
        assert get_spec(name).widths == widths
    assert len(variants()) == sum(len(w) for w in EXPECTED.values())


def test_pattern_filter():
    assert list_models("squeezenet*") == ["squeezenet_1_0", "squeezenet_1_1"]


def test_unknown_name_lists_close_matches():
    with pytest.raises(InputError, match="did you mean: mobilenet_v2"):
        get_spec("mobilenetv2")


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 0.7}, "width for mobilenet_v2 must be one of 0.35, 0.5, 0.75, 1, 1.3, 1.4; received 0.7"),
    ({"input_size": 100}, "multiple of 32 and between 32 and 2048; received 100"),
    ({"input_size": 0}, "received 0"),
    ({"num_classes": 0}, "num_classes must be a positive integer"),
    ({"pooling": "mean"}, "pooling must be one of"),
    ({"weights": "/nonexistent/w.h5"}, "weights file not found"),
])
def test_bad_options_fail_before_building(kwargs, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        create_model("mobilenet_v2", **kwargs)


@pytest.mark.parametrize("name", ["shufflenet_v2", "squeezenet_1_0", "squeezenet_1_1", "efficientnet_lite0",
                                  "resnet18", "resnet34", "googlenet", "darknet19"])
def test_imagenet_is_a_clear_error_where_no_weights_exist(name):
    with pytest.raises(InputError, match=f"no ImageNet weights exist for {name}"):
        create_model(name, weights="imagenet")


def test_preprocessing_lives_outside_the_model():
    assert preprocessing_for("mobilenet_v2").mean == (127.5, 127.5, 127.5)
    assert preprocessing_for("resnet50").channel_order == "bgr"
    assert preprocessing_for("efficientnet_b0", 160).size == 160


def test_registry_imports_no_tensorflow():
    code = "import sys, edgebb.models as m; m.list_models(); m.get_spec('resnet50'); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


MINIMALISTIC = ["mobilenet_v3_small_minimalistic", "mobilenet_v3_large_minimalistic"]


def test_imagenet_weights_are_declared_per_width():
    """keras.applications builds MobileNetV3's minimalistic variants at 0.75 and 1.0 but has their ImageNet weights
    at 1.0 only ("alpha can be one of 0.75, 1.0 for non minimalistic or 1.0 for minimalistic only")."""
    for name in ("mobilenet_v3_small", "mobilenet_v3_large"):
        assert get_spec(name).pretrained_widths == (0.75, 1.0)
    for name in MINIMALISTIC:
        spec = get_spec(name)
        assert spec.widths == (0.75, 1.0) and spec.pretrained_widths == (1.0,) and spec.has_imagenet
        assert spec.has_imagenet_at(1.0) and not spec.has_imagenet_at(0.75)
    assert get_spec("mobilenet_v2").pretrained_widths == EXPECTED["mobilenet_v2"]
    assert get_spec("shufflenet_v2").pretrained_widths == () and not get_spec("shufflenet_v2").has_imagenet_at(1.0)


@pytest.mark.parametrize("name", MINIMALISTIC)
def test_imagenet_at_a_width_without_weights_fails_before_building(name):
    """Named as an input error, with the widths that have weights, before TensorFlow starts or anything downloads."""
    code = ("import sys\nfrom edgebb.models import create_model\ntry:\n"
            f"    create_model({name!r}, width=0.75, input_size=96, weights='imagenet')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\nprint('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    error, imported = out.stdout.strip().splitlines()
    assert error == (f"InputError no ImageNet weights exist for {name} at width 0.75 (keras.applications has them "
                     "at width 1 only); use width 1, random weights or a weights file")
    assert imported == "False"


def test_list_says_which_widths_have_imagenet_weights(tmp_path, monkeypatch):
    """`edgebb list`'s rows, from a filled profile cache (no building): weights per width, as the registry says."""
    import json

    from edgebb.build import listing

    monkeypatch.setenv("EDGEBB_CACHE", str(tmp_path))
    figures = dict.fromkeys(("params_total", "params_trainable", "macs", "weights_fp32_bytes", "weights_int8_bytes",
                             "peak_activation_bytes"), 1)
    listing._cache_file().write_text(json.dumps({f"{n}@{w:g}": figures for n, w in variants()}))
    weights = {(r["name"], r["width"]): r["imagenet_weights"] for r in listing.zoo_rows()}
    for name in MINIMALISTIC:
        assert weights[name, 0.75] is False and weights[name, 1.0] is True
    assert weights["mobilenet_v3_small", 0.75] is True and weights["shufflenet_v2", 1.0] is False
