"""Shared block builders that every family's stage table is decoded with.

Layer names are derived from the `name` prefix each builder is given, so they are deterministic and stable
across builds: ``conv_bn(x, 96, 1, name="block3_expand")`` makes ``block3_expand_conv``, ``block3_expand_bn`` and
``block3_expand_relu6``.
"""

from __future__ import annotations

from dataclasses import dataclass

import tf_keras as keras

from .layers import ChannelSplit, HardSigmoid, HardSwish

L = keras.layers


@dataclass(frozen=True)
class Norm:
    """BatchNormalization settings of a family (they differ: Keras ResNet uses epsilon 1.001e-5, and Keras'
    Inception-ResNet-v2 has no learned scale, since the ReLU after it makes a scale redundant)."""

    epsilon: float = 1e-3
    momentum: float = 0.99
    scale: bool = True


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of `divisor`, never more than 10% below `value` (TF-slim's rule)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class Taps(dict):
    """The last tensor seen at each output stride; `step` advances the stride and records a tensor."""

    def __init__(self):
        super().__init__()
        self.stride = 1

    def step(self, x, stride: int = 1):
        self.stride *= stride
        self[self.stride] = x
        return x


_ACTIVATION_LAYERS = {
    "relu": lambda name: L.ReLU(name=name),
    "relu6": lambda name: L.ReLU(6.0, name=name),
    "leaky_relu": lambda name: L.LeakyReLU(0.1, name=name),  # darknet's slope; a layer every converter and QAT take
    "hswish": lambda name: HardSwish(name=name),
    "hsigmoid": lambda name: HardSigmoid(name=name),
    "swish": lambda name: L.Activation("swish", name=name),
    "sigmoid": lambda name: L.Activation("sigmoid", name=name),
    "softmax": lambda name: L.Activation("softmax", name=name),
}


def activation(x, kind: str | None, name: str):
    """Apply activation `kind` (relu, relu6, leaky_relu (slope 0.1), hswish, hsigmoid, swish, sigmoid, softmax)
    as a named layer."""
    if kind is None:
        return x
    return _ACTIVATION_LAYERS[kind](f"{name}_{kind}")(x)


def _padded(x, pad, name: str):
    """Explicit symmetric zero padding (then a 'valid' op), or a Keras padding mode passed through."""
    if isinstance(pad, int):
        return L.ZeroPadding2D(pad, name=f"{name}_pad")(x), "valid"
    return x, pad


def conv_bn(x, filters: int, kernel: int | tuple[int, int], *, name: str, norm: Norm | None, stride: int = 1,
            act: str | None = None, pad="same", bias: bool = False, init="glorot_uniform"):
    """Conv2D, then BatchNorm (unless `norm` is None), then `act`. `pad` is 'same', 'valid' or an int; `init` is
    the kernel's initializer (Keras' default unless a network without BatchNorm needs its own)."""
    x, mode = _padded(x, pad, name)
    x = L.Conv2D(filters, kernel, strides=stride, padding=mode, use_bias=bias, kernel_initializer=init,
                 name=f"{name}_conv")(x)
    if norm is not None:
        x = L.BatchNormalization(epsilon=norm.epsilon, momentum=norm.momentum, scale=norm.scale,
                                 name=f"{name}_bn")(x)
    return activation(x, act, name)


def dw_bn(x, kernel: int, *, name: str, norm: Norm, stride: int = 1, act: str | None = None, pad="same"):
    """DepthwiseConv2D (no bias), BatchNorm, `act`."""
    x, mode = _padded(x, pad, name)
    x = L.DepthwiseConv2D(kernel, strides=stride, padding=mode, use_bias=False, name=f"{name}_dwconv")(x)
    x = L.BatchNormalization(epsilon=norm.epsilon, momentum=norm.momentum, name=f"{name}_bn")(x)
    return activation(x, act, name)


def squeeze_excite(x, reduced: int, *, name: str, inner: str = "relu", gate: str = "hsigmoid"):
    """Squeeze-and-excite (Hu et al. 2018): global pool, 1x1 reduce, `inner`, 1x1 expand, `gate`, scale."""
    channels = x.shape[-1]
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = L.Conv2D(reduced, 1, name=f"{name}_reduce_conv")(s)
    s = activation(s, inner, f"{name}_reduce")
    s = L.Conv2D(channels, 1, name=f"{name}_expand_conv")(s)
    s = activation(s, gate, f"{name}_expand")
    return L.Multiply(name=f"{name}_excite")([x, s])


def inverted_residual(x, *, expanded: int, out: int, kernel: int, stride: int, act: str, name: str,
                      norm: Norm, se: int | None = None, se_inner: str = "relu", se_gate: str = "hsigmoid"):
    """MobileNetV2/V3 and EfficientNet's block: 1x1 expand (skipped when `expanded` equals the input width),
    depthwise k x k, optional squeeze-excite with `se` reduced channels, linear 1x1 projection, residual add
    when the shape is kept."""
    inputs = x
    in_channels = x.shape[-1]
    if expanded != in_channels:
        x = conv_bn(x, expanded, 1, name=f"{name}_expand", norm=norm, act=act)
    x = dw_bn(x, kernel, name=f"{name}_dw", norm=norm, stride=stride, act=act)
    if se:
        x = squeeze_excite(x, se, name=f"{name}_se", inner=se_inner, gate=se_gate)
    x = conv_bn(x, out, 1, name=f"{name}_project", norm=norm)
    if stride == 1 and in_channels == out:
        x = L.Add(name=f"{name}_add")([inputs, x])
    return x


def channel_shuffle(x, groups: int, *, name: str):
    """ShuffleNet's channel shuffle as Reshape, Permute, Reshape (layers every converter and QAT accept)."""
    h, w, c = x.shape[1:]
    x = L.Reshape((h, w, groups, c // groups), name=f"{name}_shuffle_split")(x)
    x = L.Permute((1, 2, 4, 3), name=f"{name}_shuffle_swap")(x)
    return L.Reshape((h, w, c), name=f"{name}_shuffle_merge")(x)


def channel_split(x, *, name: str):
    """Split the channels in two halves."""
    return ChannelSplit(2, name=f"{name}_split")(x)


def classifier(x, cfg, *, dropout: float = 0.0, name: str = "predictions"):
    """Global average pool, optional dropout, Dense to `cfg.num_classes`, softmax."""
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = L.Dropout(dropout, name="top_dropout")(x)
    x = L.Dense(cfg.num_classes, name=name)(x)
    return L.Activation("softmax", name=f"{name}_softmax")(x)


def conv_classifier(x, cfg, *, dropout: float, name: str = "logits"):
    """Global average pool (kept 4-D), dropout, 1x1 conv to the classes, flatten, softmax (MobileNet V1's head)."""
    x = L.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
    x = L.Dropout(dropout, name="top_dropout")(x)
    x = L.Conv2D(cfg.num_classes, 1, name=f"{name}_conv")(x)
    x = L.Flatten(name=f"{name}_flatten")(x)
    return L.Activation("softmax", name=f"{name}_softmax")(x)
