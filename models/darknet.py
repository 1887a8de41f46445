"""DarkNet-19 (Redmon & Farhadi 2016, "YOLO9000: Better, Faster, Stronger", Table 6), YOLOv2's classifier.

19 convolutions and 5 max-pools: 3x3 and 1x1 convolutions, each without bias and followed by BatchNorm and a
leaky ReLU of slope 0.1 (Keras' LeakyReLU layer, which the TFLite converter, tf2onnx and QAT all take); 2x2/2
max-pools; then the classifier is a 1x1 convolution to the classes (biased, linear, as in darknet19.cfg), global
average pooling and softmax.

Cost at 224x224, 1000 classes: 2.79 G MACs. The paper's "5.58 billion operations" are darknet's FLOPs, which count
2 x MACs. There are no ImageNet weights (darknet's are in its own format); inputs take torchvision's mean/std
normalization (darknet itself only scales to [0, 1]; with BatchNorm after the first convolution the difference
is a per-channel affine map that training absorbs).
"""

from __future__ import annotations

from .registry import IMAGENET, BackboneSpec, register

# Paper Table 6: (filters, kernel) per convolution, "M" for a 2x2/2 max-pool. The classifier (conv19) is the head.
LAYERS = [
    (32, 3), "M",
    (64, 3), "M",
    (128, 3), (64, 1), (128, 3), "M",
    (256, 3), (128, 1), (256, 3), "M",
    (512, 3), (256, 1), (512, 3), (256, 1), (512, 3), "M",
    (1024, 3), (512, 1), (1024, 3), (512, 1), (1024, 3),
]


def _trunk(inputs, cfg):
    from .blocks import L, Norm, Taps, conv_bn

    norm, taps, x = Norm(epsilon=1e-5), Taps(), inputs
    convs = pools = 0
    for layer in LAYERS:
        if layer == "M":
            pools += 1
            x = taps.step(L.MaxPooling2D(2, strides=2, name=f"pool{pools}")(x), 2)
        else:
            convs += 1
            filters, kernel = layer
            x = taps.step(conv_bn(x, filters, kernel, act="leaky_relu", name=f"conv{convs}", norm=norm))
    return x, taps


def _head(x, cfg):
    from .blocks import L, conv_bn

    x = conv_bn(x, cfg.num_classes, 1, bias=True, name="conv19", norm=None)
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    return L.Activation("softmax", name="predictions_softmax")(x)


register(BackboneSpec(
    name="darknet19", family="darknet", trunk=_trunk, head=_head, widths=(1.0,), norm=IMAGENET,
    published_top1={1.0: 72.9}, top1_source="YOLO9000 paper (arXiv:1612.08242), 224x224",
    paper="Redmon & Farhadi 2016, arXiv:1612.08242",
))
