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
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..core.errors import InputError
from ..core.progress import Progress, as_progress
from ..core.registry import Registry
from ..core.tf import quiet
from .verify import ArtifactCheck, Budget, verify_content

MAX_STEPS = 8


@dataclass
class MixedPrecision:
    """An artifact with some layers kept in float: its bytes, its check against the float model, the layers kept
    in float (by Keras name) and the manifest options that change with them."""

    content: bytes
    check: ArtifactCheck
    float_layers: list[str]
    options: dict = field(default_factory=dict)
    candidates: int = 0  # how many layers (or nodes) were ranked, of which float_layers were kept in float


@dataclass(frozen=True)
class Repair:
    """How --auto-fallback repairs an artifact of `format` made with `recipe` that broke the budget."""

    format: str
    recipe: str
    run: Callable[..., MixedPrecision]

    @property
    def key(self) -> str:
        return f"{self.format}:{self.recipe}"


REPAIRS: Registry[Repair] = Registry("auto-fallback repair", key=lambda r: r.key)


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

    from .exporters.tflite import representative
    from .exporters.tflite_ranges import dead_ranges_widened

    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics={"channel_noise": channel_noise})
    with quiet(), dead_ranges_widened([]):  # as the plain export calibrates: a range of 0 makes a file XNNPACK refuses
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


def selective_int8(model, ev, reference, random_reference, budget: Budget, ctx=None,
                   progress: Progress | None = None) -> MixedPrecision:
    """Convert `model` to int8 TFLite with the fewest worst layers in float that keeps the budget.

    Layers kept in float are listed by their Keras names. Mixed models take float32 input and output (the float
    layers need it).
    """
    import tensorflow as tf

    from .exporters.tflite import representative, tflite_converter
    from .exporters.tflite_ranges import dead_ranges_widened

    say = as_progress(progress)
    say.say(f"auto-fallback: ranking layers by quantization error on {len(ev.calib)} calibration images")
    ranking = layer_errors(tflite_converter(model, "int8", ev.calib, "float32"), ev.calib)
    if not ranking:
        raise InputError(f"auto-fallback: the quantization debugger found no quantized layers in {model.name}")
    def attempt(count: int) -> MixedPrecision:
        chosen = ranking[:count]
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=[r["tensor_name"] for r in chosen])
        widened: list[str] = []
        with quiet(), dead_ranges_widened(widened):
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=tflite_converter(model, "int8", ev.calib, "float32"), debug_dataset=representative(ev.calib),
                debug_options=options)
            content = debugger.get_nondebug_quantized_model()
        check = verify_content(content, "tflite", ev, reference, random_reference, budget)
        layers = list(dict.fromkeys(r["layer"] for r in chosen))
        return MixedPrecision(content, check, layers, {"io_dtype": "float32", **(
            {"zero_ranges_widened": sorted(set(widened))} if widened else {})})

    return grow_until_budget(len(ranking), attempt, "layer(s)", say)


def grow_until_budget(ranked: int, attempt: Callable[[int], MixedPrecision], unit: str, say) -> MixedPrecision:
    """`attempt(n)` with the n worst of `ranked` items in float, n = 1, 2, 4, ... until the budget holds, every item
    is in float or MAX_STEPS tries are spent; the last attempt."""
    count = 1
    for _ in range(MAX_STEPS):
        best = attempt(count)
        verification = best.check.verification
        say.say(f"auto-fallback: {len(best.float_layers)} {unit} in float -> "
                + (f"lost {verification.drop:.2f} points, " if verification.drop is not None else "")
                + f"top-1 agreement {verification.top1_agreement:.1f}%")
        if verification.passed or count >= ranked:
            break
        count = min(count * 2, ranked)
    return replace(best, candidates=ranked)


REPAIRS.register(Repair("tflite", "int8", selective_int8))

from . import mixed_precision_onnx  # noqa: E402,F401  (registers the ONNX repair)
