"""ResNet-50 (He et al. 2016), the baseline every mobile backbone is measured against.

This is Keras' ResNet v1 (stride on the first 1x1 conv of a stage, biased convolutions), so keras.applications'
ImageNet weights load layer for layer.
"""

from __future__ import annotations

from .registry import CAFFE_BGR, BackboneSpec, register

# (bottleneck width, blocks, first stride); each block is 1x1 -> 3x3 -> 1x1 x4, with a projection shortcut first.
STAGES = [
    (64, 3, 1),
    (128, 4, 2),
    (256, 6, 2),
    (512, 3, 2),
]


def _bottleneck(x, filters, stride, *, project, name, norm):
    from .blocks import L, conv_bn

    shortcut = conv_bn(x, 4 * filters, 1, stride=stride, bias=True, name=f"{name}_0", norm=norm) if project else x
    x = conv_bn(x, filters, 1, stride=stride, bias=True, act="relu", name=f"{name}_1", norm=norm)
    x = conv_bn(x, filters, 3, bias=True, act="relu", name=f"{name}_2", norm=norm)
    x = conv_bn(x, 4 * filters, 1, bias=True, name=f"{name}_3", norm=norm)
    x = L.Add(name=f"{name}_add")([shortcut, x])
    return L.ReLU(name=f"{name}_out")(x)


def _trunk(inputs, cfg):
    from .blocks import L, Norm, Taps, conv_bn

    norm, taps = Norm(epsilon=1.001e-5), Taps()
    x = taps.step(conv_bn(inputs, 64, 7, stride=2, pad=3, bias=True, act="relu", name="stem", norm=norm), 2)
    x = L.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = taps.step(L.MaxPooling2D(3, strides=2, name="stem_pool")(x), 2)
    for stage, (filters, blocks, first_stride) in enumerate(STAGES, start=2):
        for b in range(blocks):
            stride = first_stride if b == 0 else 1
            x = _bottleneck(x, filters, stride, project=b == 0, name=f"conv{stage}_block{b + 1}", norm=norm)
            taps.step(x, stride)
    return x, taps


def _head(x, cfg):
    from .blocks import classifier

    return classifier(x, cfg)


register(BackboneSpec(
    name="resnet50", family="resnet", trunk=_trunk, head=_head, widths=(1.0,), norm=CAFFE_BGR,
    channel_order="bgr", keras_application="ResNet50",
    published_top1={1.0: 76.71}, top1_source="tensorflow/models official QAT README",
    paper="He et al. 2016, arXiv:1512.03385",
))
