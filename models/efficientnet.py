"""EfficientNet-B0 (Tan & Le 2019) and EfficientNet-Lite0 (its int8-friendly variant).

Lite0 drops squeeze-excite and uses ReLU6 instead of swish, because both quantize badly (TensorFlow's
EfficientNet-Lite README); B0 follows keras.applications exactly, so its ImageNet weights load layer for layer.
"""

from __future__ import annotations

from .registry import IMAGENET, BackboneSpec, register

# EfficientNet-B0 (paper Table 1): (kernel, repeats, input channels, output channels, expansion, first stride).
B0_STAGES = [
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
]
STEM, HEAD = 32, 1280
SE_RATIO = 0.25  # of the block's input channels, not the expanded ones


def _trunk(inputs, cfg):
    from .blocks import Norm, Taps, conv_bn, inverted_residual

    act, with_se = cfg.params["act"], cfg.params["se"]
    norm, taps = Norm(), Taps()
    x = taps.step(conv_bn(inputs, STEM, 3, stride=2, act=act, name="stem", norm=norm), 2)
    for stage, (kernel, repeats, _, out, expansion, first_stride) in enumerate(B0_STAGES, start=1):
        for r in range(repeats):
            stride = first_stride if r == 0 else 1
            in_channels = x.shape[-1]
            x = inverted_residual(
                x, expanded=in_channels * expansion, out=out, kernel=kernel, stride=stride, act=act,
                name=f"block{stage}{chr(ord('a') + r)}", norm=norm,
                se=max(1, int(in_channels * SE_RATIO)) if with_se else None, se_inner=act, se_gate="sigmoid",
            )
            taps.step(x, stride)
    x = taps.step(conv_bn(x, HEAD, 1, act=act, name="head", norm=norm))
    return x, taps


def _head(x, cfg):
    from .blocks import classifier

    return classifier(x, cfg, dropout=0.2)


register(BackboneSpec(
    name="efficientnet_b0", family="efficientnet", trunk=_trunk, head=_head, widths=(1.0,), norm=IMAGENET,
    params={"act": "swish", "se": True}, keras_application="EfficientNetB0",
    published_top1={1.0: 77.1}, top1_source="EfficientNet paper", paper="Tan & Le 2019, arXiv:1905.11946",
))
register(BackboneSpec(
    name="efficientnet_lite0", family="efficientnet", trunk=_trunk, head=_head, widths=(1.0,), norm=IMAGENET,
    params={"act": "relu6", "se": False},
    published_top1={1.0: 75.1}, top1_source="tensorflow/tpu EfficientNet-Lite README",
    paper="Liu et al. 2020, EfficientNet-Lite (TensorFlow blog)",
))
