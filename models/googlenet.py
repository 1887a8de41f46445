"""GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions"), Table 1 of the paper.

Inception modules with the table's widths and its four branches: 1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 5x5;
3x3/1 max-pool -> 1x1 projection, concatenated in that order. No auxiliary classifiers (they only serve training).
torchvision's googlenet uses a 3x3 convolution where the paper's third branch has 5x5 (a bug its source
acknowledges, pytorch/vision#906, kept for its trained weights); this model has the paper's 5x5.

Two changes from the paper, both for deployment:

- The paper's two LocalResponseNorm layers (after the first max-pool and after the 3x3 conv) are left out: the
  TFLite converter, tf2onnx and QAT handle LRN poorly. Instead every convolution is followed by BatchNorm
  (epsilon 1e-3) and has no bias, as in torchvision's GoogLeNet; BatchNorm folds into the convolutions on export.
- Max-pools use "same" padding (torchvision uses ceil mode; the sizes agree at every multiple of 32).

Cost at 224x224, 1000 classes: 6,991,272 parameters without BatchNorm (convolution kernels, classifier weights
and bias) plus 14,560 BatchNorm scales and offsets = 7,005,832 trainable, and 1.583 G MACs. Table 1 sums to
6.80 M parameters and its text says 1.5 G multiply-adds, but the table undercounts its own layers: conv1 is listed
as 2.7 K parameters / 34 M ops where a 7x7x3x64 convolution at 112x112 has 9.4 K / 118 M, and several rows'
parameters do not follow from their widths (inception 4c: 463 K listed, 509 K from its widths; its 100 M ops do
match). Every other row's ops match this model within 6%. torchvision's 3x3 version has 6,624,904 parameters and
1.50 G MACs; the difference is exactly the 5x5 kernels (380,928 parameters, 84 M MACs).
"""

from __future__ import annotations

from .registry import IMAGENET, BackboneSpec, register

# Paper Table 1: ("conv", filters, kernel, stride) | ("pool",) (3x3/2 max-pool) |
# (module, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
LAYERS = [
    ("conv", 64, 7, 2), ("pool",),
    ("conv", 64, 1, 1), ("conv", 192, 3, 1), ("pool",),
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64), ("pool",),
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128), ("pool",),
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
]
DROPOUT = 0.4


def _inception(x, n1, r3, n3, r5, n5, proj, *, name, norm):
    from .blocks import L, conv_bn

    def cbr(y, filters, kernel, part):
        return conv_bn(y, filters, kernel, act="relu", name=f"{name}_{part}", norm=norm)

    b1 = cbr(x, n1, 1, "1x1")
    b3 = cbr(cbr(x, r3, 1, "3x3_reduce"), n3, 3, "3x3")
    b5 = cbr(cbr(x, r5, 1, "5x5_reduce"), n5, 5, "5x5")
    bp = L.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = cbr(bp, proj, 1, "pool_proj")
    return L.Concatenate(name=f"{name}_concat")([b1, b3, b5, bp])


def _trunk(inputs, cfg):
    from .blocks import L, Norm, Taps, conv_bn

    norm, taps, x = Norm(), Taps(), inputs
    convs = pools = 0
    for op, *args in LAYERS:
        if op == "conv":
            filters, kernel, stride = args
            convs += 1
            pad = kernel // 2 if stride > 1 else "same"  # symmetric, as the paper's and torchvision's pad 3
            x = conv_bn(x, filters, kernel, stride=stride, pad=pad, act="relu", name=f"conv{convs}", norm=norm)
            taps.step(x, stride)
        elif op == "pool":
            pools += 1
            x = taps.step(L.MaxPooling2D(3, strides=2, padding="same", name=f"pool{pools}")(x), 2)
        else:
            x = taps.step(_inception(x, *args, name=f"inception_{op}", norm=norm))
    return x, taps


def _head(x, cfg):
    from .blocks import classifier

    return classifier(x, cfg, dropout=DROPOUT)


register(BackboneSpec(
    name="googlenet", family="googlenet", trunk=_trunk, head=_head, widths=(1.0,), norm=IMAGENET,
    published_top1={1.0: 69.778}, top1_source="torchvision GoogLeNet_Weights.IMAGENET1K_V1 (3x3 in place of 5x5)",
    paper="Szegedy et al. 2014, arXiv:1409.4842",
))
