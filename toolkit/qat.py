"""Quantization-aware training for every backbone in the zoo.

tensorflow-model-optimization's default 8-bit registry covers convolutions, BatchNorm folding, ReLU/ReLU6,
swish, sigmoid, pooling, Add, Concatenate, Reshape and Permute, but rejects the layers that squeeze-excite,
hard-swish and ShuffleNet need: Multiply, and edgebb's HardSwish, HardSigmoid and ChannelSplit. Those get
QuantizeConfigs here, matching what the TFLite converter does for the same ops at inference: an 8-bit output
quantizer after hard-swish, hard-sigmoid and the excite multiply; nothing for the channel split (it keeps its
input's scale).

One default is replaced because it breaks the promise that QAT accuracy carries over to the int8 model: the
library quantizes a depthwise kernel (kh, kw, C, 1) "per axis" over its last axis, which has one entry, so the
whole kernel shares one scale. The converter then folds BatchNorm into that kernel and re-quantizes it per
channel, which rounds every weight again: the int8 model is not the model QAT trained, and on a small
MobileNetV3 a sixth of the top-1 predictions changed. Here depthwise kernels get one scale per channel; BatchNorm
folding multiplies each channel by a constant, which maps a per-channel grid exactly onto the converter's.
Everything else is left to the library's own registry and layout transforms.

And one starting point is replaced: every activation range starts at the library's [-6, 6] and moves towards
what it sees by 0.1% a step, so after the few hundred steps of a QAT fine-tune most ranges are still about
[-6, 6] (a hard-sigmoid gate in [0, 1] gets some 20 levels), and the converter takes those ranges as they are.
`calibrate_ranges` sets them from real activations first, as post-training calibration would; fine-tuning then
starts from the int8 model PTQ would give and improves on it.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from .errors import InputError, first_line


def _tfmot():
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise InputError("quantization-aware training needs TF_USE_LEGACY_KERAS=1 before TensorFlow is imported "
                         "(tensorflow-model-optimization works only with Keras 2)")
    from ._tf import load_tensorflow

    load_tensorflow()
    import tensorflow_model_optimization as tfmot

    return tfmot


def quantize_configs():
    """The QuantizeConfig classes for edgebb's layers and Multiply, by layer class name."""
    tfmot = _tfmot()
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

    return {"OutputQuantizeConfig": OutputQuantizeConfig, "PassThroughQuantizeConfig": PassThroughQuantizeConfig,
            "DepthwiseQuantizeConfig": DepthwiseQuantizeConfig, "DepthwiseWeightsQuantizer": DepthwiseWeightsQuantizer,
            "HardSigmoidQAT": HardSigmoidQAT}


def _channels_last(shape):
    """A depthwise kernel shape (kh, kw, C, M) as (kh, kw, 1, C*M): output channel c*M + m last, as the
    converter lays it out."""
    kh, kw, c, m = (int(d) for d in shape)
    return (kh, kw, 1, c * m)


def _scheme():
    """The library's default 8-bit scheme with DepthwiseConv2D taken over by DepthwiseQuantizeConfig."""
    import tf_keras as keras

    tfmot = _tfmot()
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
_LAYER_CONFIG = {"HardSwish": "OutputQuantizeConfig", "HardSigmoidQAT": "OutputQuantizeConfig",
                 "Multiply": "OutputQuantizeConfig", "ChannelSplit": "PassThroughQuantizeConfig"}


def scope():
    """The custom objects a QAT model needs to be built, saved and loaded."""
    from .models.layers import CUSTOM_OBJECTS

    tfmot = _tfmot()
    return tfmot.quantization.keras.quantize_scope({**CUSTOM_OBJECTS, **quantize_configs()})


def quantize_model(model):
    """A copy of `model` with fake quantization inserted for QAT (weights carried over).

    Raises InputError naming the layer when a layer cannot be quantized.
    """
    import tf_keras as keras

    tfmot = _tfmot()
    qk = tfmot.quantization.keras
    configs = quantize_configs()

    def annotate(layer):
        if type(layer).__name__ == "HardSigmoid":
            layer = configs["HardSigmoidQAT"](name=layer.name)
        name = _LAYER_CONFIG.get(type(layer).__name__)
        if name:
            return qk.quantize_annotate_layer(layer, configs[name]())
        return qk.quantize_annotate_layer(layer)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    for layer, copy in zip(model.layers, annotated.layers):  # one by one: HardSigmoidQAT has variables of its own
        if layer.weights:
            copy.set_weights(layer.get_weights())
    try:
        with scope():
            return qk.quantize_apply(annotated, scheme=_scheme())
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"quantization-aware training cannot quantize {model.name}: {first_line(exc)}") from exc


# The variables of the library's moving-average (activation) quantizers end in these names; weight quantizers'
# ranges (kernel_min, depthwise_kernel_max, ...) are recomputed from the weights at every training step instead.
_ACTIVATION_RANGE = ("output_min", "output_max", "activation_min", "activation_max")


def _is_activation_range(variable_name: str) -> bool:
    name = variable_name.split("/")[-1].split(":")[0]
    return name.endswith(_ACTIVATION_RANGE) or (name.startswith("quantize_layer") and name.endswith(("_min", "_max")))


@contextlib.contextmanager
def _ranges_follow_each_batch():
    """While active, each moving-average quantizer takes the range of the batch in front of it (EMA decay 0)
    rather than moving 0.1% of the way there; its fake quantization then uses that range."""
    _tfmot()
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

    library = quant_ops.MovingAvgQuantize

    def follow(*args, **kwargs):
        return library(*args, **{**kwargs, "ema_decay": 0.0})

    quant_ops.MovingAvgQuantize = follow
    try:
        yield
    finally:
        quant_ops.MovingAvgQuantize = library


def calibrate_ranges(qat_model, batches) -> int:
    """Set each activation range of `qat_model` to the smallest min and largest max its input reaches over
    `batches` (image arrays), with BatchNorm in inference mode and every upstream tensor already fake-quantized
    with its own calibrated range, as the converter's calibration would. Returns how many ranges were set."""
    import tf_keras as keras

    ranges = [v for v in qat_model.non_trainable_weights if _is_activation_range(v.name)]
    norms = [m for m in qat_model.submodules if isinstance(m, keras.layers.BatchNormalization)]
    trainable = [m.trainable for m in norms]
    seen: dict = {}
    try:
        for m in norms:
            m.trainable = False  # a frozen BatchNorm uses its moving statistics even in training mode
        with _ranges_follow_each_batch():
            for x in batches:
                qat_model(x, training=True)  # training mode is what makes the quantizers record ranges
                for v in ranges:
                    now, before = v.numpy(), seen.get(v.ref())
                    pick = np.minimum if v.name.split(":")[0].endswith("min") else np.maximum
                    seen[v.ref()] = now if before is None else pick(before, now)
    finally:
        for m, flag in zip(norms, trainable):
            m.trainable = flag
    for v in ranges:
        if v.ref() in seen:
            v.assign(seen[v.ref()])
    return len(seen)
