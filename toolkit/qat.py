"""Quantization-aware training for every backbone in the zoo.

tensorflow-model-optimization's default 8-bit registry covers convolutions, BatchNorm folding, ReLU/ReLU6,
swish, sigmoid, pooling, Add, Concatenate, Reshape and Permute, but rejects the layers that squeeze-excite,
hard-swish and ShuffleNet need: Multiply, and edgebb's HardSwish, HardSigmoid and ChannelSplit. Those get
QuantizeConfigs here, matching what the TFLite converter does for the same ops at inference: an 8-bit output
quantizer after hard-swish, hard-sigmoid and the excite multiply; nothing for the channel split (it keeps its
input's scale). Everything else is left to the library's own registry.
"""

from __future__ import annotations

import os

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

    return {"OutputQuantizeConfig": OutputQuantizeConfig, "PassThroughQuantizeConfig": PassThroughQuantizeConfig}


# Which of our configs each layer class takes; all other layers go to the library's default registry.
_LAYER_CONFIG = {"HardSwish": "OutputQuantizeConfig", "HardSigmoid": "OutputQuantizeConfig",
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
        name = _LAYER_CONFIG.get(type(layer).__name__)
        if name:
            return qk.quantize_annotate_layer(layer, configs[name]())
        return qk.quantize_annotate_layer(layer)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    try:
        with scope():
            return qk.quantize_apply(annotated)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"quantization-aware training cannot quantize {model.name}: {first_line(exc)}") from exc
