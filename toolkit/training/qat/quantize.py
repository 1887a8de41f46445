"""Fake quantization inserted into a float model, and its activation ranges calibrated before fine-tuning."""

from __future__ import annotations

import contextlib

import numpy as np

from ...core.errors import InputError, first_line
from .configs import ACTIVATION_CONFIG, LAYER_CONFIG, load_tfmot, quantize_configs, scheme


def scope():
    """The custom objects a QAT model needs to be built, saved and loaded."""
    from ...models.layers import CUSTOM_OBJECTS

    tfmot = load_tfmot()
    return tfmot.quantization.keras.quantize_scope({**CUSTOM_OBJECTS, **quantize_configs()})


def quantize_model(model):
    """A copy of `model` with fake quantization inserted for QAT (weights carried over).

    Raises InputError naming the layer when a layer cannot be quantized.
    """
    import tf_keras as keras

    tfmot = load_tfmot()
    qk = tfmot.quantization.keras
    configs = quantize_configs()

    def annotate(layer):
        kind = type(layer).__name__
        activation = layer.get_config().get("activation") if kind == "Activation" else None
        if kind == "HardSigmoid":
            layer = configs["HardSigmoidQAT"](name=layer.name)
        elif activation == "swish":
            layer = configs["SwishQAT"](name=layer.name)
        name = LAYER_CONFIG.get(type(layer).__name__) or ACTIVATION_CONFIG.get(activation)
        if name:
            return qk.quantize_annotate_layer(layer, configs[name]())
        return qk.quantize_annotate_layer(layer)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    for layer, copy in zip(model.layers, annotated.layers):  # one by one: HardSigmoidQAT has variables of its own
        if layer.weights:
            copy.set_weights(layer.get_weights())
    try:
        with scope():
            return qk.quantize_apply(annotated, scheme=scheme())
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
    load_tfmot()
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
