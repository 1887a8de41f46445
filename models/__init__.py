"""The backbone zoo: `create_model(name, ...)` builds any registered backbone as a tf_keras model.

>>> from edgebb.models import create_model, list_models
>>> list_models("mobilenet_v3*")
['mobilenet_v3_large', 'mobilenet_v3_large_minimalistic', 'mobilenet_v3_small', 'mobilenet_v3_small_minimalistic']
>>> model = create_model("mobilenet_v2", width=0.5, input_size=160, num_classes=10)

Importing this package does not import TensorFlow; building a model does.
"""

from __future__ import annotations

import os
from typing import Any

from ..core.errors import InputError, first_line
from . import (  # noqa: F401  (they register themselves)
    darknet,
    efficientnet,
    googlenet,
    inception_resnet,
    mobilenet,
    resnet,
    shufflenet,
    squeezenet,
    vgg,
)
from .registry import BackboneSpec, BuildConfig, Preprocessing, get_spec, list_models, register, variants

__all__ = [
    "BackboneSpec", "BuildConfig", "Preprocessing", "create_model", "get_spec", "list_models", "load_model",
    "preprocessing_for", "register", "variants",
]

POOLINGS = (None, "avg", "max")


def create_model(name: str, width: float = 1.0, input_size: int = 224, num_classes: int = 1000,
                 include_top: bool = True, pooling: str | None = None, weights: str | None = None,
                 features: bool = False):
    """Build backbone `name` as a tf_keras functional model taking `input_size` x `input_size` x 3 inputs,
    already normalized as `preprocessing_for(name)` describes.

    Args:
      width: the width multiplier; one of the backbone's registered widths.
      include_top: end in the family's classifier (softmax over `num_classes`); otherwise end at the last
        feature map, pooled when `pooling` is "avg" or "max".
      weights: None (random), "imagenet" (keras.applications' ImageNet weights, downloaded when online or read
        from Keras' cache, copied in layer by layer; the head only when `num_classes` is 1000), or a weights file.
      features: return the feature maps at the backbone's `feature_strides` (4, 8, 16, 32) instead of a head.

    Raises:
      InputError: an unknown name, a width or size the architecture does not allow, a bad option, a weights
        file that is missing or does not fit, or "imagenet" for a family (or a width) that has no such weights.
    """
    spec = get_spec(name)
    cfg = BuildConfig(
        name=name, width=spec.check_width(width), input_size=spec.check_size(input_size),
        num_classes=_check_classes(num_classes), include_top=bool(include_top), pooling=_check_pooling(pooling),
        features=bool(features), params=dict(spec.params),
    )
    if weights == "imagenet":
        spec.check_imagenet(cfg.width)  # before anything is built or downloaded
    if weights not in (None, "imagenet") and not os.path.exists(weights):
        raise InputError(f"weights file not found: {weights}")

    from ..core.tf import load_tensorflow

    load_tensorflow()
    import tf_keras as keras

    inputs = keras.Input((cfg.input_size, cfg.input_size, 3), name="input")
    x, taps = spec.trunk(inputs, cfg)
    if cfg.features:
        outputs = [taps[s] for s in spec.feature_strides]
    elif cfg.include_top:
        outputs = spec.head(x, cfg)
    elif cfg.pooling == "avg":
        outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif cfg.pooling == "max":
        outputs = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    else:
        outputs = x
    model = keras.Model(inputs, outputs, name=_model_name(cfg))

    if weights == "imagenet":
        from .weights import load_imagenet

        load_imagenet(model, spec, cfg)
    elif weights is not None:
        _load_weights_file(model, weights)
    return model


def preprocessing_for(name: str, input_size: int = 224) -> Preprocessing:
    """The preprocessing (resize, crop, channel order, mean, std) backbone `name` expects, outside the model."""
    return get_spec(name).preprocessing(input_size)


def load_model(path: str, compile: bool = False) -> Any:
    """Load a saved Keras model (.keras, .h5 or a SavedModel folder) that may contain edgebb's layers.

    Raises InputError naming the file when it is missing or cannot be read as a model.
    """
    from ..core.tf import load_tensorflow

    load_tensorflow()
    import tf_keras as keras

    from .layers import CUSTOM_OBJECTS

    if not os.path.exists(path):
        raise InputError(f"model file not found: {path}")
    try:
        return keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=compile)
    except Exception as exc:  # Keras raises many types for a damaged file; all mean "not a model we can read"
        raise InputError(f"cannot read {path} as a Keras model: {first_line(exc)}") from exc


def _model_name(cfg: BuildConfig) -> str:
    return f"{cfg.name}_{cfg.width:g}_{cfg.input_size}".replace(".", "_")


def _check_classes(num_classes) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer; received {num_classes!r}")
    return num_classes


def _check_pooling(pooling):
    if pooling not in POOLINGS:
        raise InputError(f"pooling must be one of None, 'avg', 'max'; received {pooling!r}")
    return pooling


def _load_weights_file(model, path: str) -> None:
    try:
        model.load_weights(path)
    except Exception as exc:
        raise InputError(f"cannot load weights from {path} into {model.name}: {first_line(exc)}") from exc

