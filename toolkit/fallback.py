"""Selective int8: keep the layers that quantize worst in float until the accuracy budget holds.

TensorFlow Lite's QuantizationDebugger runs the float and the quantized model side by side on calibration data
and hands us, per quantized tensor, the float and the quantized values. We score each layer by its channel noise:
the quantization error of each output channel relative to that channel's own signal (RMS), averaged over
channels. A per-tensor scale stretched by one outlier channel leaves the other channels at a few steps or zero,
which this catches (error near 1.0) where error in units of the scale does not (that stays near 0.29, the
rounding floor). The worst layers are denylisted, doubling the count each step (1, 2, 4, ...), and every
candidate is verified like any other artifact.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from ._tf import quiet
from .errors import InputError

MAX_STEPS = 8


def channel_noise(float_values, quantized_values, scale: float, zero_point: int) -> float:
    """Mean over output channels of RMS quantization error / RMS signal (0 = exact, 1 = signal lost)."""
    f = np.asarray(float_values, np.float64)
    q = (np.asarray(quantized_values, np.float64) - zero_point) * scale
    f, q = f.reshape(-1, f.shape[-1]), q.reshape(-1, q.shape[-1])
    signal = np.sqrt((f ** 2).mean(axis=0))
    floor = 1e-3 * float(np.sqrt((f ** 2).mean())) + 1e-12  # channels that are silent in float do not count
    noise = np.sqrt(((f - q) ** 2).mean(axis=0))
    live = signal > floor
    return float(np.mean(noise[live] / signal[live])) if live.any() else 0.0


def layer_errors(converter, calib) -> list[dict]:
    """Per-layer quantization error rows, worst first: op, tensor name, Keras layer, channel noise, rmse/scale."""
    import tensorflow as tf

    from .conversion import representative

    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics={"channel_noise": channel_noise})
    with quiet():
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=representative(calib),
                                                             debug_options=options)
        debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    rows = []
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        scale = float(row["scale"] or 0.0)
        rmse = math.sqrt(max(float(row["mean_squared_error"] or 0.0), 0.0))
        rows.append({"op": row["op_name"], "tensor_name": row["tensor_name"], "layer": keras_layer(row["tensor_name"]),
                     "channel_noise": float(row["channel_noise"] or 0.0),
                     "rmse_over_scale": rmse / scale if scale > 0 else 0.0})
    rows.sort(key=lambda r: r["channel_noise"], reverse=True)
    return rows


def keras_layer(tensor_name: str) -> str:
    """The Keras layer a converter tensor name comes from: "model/block3_dw_bn/FusedBatchNormV3;..." -> block3_dw_bn."""
    first = tensor_name.split(";")[0]
    parts = first.split("/")
    return parts[1] if len(parts) > 2 else parts[0]


def selective_int8(model, ev, reference, random_reference, max_drop: float, progress=None):
    """Convert `model` to int8 TFLite with the fewest worst layers in float that keeps the budget.

    Returns (content, verification, float_layers, inputs, outputs). Layers kept in float are listed by their
    Keras names. Mixed models take float32 input and output (the float layers need it).
    """
    import tensorflow as tf

    from .conversion import representative, tflite_converter, verify_content
    from .recipes import RECIPES

    recipe = RECIPES["int8"]
    say = progress or (lambda message: None)
    say(f"auto-fallback: ranking layers by quantization error on {len(ev.calib)} calibration images")
    ranking = layer_errors(tflite_converter(model, recipe, ev.calib, "float32"), ev.calib)
    if not ranking:
        raise InputError(f"auto-fallback: the quantization debugger found no quantized layers in {model.name}")
    best = None
    count = 1
    for _ in range(MAX_STEPS):
        chosen = ranking[:count]
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=[r["tensor_name"] for r in chosen])

        with quiet():
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=tflite_converter(model, recipe, ev.calib, "float32"), debug_dataset=representative(ev.calib),
                debug_options=options)
            content = debugger.get_nondebug_quantized_model()
        verification, inputs, outputs, _ = verify_content(content, "tflite", ev, reference, random_reference, max_drop)
        layers = list(dict.fromkeys(r["layer"] for r in chosen))
        say(f"auto-fallback: {len(layers)} layer(s) in float -> lost {verification.drop:.2f} points "
            f"(top-1 agreement {verification.top1_agreement:.1f}%)")
        best = (content, verification, layers, inputs, outputs)
        if verification.passed or count >= len(ranking):
            break
        count = min(count * 2, len(ranking))
    return best
