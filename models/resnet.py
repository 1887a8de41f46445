"""ResNet (He et al. 2016) at depths 18, 34, 50, 101 and 152, the baselines every mobile backbone is measured against.

Two flavours, each matching the reference its weights or figures come from:

- ResNet-50/101/152 are Keras' ResNet v1 (bottleneck blocks with the stride on the first 1x1 conv, biased
  convolutions, BatchNorm epsilon 1.001e-5), so keras.applications' ImageNet weights load layer for layer.
  Caffe-style BGR input, as those weights expect.
- ResNet-18/34 are torchvision's basic-block ResNets (no convolution biases, BatchNorm epsilon 1e-5, symmetric
  padding on every strided convolution), with exactly torchvision's parameter counts. There are no ImageNet
  weights for them here (torchvision's are PyTorch files), so they take torchvision's mean/std normalization.
"""

from __future__ import annotations

from .registry import CAFFE_BGR, IMAGENET, BackboneSpec, register

# Paper Table 1: bottleneck width of conv2_x .. conv5_x (a bottleneck block outputs 4x that, a basic block 1x)
# and the blocks per stage at each depth. The first block of conv3_x .. conv5_x halves the resolution.
STAGE_WIDTHS = (64, 128, 256, 512)
DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def _bottleneck(x, filters, stride, *, project, name, norm):
    """Keras v1: 1x1 (stride) -> 3x3 -> 1x1 x4, projection shortcut on the first block of a stage."""
    from .blocks import L, conv_bn

    shortcut = conv_bn(x, 4 * filters, 1, stride=stride, bias=True, name=f"{name}_0", norm=norm) if project else x
    x = conv_bn(x, filters, 1, stride=stride, bias=True, act="relu", name=f"{name}_1", norm=norm)
    x = conv_bn(x, filters, 3, bias=True, act="relu", name=f"{name}_2", norm=norm)
    x = conv_bn(x, 4 * filters, 1, bias=True, name=f"{name}_3", norm=norm)
    x = L.Add(name=f"{name}_add")([shortcut, x])
    return L.ReLU(name=f"{name}_out")(x)


def _basic(x, filters, stride, *, project, name, norm):
    """torchvision: 3x3 (stride) -> 3x3, 1x1 projection shortcut where the shape changes."""
    from .blocks import L, conv_bn

    shortcut = conv_bn(x, filters, 1, stride=stride, name=f"{name}_0", norm=norm) if project else x
    # Keras' "same" pads a strided conv on an even input only at the bottom and right; torchvision pads 1 all round
    x = conv_bn(x, filters, 3, stride=stride, pad=1 if stride > 1 else "same", act="relu", name=f"{name}_1",
                norm=norm)
    x = conv_bn(x, filters, 3, name=f"{name}_2", norm=norm)
    x = L.Add(name=f"{name}_add")([shortcut, x])
    return L.ReLU(name=f"{name}_out")(x)


_BLOCKS = {"basic": (_basic, 1), "bottleneck": (_bottleneck, 4)}  # builder, output channels per width


def _trunk(inputs, cfg):
    from .blocks import L, Norm, Taps, conv_bn

    kind, repeats = DEPTHS[cfg.params["depth"]]
    block, expansion = _BLOCKS[kind]
    keras_v1 = kind == "bottleneck"
    norm = Norm(epsilon=1.001e-5) if keras_v1 else Norm(epsilon=1e-5, momentum=0.9)
    taps = Taps()
    x = conv_bn(inputs, 64, 7, stride=2, pad=3, bias=keras_v1, act="relu", name="stem", norm=norm)
    taps.step(x, 2)
    x = L.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = taps.step(L.MaxPooling2D(3, strides=2, name="stem_pool")(x), 2)
    for stage, (filters, blocks) in enumerate(zip(STAGE_WIDTHS, repeats), start=2):
        for b in range(blocks):
            stride = 2 if b == 0 and stage > 2 else 1
            project = b == 0 and (stride > 1 or x.shape[-1] != filters * expansion)
            x = block(x, filters, stride, project=project, name=f"conv{stage}_block{b + 1}", norm=norm)
            taps.step(x, stride)
    return x, taps


def _head(x, cfg):
    from .blocks import classifier

    return classifier(x, cfg)


for _depth, _top1, _source in (
    (18, 69.758, "torchvision ResNet18_Weights.IMAGENET1K_V1"),
    (34, 73.314, "torchvision ResNet34_Weights.IMAGENET1K_V1"),
    # keras.applications' weights, which --weights imagenet loads (TF Model Garden's own ResNet-50 reports 76.71)
    (50, 74.9, "keras.io applications table"),
    (101, 76.4, "keras.io applications table"),
    (152, 76.6, "keras.io applications table"),
):
    _keras = DEPTHS[_depth][0] == "bottleneck"
    register(BackboneSpec(
        name=f"resnet{_depth}", family="resnet", trunk=_trunk, head=_head, widths=(1.0,),
        norm=CAFFE_BGR if _keras else IMAGENET, channel_order="bgr" if _keras else "rgb",
        params={"depth": _depth}, keras_application=f"ResNet{_depth}" if _keras else None,
        published_top1={1.0: _top1}, top1_source=_source, paper="He et al. 2016, arXiv:1512.03385",
    ))
