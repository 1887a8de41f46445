"""VGG-16 and VGG-19 (Simonyan & Zisserman 2014, configurations D and E), as keras.applications builds them.

Plain 3x3 convolutions with biases and ReLU, no BatchNorm, a 2x2/2 max-pool after each stage, then Flatten and
two 4096-wide dense layers. keras.applications' ImageNet weights load layer for layer; they expect caffe-style
BGR input. The paper's dropout (0.5 after fc1 and fc2) is kept for training; keras.applications leaves it out,
which changes nothing at inference.

The head flattens the last feature map, so fc1's size depends on the input: ImageNet weights with the classifier
need 224x224 input (a 7x7x512 map). `features=True` returns the last conv of stages 3 to 5 (strides 4, 8, 16)
and the final pool (stride 32).
"""

from __future__ import annotations

from .registry import CAFFE_BGR, BackboneSpec, register

# Paper Table 1: convolutions per stage in configurations D (VGG-16) and E (VGG-19); every stage ends in a pool.
STAGE_FILTERS = (64, 128, 256, 512, 512)
STAGE_CONVS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
FC_UNITS, FC_DROPOUT = 4096, 0.5


def _trunk(inputs, cfg):
    from .blocks import L, Taps, conv_bn

    taps, x = Taps(), inputs
    for stage, (filters, convs) in enumerate(zip(STAGE_FILTERS, cfg.params["convs"]), start=1):
        for i in range(1, convs + 1):
            x = conv_bn(x, filters, 3, bias=True, act="relu", name=f"block{stage}_{i}", norm=None)
        taps.step(x)
        x = taps.step(L.MaxPooling2D(2, strides=2, name=f"block{stage}_pool")(x), 2)
    return x, taps


def _head(x, cfg):
    from .blocks import L, activation

    x = L.Flatten(name="flatten")(x)
    for fc in ("fc1", "fc2"):
        x = activation(L.Dense(FC_UNITS, name=fc)(x), "relu", fc)
        x = L.Dropout(FC_DROPOUT, name=f"{fc}_dropout")(x)
    x = L.Dense(cfg.num_classes, name="predictions")(x)
    return L.Activation("softmax", name="predictions_softmax")(x)


for _name, _app in (("vgg16", "VGG16"), ("vgg19", "VGG19")):
    register(BackboneSpec(
        name=_name, family="vgg", trunk=_trunk, head=_head, widths=(1.0,), norm=CAFFE_BGR, channel_order="bgr",
        params={"convs": STAGE_CONVS[_name]}, keras_application=_app,
        published_top1={1.0: 71.3}, top1_source="keras.io applications table",
        paper="Simonyan & Zisserman 2014, arXiv:1409.1556",
    ))
