"""ShuffleNet V2 (Ma et al. 2018), with torchvision's channel counts so parameter counts match its models.

Channel split and channel shuffle are layers (ChannelSplit; Reshape-Permute-Reshape), never Lambdas, so the
model converts to TFLite and ONNX and takes quantization-aware training.
"""

from __future__ import annotations

from .registry import IMAGENET, BackboneSpec, register

# Paper Table 5: output channels of conv1, stage2, stage3, stage4 and conv5 per width multiplier.
STAGE_CHANNELS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
STAGE_REPEATS = (4, 8, 4)  # units in stage2, stage3, stage4; the first unit of each halves the resolution


def _branch(x, out, stride, *, name, norm):
    """1x1 conv-BN-ReLU, 3x3 depthwise-BN (stride), 1x1 conv-BN-ReLU."""
    from .blocks import conv_bn, dw_bn

    x = conv_bn(x, out, 1, act="relu", name=f"{name}_pw1", norm=norm)
    x = dw_bn(x, 3, stride=stride, name=f"{name}_dw", norm=norm)
    return conv_bn(x, out, 1, act="relu", name=f"{name}_pw2", norm=norm)


def _unit(x, out, stride, *, name, norm):
    from .blocks import L, channel_shuffle, channel_split, conv_bn, dw_bn

    half = out // 2
    if stride == 2:  # both branches see the whole input; the left one is depthwise then pointwise
        left = dw_bn(x, 3, stride=2, name=f"{name}_left_dw", norm=norm)
        left = conv_bn(left, half, 1, act="relu", name=f"{name}_left_pw", norm=norm)
        right = _branch(x, half, 2, name=f"{name}_right", norm=norm)
    else:
        left, right = channel_split(x, name=name)
        right = _branch(right, half, 1, name=f"{name}_right", norm=norm)
    x = L.Concatenate(name=f"{name}_concat")([left, right])
    return channel_shuffle(x, 2, name=name)


def _trunk(inputs, cfg):
    from .blocks import L, Norm, Taps, conv_bn

    channels = STAGE_CHANNELS[cfg.width]
    norm, taps = Norm(epsilon=1e-5, momentum=0.9), Taps()
    x = taps.step(conv_bn(inputs, channels[0], 3, stride=2, act="relu", name="stem", norm=norm), 2)
    x = taps.step(L.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x), 2)
    for stage, (out, repeats) in enumerate(zip(channels[1:4], STAGE_REPEATS), start=2):
        for u in range(repeats):
            stride = 2 if u == 0 else 1
            x = taps.step(_unit(x, out, stride, name=f"stage{stage}_unit{u + 1}", norm=norm), stride)
    x = taps.step(conv_bn(x, channels[4], 1, act="relu", name="head", norm=norm))
    return x, taps


def _head(x, cfg):
    from .blocks import classifier

    return classifier(x, cfg)


register(BackboneSpec(
    name="shufflenet_v2", family="shufflenet", trunk=_trunk, head=_head, widths=tuple(STAGE_CHANNELS),
    norm=IMAGENET, published_top1={0.5: 60.552, 1.0: 69.362, 1.5: 72.996, 2.0: 76.230},
    top1_source="torchvision weights metadata", paper="Ma et al. 2018, arXiv:1807.11164",
))
