"""Inception-ResNet-v2 (Szegedy et al. 2016, arXiv:1602.07261), as keras.applications (and TF-slim) build it.

Convolutions without bias, BatchNorm without a learned scale (the ReLU after it makes one redundant), ReLU.
Each Inception-ResNet block adds its branches back to its input scaled down (0.17, 0.10, 0.20): keras.applications
writes that sum as a Lambda, which no converter or QAT accepts, so here it is edgebb's ScaledAdd layer, computing
the same `x + scale * branch`. keras.applications' ImageNet weights load layer for layer; inputs go to [-1, 1].
The paper's dropout (keep 0.8) before the classifier is kept for training; it changes nothing at inference.

Strided convolutions and pools use "valid" padding, so feature maps are a little smaller than size / stride:
at 299x299 they are 71, 35, 17 and 8 pixels at strides 4, 8, 16 and 32 (floor((size - c) / stride) with c = 15,
19, 27, 43). Any size from 75 (a 1x1 final map) up is accepted, as keras.applications does; 299 is the reference.
"""

from __future__ import annotations

from .registry import SIGNED_UNIT, BackboneSpec, register

# A conv is (filters, kernel[, stride[, padding]]): stride 1 and "same" padding unless given; strided convs are
# "valid". "max" is a 3x3/2 valid max-pool; "avg" a 3x3/1 same average pool. A branch is a list of these.
STEM = [(32, 3, 2, "valid"), (32, 3, 1, "valid"), (64, 3), "max", (80, 1, 1, "valid"), (192, 3, 1, "valid"), "max"]
MIXED_5B = [[(96, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)], ["avg", (64, 1)]]  # Inception-A, 35x35
BLOCK35 = [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)]]  # Inception-ResNet-A (Figure 16)
MIXED_6A = [[(384, 3, 2, "valid")], [(256, 1), (256, 3), (384, 3, 2, "valid")], ["max"]]  # Reduction-A
BLOCK17 = [[(192, 1)], [(128, 1), (160, (1, 7)), (192, (7, 1))]]  # Inception-ResNet-B (Figure 17)
MIXED_7A = [[(256, 1), (384, 3, 2, "valid")], [(256, 1), (288, 3, 2, "valid")],
            [(256, 1), (288, 3), (320, 3, 2, "valid")], ["max"]]  # Reduction-B
BLOCK8 = [[(192, 1)], [(192, 1), (224, (1, 3)), (256, (3, 1))]]  # Inception-ResNet-C (Figure 19)

# The body in order: (name, branches, repeats, residual scale (None: concatenate only), ReLU after, stride).
# The last block8 is unscaled and linear, feeding the 1x1 head conv (keras.applications' block8_10).
BODY = [
    ("mixed_5b", MIXED_5B, 1, None, False, 1),
    ("block35", BLOCK35, 10, 0.17, True, 1),
    ("mixed_6a", MIXED_6A, 1, None, False, 2),
    ("block17", BLOCK17, 20, 0.10, True, 1),
    ("mixed_7a", MIXED_7A, 1, None, False, 2),
    ("block8", BLOCK8, 9, 0.20, True, 1),
    ("block8", BLOCK8, 1, 1.0, False, 1),
]
HEAD_CONV, DROPOUT = 1536, 0.2


def _layer(x, op, *, name, norm):
    """One table entry: a pool, or a conv-BatchNorm-ReLU."""
    from .blocks import L, conv_bn

    if op == "max":
        return L.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    if op == "avg":
        return L.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    filters, kernel, *rest = op
    stride = rest[0] if rest else 1
    pad = rest[1] if len(rest) > 1 else "same"
    return conv_bn(x, filters, kernel, stride=stride, pad=pad, act="relu", name=name, norm=norm)


def _block(x, branches, *, scale, relu, name, norm):
    from .blocks import L, activation, conv_bn
    from .layers import ScaledAdd

    outs = []
    for b, branch in enumerate(branches):
        y = x
        for i, op in enumerate(branch, start=1):
            y = _layer(y, op, name=f"{name}_b{b}_{i}", norm=norm)
        outs.append(y)
    mixed = L.Concatenate(name=f"{name}_mixed" if scale is not None else name)(outs)
    if scale is None:
        return mixed
    up = conv_bn(mixed, x.shape[-1], 1, bias=True, name=f"{name}_up", norm=None)  # linear, back to the input width
    x = ScaledAdd(scale, name=f"{name}_add")([x, up])
    return activation(x, "relu" if relu else None, name)


def _trunk(inputs, cfg):
    from .blocks import L, Norm, Taps, conv_bn

    norm, taps, x = Norm(scale=False), Taps(), inputs
    convs = pools = 0
    for op in STEM:
        if op == "max":
            pools += 1
            x = taps.step(L.MaxPooling2D(3, strides=2, name=f"stem_pool{pools}")(x), 2)
        else:
            convs += 1
            x = taps.step(_layer(x, op, name=f"stem{convs}", norm=norm), op[2] if len(op) > 2 else 1)
    counts: dict[str, int] = {}
    for name, branches, repeats, scale, relu, stride in BODY:
        for _ in range(repeats):
            counts[name] = counts.get(name, 0) + 1
            block = f"{name}_{counts[name]}" if scale is not None else name
            x = taps.step(_block(x, branches, scale=scale, relu=relu, name=block, norm=norm), stride)
    x = taps.step(conv_bn(x, HEAD_CONV, 1, act="relu", name="conv_7b", norm=norm))
    return x, taps


def _head(x, cfg):
    from .blocks import classifier

    return classifier(x, cfg, dropout=DROPOUT)


register(BackboneSpec(
    name="inception_resnet_v2", family="inception_resnet", trunk=_trunk, head=_head, widths=(1.0,),
    norm=SIGNED_UNIT, keras_application="InceptionResNetV2",
    published_top1={1.0: 80.3}, top1_source="keras.io applications table (299x299; paper: 80.1)",
    paper="Szegedy et al. 2016, arXiv:1602.07261", min_size=75, size_multiple=1,
))
