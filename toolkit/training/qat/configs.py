"""QuantizeConfigs for the layers tensorflow-model-optimization's default 8-bit registry rejects, and the 8-bit
scheme with per-channel depthwise kernels. See edgebb.training.qat for why each exists."""

from __future__ import annotations

import os

from ...core.errors import InputError


def load_tfmot():
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise InputError("quantization-aware training needs TF_USE_LEGACY_KERAS=1 before TensorFlow is imported "
                         "(tensorflow-model-optimization works only with Keras 2)")
    from ...core.tf import load_tensorflow

    load_tensorflow()
    import tensorflow_model_optimization as tfmot

    return tfmot


def quantize_configs():
    """The QuantizeConfig classes for edgebb's layers, Multiply and sigmoid, and the layers that stand in for
    hard-sigmoid and swish in a QAT model, by class name."""
    tfmot = load_tfmot()
    base = tfmot.quantization.keras.QuantizeConfig
    quantizers = tfmot.quantization.keras.quantizers

    class OutputQuantizeConfig(base):
        """No weights; the layer's output goes through an 8-bit moving-average fake quantizer."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                      narrow_range=False)]

        def get_config(self):
            return {}

    class PassThroughQuantizeConfig(OutputQuantizeConfig):
        """A layer that only moves values (a channel split): its outputs keep the input's quantization."""

        def get_output_quantizers(self, layer):
            return []

    class DepthwiseWeightsQuantizer(quantizers.LastValueQuantizer):
        """Symmetric 8-bit fake quantization of a depthwise kernel with one scale per output channel."""

        def __init__(self, **ignored):
            super().__init__(num_bits=8, per_axis=True, symmetric=True, narrow_range=True)

        def build(self, tensor_shape, name, layer):
            # the parent keeps one range per entry of the last axis; give it the kernel with channels last
            return super().build(_channels_last(tensor_shape), name, layer)

        def __call__(self, inputs, training, weights, **kwargs):
            import tensorflow as tf

            flat = tf.reshape(inputs, _channels_last(inputs.shape))
            return tf.reshape(super().__call__(flat, training, weights, **kwargs), tf.shape(inputs))

        def get_config(self):
            return {}

    class DepthwiseQuantizeConfig(base):
        """DepthwiseConv2D as the library quantizes it, but with per-channel kernel scales (see the module note):
        the kernel through DepthwiseWeightsQuantizer, the activation through an 8-bit moving-average quantizer
        (the layout transforms replace a linear activation followed by BatchNorm with a no-op, as for Conv2D)."""

        def __init__(self, **ignored):
            self.weight_quantizer = DepthwiseWeightsQuantizer()
            self.activation_quantizer = quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False,
                                                                          symmetric=False, narrow_range=False)

        def get_weights_and_quantizers(self, layer):
            return [(layer.depthwise_kernel, self.weight_quantizer)]

        def get_activations_and_quantizers(self, layer):
            return [(layer.activation, self.activation_quantizer)]

        def set_quantize_weights(self, layer, quantize_weights):
            (layer.depthwise_kernel,) = quantize_weights

        def set_quantize_activations(self, layer, quantize_activations):
            (layer.activation,) = quantize_activations

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    import tf_keras as keras

    class HardSigmoidQAT(keras.layers.Layer):
        """HardSigmoid as the converter lowers it, for QAT models only: ADD(x, 3) with a fused ReLU6 gives an
        int8 tensor before the MUL by 1/6, so that tensor is fake-quantized here too (its range calibrated and
        trained like any other); the output quantizer comes from OutputQuantizeConfig."""

        def build(self, input_shape):
            self._shifted = quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                              narrow_range=False)
            self._shifted_range = self._shifted.build(input_shape, "shifted_activation", self)
            super().build(input_shape)

        def call(self, x, training=None):
            import tensorflow as tf

            if training is None:
                training = keras.backend.learning_phase()
            shifted = tf.nn.relu6(x + 3.0)
            shifted = tf.__internal__.smart_cond.smart_cond(
                training, lambda: self._shifted(shifted, True, self._shifted_range),
                lambda: self._shifted(shifted, False, self._shifted_range))
            return shifted * (1.0 / 6.0)

    class SigmoidQuantizeConfig(OutputQuantizeConfig):
        """A sigmoid (squeeze-excite's gate): the converter's int8 LOGISTIC always outputs at scale 1/256, zero
        point -128, whatever range the model saw, so its output is fake-quantized to that fixed grid."""

        def get_output_quantizers(self, layer):
            return [quantizers.FixedQuantizer(num_bits=8, init_min=0.0, init_max=SIGMOID_MAX, narrow_range=False)]

    class SwishQAT(keras.layers.Layer):
        """swish as the converter lowers it, for QAT models only: LOGISTIC, whose int8 output sits on the fixed
        1/256 grid (see SigmoidQuantizeConfig), then MUL by the input. The gate is fake-quantized to that grid
        here; the output quantizer comes from OutputQuantizeConfig."""

        def call(self, x):
            import tensorflow as tf

            gate = tf.quantization.fake_quant_with_min_max_args(tf.sigmoid(x), min=0.0, max=SIGMOID_MAX,
                                                                 num_bits=8, narrow_range=False)
            return x * gate

    return {"OutputQuantizeConfig": OutputQuantizeConfig, "PassThroughQuantizeConfig": PassThroughQuantizeConfig,
            "DepthwiseQuantizeConfig": DepthwiseQuantizeConfig, "DepthwiseWeightsQuantizer": DepthwiseWeightsQuantizer,
            "HardSigmoidQAT": HardSigmoidQAT, "SigmoidQuantizeConfig": SigmoidQuantizeConfig, "SwishQAT": SwishQAT}


# The int8 LOGISTIC's output grid: scale 1/256 and zero point -128 give the 256 values 0, 1/256, ..., 255/256.
SIGMOID_MAX = 255.0 / 256.0


def _channels_last(shape):
    """A depthwise kernel shape (kh, kw, C, M) as (kh, kw, 1, C*M): output channel c*M + m last, as the
    converter lays it out."""
    kh, kw, c, m = (int(d) for d in shape)
    return (kh, kw, 1, c * m)


def scheme():
    """The library's default 8-bit scheme with DepthwiseConv2D taken over by DepthwiseQuantizeConfig."""
    import tf_keras as keras

    tfmot = load_tfmot()
    default = tfmot.quantization.keras.default_8bit
    depthwise = quantize_configs()["DepthwiseQuantizeConfig"]

    class Registry(default.Default8BitQuantizeRegistry):
        def get_quantize_config(self, layer):
            if type(layer) is keras.layers.DepthwiseConv2D:
                return depthwise()
            return super().get_quantize_config(layer)

    class Scheme(default.Default8BitQuantizeScheme):
        def get_quantize_registry(self):
            return Registry()

    return Scheme()


# Which of our configs each layer class takes; all other layers go to the library's default registry.
LAYER_CONFIG = {"HardSwish": "OutputQuantizeConfig", "HardSigmoidQAT": "OutputQuantizeConfig",
                 "SwishQAT": "OutputQuantizeConfig",
                 "Multiply": "OutputQuantizeConfig", "ChannelSplit": "PassThroughQuantizeConfig",
                 # Inception-ResNet's x + scale * branch: the converter folds the scale into the branch's last
                 # 1x1 conv, so one output quantizer on the sum is the int8 model's arithmetic
                 "ScaledAdd": "OutputQuantizeConfig"}
# The same for Activation layers, by activation: the library's registry gives a sigmoid no output quantizer.
ACTIVATION_CONFIG = {"sigmoid": "SigmoidQuantizeConfig"}

