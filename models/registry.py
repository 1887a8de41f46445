"""The backbone registry: every backbone is a `BackboneSpec` registered by name.

This module imports no TensorFlow, so listing names, validating options and reading preprocessing configs are
instant. A family module registers its variants at import time; `create_model` builds one on demand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.errors import InputError
from ..core.registry import Registry

FEATURE_STRIDES = (4, 8, 16, 32)


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB image in 0..255 becomes the model's input tensor, outside the model.

    Resize the shorter side to `size / crop_fraction`, centre-crop `size` x `size`, reorder channels to
    `channel_order`, then `(x - mean) / std` per channel (mean and std in the model's channel order).
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_fraction: float = 0.875
    channel_order: str = "rgb"
    resize: str = "bilinear"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], size: int | None = None) -> Preprocessing:
        """The Preprocessing a manifest or a saved model's metadata describes (`size` overrides its size).
        Raises InputError naming the missing field."""
        try:
            return cls(size=int(size or data["size"]), mean=tuple(data["mean"]), std=tuple(data["std"]),
                       crop_fraction=data.get("crop_fraction", 0.875), channel_order=data.get("channel_order", "rgb"),
                       resize=data.get("resize", "bilinear"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"preprocessing is missing or malformed ({type(exc).__name__}: {exc})") from exc


# Normalizations used by the families below (each expects RGB 0..255 input before normalization).
SIGNED_UNIT = ((127.5, 127.5, 127.5), (127.5, 127.5, 127.5))  # to [-1, 1]: MobileNet V1/V2/V3
IMAGENET = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))  # torchvision / EfficientNet
CAFFE_BGR = ((103.939, 116.779, 123.68), (1.0, 1.0, 1.0))  # Keras ResNet50 ("caffe" mode, BGR)


@dataclass(frozen=True)
class BuildConfig:
    """The validated options one build uses; passed to a family's trunk and head builders."""

    name: str
    width: float
    input_size: int
    num_classes: int
    include_top: bool
    pooling: str | None
    features: bool
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone.

    `trunk(inputs, cfg) -> (x, taps)` builds the body and returns its last tensor and a dict of the last tensor
    at each stride; `head(x, cfg) -> y` builds the classifier. `params` carries family-specific data
    (a stage table, a variant flag) into both.
    """

    name: str
    family: str
    trunk: Callable[..., Any]
    head: Callable[..., Any]
    widths: tuple[float, ...]
    norm: tuple[tuple[float, float, float], tuple[float, float, float]]
    channel_order: str = "rgb"
    params: dict[str, Any] = field(default_factory=dict)
    feature_strides: tuple[int, ...] = FEATURE_STRIDES
    keras_application: str | None = None  # keras.applications constructor with the same architecture
    # The widths keras_application has ImageNet weights for; None: every width in `widths` (MobileNetV3's
    # minimalistic variants have them at 1.0 only, though keras.applications builds them at 0.75 too).
    imagenet_widths: tuple[float, ...] | None = None
    published_top1: dict[float, float] = field(default_factory=dict)  # width -> ImageNet top-1 (%)
    top1_source: str = ""
    paper: str = ""
    min_size: int = 32
    size_multiple: int = 32
    train_lr: float = 1e-3  # Adam's rate edgebb train uses unless told (SqueezeNet, with no BatchNorm, needs less)

    def __post_init__(self):
        if self.imagenet_widths is not None and not set(self.imagenet_widths) <= set(self.widths):
            raise ValueError(f"{self.name}: imagenet_widths {self.imagenet_widths} are not all in {self.widths}")

    @property
    def pretrained_widths(self) -> tuple[float, ...]:
        """The widths that have ImageNet weights (keras.applications'); empty for a backbone that has none."""
        if self.keras_application is None:
            return ()
        return self.widths if self.imagenet_widths is None else self.imagenet_widths

    @property
    def has_imagenet(self) -> bool:
        """Whether ImageNet weights exist at some width (`has_imagenet_at` says at which)."""
        return bool(self.pretrained_widths)

    def has_imagenet_at(self, width: float) -> bool:
        return any(math.isclose(float(width), w) for w in self.pretrained_widths)

    def check_imagenet(self, width: float) -> None:
        """InputError unless ImageNet weights exist at `width`, naming the widths that have them."""
        if not self.has_imagenet:
            raise InputError(f"no ImageNet weights exist for {self.name}; use weights=None or a weights file")
        if not self.has_imagenet_at(width):
            have = " or ".join(f"{w:g}" for w in self.pretrained_widths)
            raise InputError(f"no ImageNet weights exist for {self.name} at width {width:g} (keras.applications "
                             f"has them at width {have} only); use width {have}, random weights or a weights file")

    def preprocessing(self, input_size: int = 224) -> Preprocessing:
        mean, std = self.norm
        return Preprocessing(size=input_size, mean=mean, std=std, channel_order=self.channel_order)

    def check_width(self, width: float) -> float:
        for allowed in self.widths:
            if math.isclose(float(width), allowed):
                return allowed
        raise InputError(f"width for {self.name} must be {self.width_rule}; received {width:g}")

    @property
    def width_rule(self) -> str:
        """What a width must be, for messages: "one of 0.35, 0.5, 1" or "1 (resnet50 has no width multiplier)"."""
        if len(self.widths) > 1:
            return f"one of {', '.join(f'{w:g}' for w in self.widths)}"
        return f"{self.widths[0]:g} ({self.name} has no width multiplier)"

    def check_size(self, size: int) -> int:
        if int(size) != size or not self.min_size <= size <= MAX_SIZE or size % self.size_multiple:
            rule = f"a multiple of {self.size_multiple} and " if self.size_multiple > 1 else ""
            raise InputError(f"input size for {self.name} must be {rule}between {self.min_size} and {MAX_SIZE}; "
                             f"received {size}")
        return int(size)


# Edge inputs are 96-640 px; past this a batch of calibration images alone takes gigabytes (16 x 2048^2 x 3 float64
# is 1.6 GB), and a size of 100000 (a typo) would ask numpy for terabytes.
MAX_SIZE = 2048

BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def register(spec: BackboneSpec) -> BackboneSpec:
    """Add `spec` to the registry; a name may be registered once."""
    return BACKBONES.register(spec)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered backbone names, sorted; `pattern` filters with shell-style wildcards (``"mobilenet*"``)."""
    return BACKBONES.names(pattern, sort=True)


def get_spec(name: str) -> BackboneSpec:
    """The spec registered as `name`; an unknown name raises InputError listing close matches."""
    return BACKBONES.get(name)


def variants() -> list[tuple[str, float]]:
    """Every (name, width) pair the zoo offers."""
    return [(name, w) for name in list_models() for w in BACKBONES[name].widths]
