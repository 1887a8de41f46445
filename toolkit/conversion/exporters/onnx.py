"""ONNX exporters: tf2onnx for the float graph, ONNX Runtime's quantization tools for the rest."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ...core.errors import InputError
from . import ExportContext, exporter
from .tflite import converter_reason


def export_onnx_fp32(model, size: int, opset: int) -> bytes:
    """The float ONNX model from tf2onnx, with one input named "input" of shape (1, size, size, 3)."""
    import logging

    import tensorflow as tf
    import tf2onnx

    from ...models.layers import onnx_export_mode

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    spec = (tf.TensorSpec((1, size, size, 3), tf.float32, name="input"),)
    try:
        with onnx_export_mode():
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    except Exception as exc:
        raise InputError(f"tf2onnx cannot convert {model.name} at opset {opset}: {converter_reason(exc)}") from exc
    return proto.SerializeToString()


def float_model(model, ctx: ExportContext) -> bytes:
    """The float ONNX model of this conversion, made once and shared by the ONNX exporters."""
    if "onnx_fp32" not in ctx.cache:
        ctx.cache["onnx_fp32"] = export_onnx_fp32(model, ctx.size, ctx.opset)
    return ctx.cache["onnx_fp32"]


def _quantized(fp32: bytes, quantize) -> bytes:
    """Run `quantize(src_path, dst_path, tmp_folder)` on the float model's bytes; the quantized bytes."""
    with tempfile.TemporaryDirectory(prefix="edgebb-onnx-") as tmp:
        src, dst = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "q.onnx")
        with open(src, "wb") as f:
            f.write(fp32)
        quantize(src, dst, tmp)
        with open(dst, "rb") as f:
            return f.read()


def quantize_dynamic(fp32: bytes) -> bytes:
    """ONNX Runtime's dynamic quantization: int8 weights, activations quantized on the fly."""
    from onnxruntime import quantization as q

    return _quantized(fp32, lambda src, dst, tmp: q.quantize_dynamic(src, dst, weight_type=q.QuantType.QInt8))


def quantize_static(fp32: bytes, calib: np.ndarray, calib_method: str) -> bytes:
    """ONNX Runtime's static quantization of the float model: QDQ int8 calibrated on `calib`."""
    from onnxruntime import quantization as q

    def run(src, dst, tmp):
        # shape inference and graph clean-up let the quantizer cover more nodes (shapes are static here, so the
        # symbolic pass, which would need sympy, is skipped)
        pre = os.path.join(tmp, "pre.onnx")
        q.quant_pre_process(src, pre, skip_symbolic_shape=True)
        methods = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
                   "percentile": q.CalibrationMethod.Percentile}
        q.quantize_static(pre, dst, CalibrationReader(calib), quant_format=q.QuantFormat.QDQ, per_channel=True,
                          activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8,
                          calibrate_method=methods[calib_method])

    return _quantized(fp32, run)


class CalibrationReader:
    """Feeds calibration images to ONNX Runtime's quantizer one at a time (it asks through get_next)."""

    def __init__(self, calib: np.ndarray):
        self._items = iter(range(len(calib)))
        self._calib = calib

    def get_next(self):
        i = next(self._items, None)
        return None if i is None else {"input": self._calib[i:i + 1]}

    def rewind(self):
        self._items = iter(range(len(self._calib)))


@exporter("onnx", "fp32", lambda ctx: {"io_dtype": "float32", "opset": ctx.opset})
def _fp32(model, ctx: ExportContext) -> bytes:
    return float_model(model, ctx)


@exporter("onnx", "dynamic", lambda ctx: {"io_dtype": "float32", "opset": ctx.opset})
def _dynamic(model, ctx: ExportContext) -> bytes:
    return quantize_dynamic(float_model(model, ctx))


@exporter("onnx", "int8", lambda ctx: {"io_dtype": "float32", "calibration_images": len(ctx.calib),
                                       "opset": ctx.opset, "calib_method": ctx.calib_method})
def _int8(model, ctx: ExportContext) -> bytes:
    return quantize_static(float_model(model, ctx), ctx.calib, ctx.calib_method)
