"""TFLite exporters: the TensorFlow Lite converter set up per recipe.

The converter's full-integer output is byte-identical across runs given the same model and calibration data,
which is what lets edgebb promise byte-identical artifacts for the same inputs and --seed.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np

from ...core.errors import InputError
from . import ExportContext, exporter


def representative(calib: np.ndarray):
    """The calibration images one at a time, as the TFLite converter and its QuantizationDebugger take them."""

    def dataset():
        for i in range(len(calib)):
            yield [calib[i:i + 1]]

    return dataset


def _float(converter, tf, calib, io_dtype):
    pass


def _fp16(converter, tf, calib, io_dtype):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _dynamic(converter, tf, calib, io_dtype):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _int8(converter, tf, calib, io_dtype):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative(calib)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = getattr(tf, io_dtype)
    converter.inference_output_type = getattr(tf, io_dtype)


def _int16x8(converter, tf, calib, io_dtype):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative(calib)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]


# int8-qat converts a model with fake quantization inside: the converter takes its trained ranges and calibrates
# only what training left without one (the input, and tensors no quantizer follows).
SETUP = {"fp32": _float, "fp16": _fp16, "dynamic": _dynamic, "int8": _int8, "int16x8": _int16x8, "int8-qat": _int8}


def _integer_io(recipe: str) -> bool:
    from ..recipes import get_recipe

    return get_recipe(recipe).integer_io


def tflite_converter(model, recipe: str, calib: np.ndarray, io_dtype: str = "float32"):
    """A TFLiteConverter for `model` set up for `recipe` (calibrated on `calib` where the recipe needs it)."""
    import tensorflow as tf

    converter = keras_converter(model)
    SETUP[recipe](converter, tf, calib, io_dtype)
    return converter


def keras_converter(model):
    """A TFLiteConverter of `model`'s forward pass, as `TFLiteConverter.from_keras_model` makes it, in a quarter of
    the time.

    from_keras_model saves the whole Keras model as a SavedModel first and loads it back; saving traces every
    layer's functions for Keras's own metadata (18 s of a 22 s conversion of MobileNetV2 0.35 at 32 px). The
    converter needs only the forward pass and the weights: one traced function in a module that holds the weights,
    with the model's input names and its output names as the serving signature's keys (multi-output models keep
    their names), converts to the same graph and the same outputs."""
    import tensorflow as tf

    names = list(model.output_names)

    def forward(*inputs):
        outputs = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        return dict(zip(names, outputs if isinstance(outputs, (list, tuple)) else [outputs]))

    specs = [tf.TensorSpec((None, *i.shape[1:]), i.dtype, name=i.name.split(":")[0]) for i in model.inputs]
    function = tf.function(forward).get_concrete_function(*specs)
    weights = tf.Module()
    weights.variables_of_the_model = list(model.weights)  # kept alive by the converter, saved with the function
    return tf.lite.TFLiteConverter.from_concrete_functions([function], weights)


def export_tflite(model, recipe, calib: np.ndarray, io_dtype: str) -> bytes:
    """The .tflite bytes of `model` under `recipe` (a Recipe or its name). Raises InputError when the converter
    refuses a layer."""
    recipe = getattr(recipe, "name", recipe)
    return export_tflite_widened(model, recipe, calib, io_dtype)[0]


def export_tflite_widened(model, recipe: str, calib: np.ndarray, io_dtype: str) -> tuple[bytes, list[str]]:
    """export_tflite's bytes, and the tensors of a full-integer file that were 0 on every calibration image and
    were given the model's typical range (edgebb.conversion.exporters.tflite_ranges)."""
    from .tflite_ranges import dead_ranges_widened

    integer = _integer_io(recipe)
    converter = tflite_converter(model, recipe, calib, io_dtype if integer else "float32")
    widened: list[str] = []
    try:
        with dead_ranges_widened(widened) if integer else contextlib.nullcontext():
            return converter.convert(), widened
    except Exception as exc:
        reason = converter_reason(exc)
        op = re.search(r"'tf\.(\w+)' op", reason) or re.search(r"op: '?(\w+)'?", reason)
        layers = _layers_with_op(model, op.group(1)) if op else []
        where = f" in layer {', '.join(layers)}" if layers else ""
        raise InputError(f"the TFLite converter cannot make {recipe} from {model.name}{where}: {reason}") from exc


def converter_reason(exc: BaseException) -> str:
    """The most telling line of a converter error: the one naming the op or layer, else the first."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln and ("op" in ln or "layer" in ln or "quantiz" in ln):
            return ln[ln.index("error:") + 6:].strip()[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _layers_with_op(model, op_type: str) -> list[str]:
    """Names of the model's layers whose traced graph contains a TensorFlow op of `op_type` (e.g. "Erf").

    Only run on the error path: tracing every layer takes a few seconds on a large model.
    """
    import tensorflow as tf

    found = []
    for layer in model.layers:
        if isinstance(layer.input, list) or not layer.built or type(layer).__name__ == "InputLayer":
            continue
        try:
            graph = tf.function(layer.call).get_concrete_function(
                tf.TensorSpec(layer.input.shape, layer.input.dtype)).graph
        except Exception:
            continue
        if any(op.type == op_type for op in graph.get_operations()):
            found.append(layer.name)
    return found


def _register(recipe: str) -> None:
    def describe(ctx: ExportContext) -> dict:
        from ..recipes import get_recipe

        options = {"io_dtype": ctx.io_dtype if _integer_io(recipe) else "float32"}
        if get_recipe(recipe).calibrated:
            options["calibration_images"] = len(ctx.calib)
        if ctx.cache.get(f"tflite_zero_ranges:{recipe}"):
            options["zero_ranges_widened"] = ctx.cache[f"tflite_zero_ranges:{recipe}"]
        return options

    @exporter("tflite", recipe, describe)
    def export(model, ctx: ExportContext) -> bytes:
        content, ctx.cache[f"tflite_zero_ranges:{recipe}"] = export_tflite_widened(model, recipe, ctx.calib,
                                                                                   ctx.io_dtype)
        return content


for _recipe in SETUP:
    _register(_recipe)
