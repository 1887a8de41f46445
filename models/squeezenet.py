"""SqueezeNet 1.0 (Iandola et al. 2016) and 1.1 (its 2.4x cheaper revision), as torchvision defines them.

No BatchNorm, biased convolutions, 3x3/2 max-pools in ceil mode. SqueezeNet has no stride-32 stage: its deepest
feature map is at stride 16, so `features=True` returns strides 4, 8 and 16.

Without BatchNorm the initial weights decide whether it trains at all: with Keras' default (Glorot) kernels the
signal shrinks through its ~18 ReLU convolutions and, from random weights, it stayed at chance on the digits
scans. Its convolutions are He-initialised (variance 2 / fan-in, what a ReLU network keeps its scale with) and the
classifier starts near zero (normal, std 0.01), as torchvision does.
"""

from __future__ import annotations

from .registry import IMAGENET, BackboneSpec, register

HE = "he_uniform"

# The layer sequence as data: ("conv", filters, kernel, stride), ("pool",), ("fire", squeeze, expand1x1, expand3x3).
V1_0 = [
    ("conv", 96, 7, 2), ("pool",),
    ("fire", 16, 64, 64), ("fire", 16, 64, 64), ("fire", 32, 128, 128), ("pool",),
    ("fire", 32, 128, 128), ("fire", 48, 192, 192), ("fire", 48, 192, 192), ("fire", 64, 256, 256), ("pool",),
    ("fire", 64, 256, 256),
]
V1_1 = [
    ("conv", 64, 3, 2), ("pool",),
    ("fire", 16, 64, 64), ("fire", 16, 64, 64), ("pool",),
    ("fire", 32, 128, 128), ("fire", 32, 128, 128), ("pool",),
    ("fire", 48, 192, 192), ("fire", 48, 192, 192), ("fire", 64, 256, 256), ("fire", 64, 256, 256),
]


def _fire(x, squeeze, e1, e3, *, name):
    from .blocks import L, conv_bn

    s = conv_bn(x, squeeze, 1, bias=True, act="relu", name=f"{name}_squeeze", norm=None, init=HE)
    left = conv_bn(s, e1, 1, bias=True, act="relu", name=f"{name}_expand1x1", norm=None, init=HE)
    right = conv_bn(s, e3, 3, bias=True, act="relu", name=f"{name}_expand3x3", norm=None, init=HE)
    return L.Concatenate(name=f"{name}_concat")([left, right])


def _ceil_pool(x, name):
    """3x3/2 max-pool in torchvision's ceil mode: 'valid' on odd sizes equals it, 'same' on even sizes does."""
    from .blocks import L

    return L.MaxPooling2D(3, strides=2, padding="valid" if x.shape[1] % 2 else "same", name=name)(x)


def _trunk(inputs, cfg):
    from .blocks import Taps, conv_bn

    taps, x = Taps(), inputs
    fires = pools = 0
    for op, *args in cfg.params["layers"]:
        if op == "conv":
            filters, kernel, stride = args
            x = taps.step(conv_bn(x, filters, kernel, stride=stride, pad="valid", bias=True, act="relu",
                                  name="stem", norm=None, init=HE), stride)
        elif op == "pool":
            pools += 1
            x = taps.step(_ceil_pool(x, f"pool{pools}"), 2)
        else:
            fires += 1
            x = taps.step(_fire(x, *args, name=f"fire{fires + 1}"))
    return x, taps


def _head(x, cfg):
    from .blocks import L, conv_bn, keras

    x = L.Dropout(0.5, name="top_dropout")(x)
    x = conv_bn(x, cfg.num_classes, 1, bias=True, act="relu", name="classifier", norm=None,
                init=keras.initializers.RandomNormal(stddev=0.01))
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    return L.Activation("softmax", name="predictions_softmax")(x)


for _name, _layers, _top1 in (("squeezenet_1_0", V1_0, 58.092), ("squeezenet_1_1", V1_1, 58.178)):
    register(BackboneSpec(
        name=_name, family="squeezenet", trunk=_trunk, head=_head, widths=(1.0,), norm=IMAGENET,
        params={"layers": _layers}, feature_strides=(4, 8, 16), published_top1={1.0: _top1}, train_lr=3e-4,
        top1_source="torchvision weights metadata", paper="Iandola et al. 2016, arXiv:1602.07360",
    ))
