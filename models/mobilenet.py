"""MobileNet V1, V2 and V3 (Howard et al. 2017; Sandler et al. 2018; Howard et al. 2019).

Channel counts, rounding and heads follow keras.applications exactly, so its ImageNet weights load into these
models layer for layer.
"""

from __future__ import annotations

from .registry import SIGNED_UNIT, BackboneSpec, register

# MobileNet V1 (paper Table 1): depthwise-separable blocks as (pointwise filters, stride); stem conv 32 / 2.
V1_BLOCKS = [
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
]

# MobileNet V2 (paper Table 2): (expansion t, channels c, repeats n, first stride s); stem 32 / 2, head 1280.
V2_STAGES = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]

# MobileNet V3 (paper Tables 1 and 2): (kernel, expansion = exp size / input channels, out, squeeze-excite,
# activation, stride). Stem 16 / 2 with hard-swish; head 1x1 to 6x the last width, then a 1x1 "last point" conv.
V3_LARGE = [
    (3, 1, 16, False, "relu", 1),
    (3, 4, 24, False, "relu", 2),
    (3, 3, 24, False, "relu", 1),
    (5, 3, 40, True, "relu", 2),
    (5, 3, 40, True, "relu", 1),
    (5, 3, 40, True, "relu", 1),
    (3, 6, 80, False, "hswish", 2),
    (3, 2.5, 80, False, "hswish", 1),
    (3, 2.3, 80, False, "hswish", 1),
    (3, 2.3, 80, False, "hswish", 1),
    (3, 6, 112, True, "hswish", 1),
    (3, 6, 112, True, "hswish", 1),
    (5, 6, 160, True, "hswish", 2),
    (5, 6, 160, True, "hswish", 1),
    (5, 6, 160, True, "hswish", 1),
]
V3_SMALL = [
    (3, 1, 16, True, "relu", 2),
    (3, 72 / 16, 24, False, "relu", 2),
    (3, 88 / 24, 24, False, "relu", 1),
    (5, 4, 40, True, "hswish", 2),
    (5, 6, 40, True, "hswish", 1),
    (5, 6, 40, True, "hswish", 1),
    (5, 3, 48, True, "hswish", 1),
    (5, 3, 48, True, "hswish", 1),
    (5, 6, 96, True, "hswish", 2),
    (5, 6, 96, True, "hswish", 1),
    (5, 6, 96, True, "hswish", 1),
]


def _v1_trunk(inputs, cfg):
    from .blocks import Norm, Taps, conv_bn, dw_bn

    norm, taps = Norm(), Taps()
    x = taps.step(conv_bn(inputs, int(32 * cfg.width), 3, stride=2, act="relu6", name="stem", norm=norm), 2)
    for i, (filters, stride) in enumerate(V1_BLOCKS, start=1):
        x = dw_bn(x, 3, stride=stride, act="relu6", name=f"block{i}_dw", norm=norm)
        x = conv_bn(x, int(filters * cfg.width), 1, act="relu6", name=f"block{i}_pw", norm=norm)
        taps.step(x, stride)
    return x, taps


def _v1_head(x, cfg):
    from .blocks import conv_classifier

    return conv_classifier(x, cfg, dropout=1e-3)


def _v2_trunk(inputs, cfg):
    from .blocks import Norm, Taps, conv_bn, inverted_residual, make_divisible

    norm, taps = Norm(momentum=0.999), Taps()
    x = conv_bn(inputs, make_divisible(32 * cfg.width), 3, stride=2, act="relu6", name="stem", norm=norm)
    taps.step(x, 2)
    block = 0
    for expansion, channels, repeats, first_stride in V2_STAGES:
        out = make_divisible(int(channels * cfg.width))
        for r in range(repeats):
            stride = first_stride if r == 0 else 1
            x = inverted_residual(x, expanded=expansion * x.shape[-1], out=out, kernel=3, stride=stride,
                                  act="relu6", name=f"block{block}", norm=norm)
            taps.step(x, stride)
            block += 1
    last = make_divisible(1280 * cfg.width) if cfg.width > 1.0 else 1280
    x = taps.step(conv_bn(x, last, 1, act="relu6", name="head", norm=norm))
    return x, taps


def _v2_head(x, cfg):
    from .blocks import classifier

    return classifier(x, cfg)


def _v3_rows(cfg):
    rows = V3_LARGE if cfg.params["size"] == "large" else V3_SMALL
    if cfg.params["minimalistic"]:  # 3x3 kernels, ReLU everywhere, no squeeze-excite
        rows = [(3, t, c, False, "relu", s) for _, t, c, _, _, s in rows]
    return rows


def _v3_act(cfg):
    return "relu" if cfg.params["minimalistic"] else "hswish"


def _v3_trunk(inputs, cfg):
    from .blocks import Norm, Taps, conv_bn, inverted_residual, make_divisible

    norm, taps = Norm(momentum=0.999), Taps()
    x = taps.step(conv_bn(inputs, 16, 3, stride=2, act=_v3_act(cfg), name="stem", norm=norm), 2)
    for i, (kernel, expansion, channels, se, act, stride) in enumerate(_v3_rows(cfg)):
        expanded = make_divisible(x.shape[-1] * expansion)
        x = inverted_residual(x, expanded=expanded, out=make_divisible(channels * cfg.width), kernel=kernel,
                              stride=stride, act=act, name=f"block{i}", norm=norm,
                              se=make_divisible(expanded * 0.25) if se else None)
        taps.step(x, stride)
    x = conv_bn(x, make_divisible(x.shape[-1] * 6), 1, act=_v3_act(cfg), name="head", norm=norm)
    return taps.step(x), taps


def _v3_head(x, cfg):
    from .blocks import L, activation, make_divisible

    last_point = cfg.params["last_point"]
    if cfg.width > 1.0:
        last_point = make_divisible(last_point * cfg.width)
    x = L.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
    x = L.Conv2D(last_point, 1, name="last_point_conv")(x)
    x = activation(x, _v3_act(cfg), "last_point")
    x = L.Dropout(0.2, name="top_dropout")(x)
    x = L.Conv2D(cfg.num_classes, 1, name="logits_conv")(x)
    x = L.Flatten(name="logits_flatten")(x)
    return L.Activation("softmax", name="logits_softmax")(x)


register(BackboneSpec(
    name="mobilenet_v1", family="mobilenet", trunk=_v1_trunk, head=_v1_head,
    widths=(0.25, 0.5, 0.75, 1.0), norm=SIGNED_UNIT, keras_application="MobileNet",
    published_top1={1.0: 70.6, 0.75: 68.4, 0.5: 63.7, 0.25: 50.6},
    top1_source="keras.applications MobileNet docs (224x224)",
    paper="Howard et al. 2017, arXiv:1704.04861",
))
register(BackboneSpec(
    name="mobilenet_v2", family="mobilenet", trunk=_v2_trunk, head=_v2_head,
    widths=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4), norm=SIGNED_UNIT, keras_application="MobileNetV2",
    published_top1={1.4: 75.0, 1.3: 74.4, 1.0: 71.8, 0.75: 69.8, 0.5: 65.4, 0.35: 60.3},
    top1_source="keras.applications MobileNetV2 docs (224x224)",
    paper="Sandler et al. 2018, arXiv:1801.04381",
))
# Published top-1 (keras.applications MobileNetV3 docs, 224x224), by (size, minimalistic) and width.
_V3_TOP1 = {("large", False): {1.0: 75.6, 0.75: 73.3}, ("large", True): {1.0: 72.3},
            ("small", False): {1.0: 68.1, 0.75: 65.4}, ("small", True): {1.0: 61.9}}
for (_size, _minimal), _top1 in _V3_TOP1.items():
    register(BackboneSpec(
        name=f"mobilenet_v3_{_size}" + ("_minimalistic" if _minimal else ""), family="mobilenet",
        trunk=_v3_trunk, head=_v3_head, widths=(0.75, 1.0), norm=SIGNED_UNIT,
        params={"size": _size, "minimalistic": _minimal, "last_point": 1280 if _size == "large" else 1024},
        keras_application=f"MobileNetV3{_size.title()}", published_top1=_top1,
        # keras.applications builds the minimalistic variants at 0.75 but has ImageNet weights for them at 1.0 only
        imagenet_widths=(1.0,) if _minimal else None,
        top1_source="keras.applications MobileNetV3 docs (224x224)",
        paper="Howard et al. 2019, arXiv:1905.02244",
    ))
