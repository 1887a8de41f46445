"""ONNX exporters: tf2onnx for the float graph, ONNX Runtime's quantization tools for the rest."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ...core.errors import InputError
from . import ExportContext, exporter
from .onnx_int8 import concatenate_quantized, pad_depthwise_channels, pad_input_channels
from .tflite import converter_reason


def export_onnx_fp32(model, size: int, opset: int) -> bytes:
    """The float ONNX model from tf2onnx, with one input named "input" of shape (1, size, size, 3); its kernels
    bypass tf2onnx (edgebb.conversion.exporters.onnx_weights), which would otherwise need gigabytes per hundred
    megabytes of weights."""
    import logging

    from ...models.layers import onnx_export_mode
    from .onnx_weights import convert_lifted

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    try:
        with onnx_export_mode():
            proto = convert_lifted(model, size, opset)
    except Exception as exc:
        raise InputError(f"tf2onnx cannot convert {model.name} at opset {opset}: {converter_reason(exc)}") from exc
    return proto.SerializeToString()


def float_model_path(model, ctx: ExportContext) -> str:
    """The float ONNX model of this conversion, made once and shared by the ONNX exporters: a file in a temporary
    folder that lives as long as `ctx`. On disk rather than in memory, because between the ONNX exporters come
    the others: VGG19's 575 MB would sit in memory through its int8 TFLite conversion, this process's peak."""
    if "onnx_fp32" not in ctx.cache:
        folder = tempfile.TemporaryDirectory(prefix="edgebb-onnx-")
        path = os.path.join(folder.name, "fp32.onnx")
        with open(path, "wb") as f:
            f.write(export_onnx_fp32(model, ctx.size, ctx.opset))
        ctx.cache["onnx_fp32"] = (folder, path)  # the folder object removes itself with the context
    return ctx.cache["onnx_fp32"][1]


def float_model(model, ctx: ExportContext) -> bytes:
    """The float ONNX model of this conversion, as bytes (see float_model_path)."""
    with open(float_model_path(model, ctx), "rb") as f:
        return f.read()


def _quantized(fp32: bytes | str, quantize) -> bytes:
    """Run `quantize(src_path, dst_path, tmp_folder)` on the float model (its bytes, or the path of its file);
    the quantized bytes."""
    with tempfile.TemporaryDirectory(prefix="edgebb-onnx-") as tmp:
        src, dst = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "q.onnx")
        if isinstance(fp32, str):
            src = fp32
        else:
            with open(src, "wb") as f:
                f.write(fp32)
        quantize(src, dst, tmp)
        with open(dst, "rb") as f:
            return f.read()


def quantize_dynamic(fp32: bytes | str) -> bytes:
    """ONNX Runtime's dynamic quantization: int8 weights, activations quantized on the fly."""
    from onnxruntime import quantization as q

    return _quantized(fp32, lambda src, dst, tmp: q.quantize_dynamic(src, dst, weight_type=q.QuantType.QInt8))


# What ONNX Runtime computes a layer with when it stays float, and what it fuses a quantized one into.
FLOAT_COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "FusedConv", "FusedGemm", "FusedMatMul", "NchwcConv")


def quantize_static(fp32: bytes | str, calib: np.ndarray, calib_method: str, nodes_to_exclude: list[str] = (),
                    weight_bits: int = 8) -> bytes:
    """ONNX Runtime's static quantization of the float model: QDQ int8 calibrated on `calib`.

    Activations are uint8 (asymmetric): on x86 ONNX Runtime's integer Conv/Gemm are uint8 x int8, so int8
    activations get rewritten, and the rewrite is not applied around residual Add or hard-swish Mul, which leaves
    those Convs in float. Weights are int8, symmetric per output channel, in `weight_bits` bits: 8 is TFLite's
    grid (and on the digits scans it keeps 0.9-2.0 more points of top-1 agreement with float than 7 on the four
    smallest backbones); 7 (reduce_range) is for x86 CPUs without VNNI, whose uint8 x int8 kernels add pairs of
    products in a saturating int16: 2 x 255 x 127 overflows it and a ResNet-50 lost 10 points on such a CPU,
    while 2 x 255 x 64 fits (see `weight_bits`). `nodes_to_exclude` stay float (selective int8).
    """
    import onnx
    from onnxruntime import quantization as q

    def run(src, dst, tmp):
        pre = preprocess(src, tmp)
        q.quantize_static(pre, dst, CalibrationReader(calib), quant_format=q.QuantFormat.QDQ, per_channel=True,
                          activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          reduce_range=weight_bits == 7,
                          calibrate_method=getattr(q.CalibrationMethod, CALIBRATION[calib_method]),
                          nodes_to_exclude=list(nodes_to_exclude))

        model = onnx.load(dst)
        if concatenate_quantized(model.graph) + pad_input_channels(model.graph) + pad_depthwise_channels(model.graph):
            onnx.save(model, dst)

    return _quantized(fp32, run)


def weight_bits(choice: str) -> tuple[int, str]:
    """The bits of int8 ONNX weights for `--onnx-weight-bits` ("auto", "8" or "7"), and why, for the manifest.

    auto: 8, unless this machine is an x86 CPU without VNNI (AVX-512 VNNI, AVX-VNNI or AMX), where ONNX
    Runtime's kernels saturate on 8-bit weights: the artifact is verified here, and its verification would
    measure the saturation rather than the quantization."""
    if choice != "auto":
        return int(choice), "asked for (--onnx-weight-bits)"
    from ...core.cpu import cpu_info, int8_dot_products_saturate

    cpu = cpu_info()
    name = cpu["cpu_model"] or cpu["machine"]
    if int8_dot_products_saturate(cpu):
        return 7, f"this CPU ({name}) has no VNNI: ONNX Runtime's uint8 x int8 kernels saturate on 8-bit weights"
    return 8, f"this CPU ({name}) runs 8-bit weights without saturating"


def weight_bits_note(bits: int, choice: str) -> str:
    """The convert note that says which weights the int8 ONNX artifacts have, and where they do not fit."""
    if bits == 8:
        return ("int8 ONNX weights are 8-bit, TFLite's grid, which this CPU runs without saturating; deployed on an "
                "x86 CPU without VNNI (AVX2 only), ONNX Runtime's kernels saturate on them and lose accuracy: for such "
                "a target convert with --onnx-weight-bits 7")
    if choice == "7":
        return "int8 ONNX weights are 7-bit (--onnx-weight-bits 7): they compute the same on every CPU"
    return ("int8 ONNX weights are 7-bit because this x86 CPU has no VNNI and ONNX Runtime's kernels here saturate on "
            "8-bit ones; they cost some top-1 agreement with float. For an ARM or VNNI target, --onnx-weight-bits 8 "
            "gives TFLite's grid (verify it on that target: here it would measure the saturation)")


# --calib-method -> ONNX Runtime's CalibrationMethod member
CALIBRATION = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


def preprocess(src: str, folder: str) -> str:
    """Shape inference and ONNX Runtime's basic clean-up (BatchNorm folding), which let the quantizer cover every
    node; the path of the result in `folder`. Shapes are static here, so the symbolic pass (it needs sympy) is
    skipped. The clean-up splits HardSwish into HardSigmoid and Mul, which the quantizer would round between:
    they are fused again (onnx_weights.fuse_hard_activations)."""
    import onnx
    from onnxruntime import quantization as q

    from .onnx_weights import fuse_hard_activations

    pre = os.path.join(folder, "pre.onnx")
    q.quant_pre_process(src, pre, skip_symbolic_shape=True)
    model = onnx.load(pre)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    fuse_hard_activations(model.graph, opset)
    onnx.save(model, pre)
    return pre


def kernels(content: bytes, kept_float: list[str] = ()) -> dict:
    """What ONNX Runtime runs the artifact as on this CPU, from the graph it optimizes it into: the number of
    integer compute nodes, and every Conv/MatMul/Gemm left in float, named, with why."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgebb-onnx-") as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
    kept = set(kept_float)
    left = [{"node": n.name, "op": n.op_type,
             "reason": "kept in float by --auto-fallback" if n.name in kept or any(k in n.name for k in kept)
             else "not fused into an integer kernel: its input or weight is not quantized"}
            for n in graph.node if n.op_type in FLOAT_COMPUTE_OPS]
    integer = sum(n.op_type.startswith(("QLinear", "QGemm", "ConvInteger", "MatMulInteger")) for n in graph.node)
    return {"runtime": "onnxruntime", "integer_nodes": integer, "float_compute": left}


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

    def __iter__(self):  # the QDQ debugging tools iterate over it
        self.rewind()
        return iter(self.get_next, None)


@exporter("onnx", "fp32", lambda ctx: {"io_dtype": "float32", "opset": ctx.opset})
def _fp32(model, ctx: ExportContext) -> bytes:
    return float_model(model, ctx)


@exporter("onnx", "dynamic", lambda ctx: {"io_dtype": "float32", "opset": ctx.opset}, inspect=kernels)
def _dynamic(model, ctx: ExportContext) -> bytes:
    return quantize_dynamic(float_model_path(model, ctx))


@exporter("onnx", "int8", lambda ctx: {"io_dtype": "float32", "calibration_images": len(ctx.calib),
                                       "opset": ctx.opset, "calib_method": ctx.calib_method,
                                       "activations": "uint8 asymmetric",
                                       "weights": f"int8 per-channel, {ctx.onnx_weight_bits}-bit",
                                       "weight_bits_because": ctx.onnx_weight_bits_because},
          inspect=kernels, needs=("weight_bits",))
def _int8(model, ctx: ExportContext) -> bytes:
    return quantize_static(float_model_path(model, ctx), ctx.calib, ctx.calib_method,
                           weight_bits=ctx.onnx_weight_bits)


@exporter("onnx", "int8-qat", lambda ctx: {"io_dtype": "float32", "calibration_images": len(ctx.calib),
                                           "opset": ctx.opset, "calib_method": ctx.calib_method,
                                           "activations": "uint8 asymmetric, ranges calibrated",
                                           "weights": f"int8 per-channel, {ctx.onnx_weight_bits}-bit, trained "
                                                      "with fake quantization",
                                           "weight_bits_because": ctx.onnx_weight_bits_because},
          inspect=kernels, needs=("weight_bits", "float_architecture"))
def _int8_qat(model, ctx: ExportContext) -> bytes:
    """The QAT model's trained weights in its float architecture, quantized by ONNX Runtime (see
    edgebb.training.qat): tf2onnx cannot take tfmot's fake quantization itself (per-channel, narrow-range)."""
    from ...training.qat.strip import float_twin

    twin = float_twin(model, ctx.qat_architecture())
    return quantize_static(export_onnx_fp32(twin, ctx.size, ctx.opset), ctx.calib, ctx.calib_method,
                           weight_bits=ctx.onnx_weight_bits)
