"""The few layers the zoo needs that Keras 2 does not have as layers.

Each is a plain Layer (never a Lambda or an op-lambda), so it serialises by name, converts to a single TFLite or
ONNX op pattern, and can be given a QuantizeConfig for quantization-aware training. They are registered under the
`edgebb` package so `tf_keras.models.load_model` finds them once edgebb.models is imported.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf
import tf_keras as keras

_RANK1_CONSTANTS = False


@contextlib.contextmanager
def onnx_export_mode():
    """Trace edgebb's layers with rank-1 constants instead of scalars, for tf2onnx.

    Two upstream bugs pull opposite ways: tf2onnx's transpose optimizer fails on a scalar Add operand and then
    leaves NHWC<->NCHW transposes around every hard-swish (106 Transpose nodes in MobileNetV3-Small instead of
    1), while TensorFlow's oneDNN graph rewrite fuses a rank-1 Add into the preceding Conv2D and fails at run
    time. Scalars everywhere else, rank-1 while tf2onnx traces. TFLite fuses either form into HARD_SWISH.
    """
    global _RANK1_CONSTANTS
    saved, _RANK1_CONSTANTS = _RANK1_CONSTANTS, True
    try:
        yield
    finally:
        _RANK1_CONSTANTS = saved


def _constant(value: float):
    """A Python scalar, or a rank-1 constant while tf2onnx traces (see onnx_export_mode)."""
    return tf.constant([value]) if _RANK1_CONSTANTS else value


def _relu6_shifted(x):
    """relu6(x + 3) / 6."""
    return tf.nn.relu6(x + _constant(3.0)) * _constant(1.0 / 6.0)


@keras.saving.register_keras_serializable(package="edgebb")
class HardSigmoid(keras.layers.Layer):
    """relu6(x + 3) / 6, the piecewise-linear sigmoid of MobileNetV3 (Howard et al. 2019)."""

    def call(self, x):
        return _relu6_shifted(x)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="edgebb")
class HardSwish(keras.layers.Layer):
    """x * relu6(x + 3) / 6; TFLite's converter fuses this pattern into its HARD_SWISH op."""

    def call(self, x):
        return x * _relu6_shifted(x)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="edgebb")
class ChannelSplit(keras.layers.Layer):
    """Split the channel axis into `num_splits` equal parts (ShuffleNetV2's channel split)."""

    def __init__(self, num_splits: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.num_splits = num_splits

    def call(self, x):
        return tf.split(x, self.num_splits, axis=-1)

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape).as_list()
        shape[-1] //= self.num_splits
        return [tf.TensorShape(shape)] * self.num_splits

    def get_config(self):
        return {**super().get_config(), "num_splits": self.num_splits}


@keras.saving.register_keras_serializable(package="edgebb")
class ScaledAdd(keras.layers.Layer):
    """`x + scale * residual` for inputs `[x, residual]`: Inception-ResNet's scaled residual sum (Szegedy et al.
    2016, section 3.3), which keras.applications writes as a Lambda. Same operations in the same order as that
    Lambda, so outputs match it bit for bit; converts to a MUL by a constant and an ADD."""

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        x, residual = inputs
        return x + residual * _constant(self.scale)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


CUSTOM_OBJECTS = {cls.__name__: cls for cls in (HardSigmoid, HardSwish, ChannelSplit, ScaledAdd)}
