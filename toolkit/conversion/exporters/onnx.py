"""ONNX exporters: tf2onnx for the float graph, ONNX Runtime's quantization tools for the rest."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ...core.errors import InputError
from . import ExportContext, exporter
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


# Ops that ONNX Runtime runs on 8-bit tensors as they are when the scale before and after them is the same
DATA_MOVEMENT = ("Split", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "MaxPool", "Gather", "Slice",
                 "Resize", "Identity", "DepthToSpace", "SpaceToDepth", "Pad")


def concatenate_quantized(graph) -> int:
    """Each Concat between a Dequantize per input and one Quantize after becomes a Concat of the 8-bit inputs
    themselves, with each input quantized on the output's scale and zero point (as TFLite's int8 CONCATENATION
    requires, and its converter arranges): a copy. The number of Concats changed.

    ONNX Runtime fuses the Dequantize-Concat-Quantize group into QLinearConcat, which re-scales every byte and
    hands each pixel's copy to its thread pool: SqueezeNet 1.1's 8 took 0.24 ms at 1 thread and 0.50 ms of its
    2.0 ms at 2 threads, where a plain uint8 Concat of the same tensors takes 0.02 ms (55 x 55 x 128) at either.
    The output's range holds every input's, so no value is clipped; an input with a narrower range than the
    others is rounded on a coarser grid, as in TFLite. A quantized tensor that is read elsewhere on another scale
    (another Concat) is left as it was, and so is a Concat of a data-movement op's output (ShuffleNet's Split):
    quantized on another scale than its input, that op would run in float between a Dequantize and a Quantize."""
    from onnx import helper

    from .onnx_weights import drop_unused, index

    producer, readers, outputs = index(graph)
    assigned: dict[str, tuple[str, str]] = {}  # a Quantize node's name -> the scale and zero point it now has
    changed = 0
    for concat in [n for n in graph.node if n.op_type == "Concat"]:
        after = readers.get(concat.output[0], [])
        if len(after) != 1 or after[0].op_type != "QuantizeLinear" or concat.output[0] in outputs:
            continue
        quantize = after[0]
        scale, zero = quantize.input[1], quantize.input[2] if len(quantize.input) > 2 else ""
        if not zero:
            continue
        sources = []
        for name in concat.input:
            dequantize = producer.get(name)
            source = producer.get(dequantize.input[0]) if dequantize is not None else None
            if dequantize is None or dequantize.op_type != "DequantizeLinear" or source is None \
                    or source.op_type != "QuantizeLinear" or len(readers.get(name, [])) != 1 \
                    or getattr(producer.get(source.input[0]), "op_type", None) in DATA_MOVEMENT \
                    or len(source.input) < 3 or assigned.get(source.name, (scale, zero)) != (scale, zero):
                break
            sources.append((dequantize, source))
        else:
            for _, source in sources:
                assigned[source.name] = (scale, zero)
                for node in [source, *(r for r in readers.get(source.output[0], [])
                                       if r.op_type == "DequantizeLinear")]:
                    node.input[1], node.input[2] = scale, zero
            position = list(graph.node).index(concat)
            for node in [concat, quantize, *(d for d, _ in sources)]:
                graph.node.remove(node)
            graph.node.insert(position, helper.make_node(
                "Concat", [source.output[0] for _, source in sources], [quantize.output[0]],
                name=concat.name, axis=next(a.i for a in concat.attribute if a.name == "axis")))
            changed += 1
    if changed:  # the inputs' own scales and zero points are read no more: ONNX Runtime warns of each left over
        drop_unused(graph)
    return changed


def pad_input_channels(graph, multiple: int = 4) -> int:
    """Each int8 convolution that reads the model's input directly, with a channel count that is not a multiple
    of `multiple` (the RGB stem's 3), reads it with zero channels added up to one, against weights with zeros
    added for them: the same integer sums. The number of convolutions changed.

    ONNX Runtime's fast int8 convolution (fused requantization, VNNI) wants input channels in multiples of 4 and
    falls back to an im2col GEMM and a separate requantization otherwise: ShuffleNetV2 1.0's stem (3 to 24
    channels, 224 px) took 481 us of its 3.7 ms at 1 thread, padded 195 us. The padding is an 8-bit Pad of the
    NCHW tensor, a copy of whole planes (16 us), behind a Flatten and a Reshape that cost no copy: ONNX Runtime
    moves no Transpose through a Flatten, so the Pad is not carried onto the NHWC side, where it pads every pixel
    (661 us)."""
    from onnx import helper, numpy_helper

    from .onnx_weights import index

    producer, readers, _ = index(graph)
    constants = {t.name: t for t in graph.initializer}
    inputs = {i.name: [d.dim_value if d.HasField("dim_value") else 0 for d in i.type.tensor_type.shape.dim]
              for i in graph.input}
    changed = 0
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        group = next((a.i for a in conv.attribute if a.name == "group"), 1)
        x_dq, w_dq = producer.get(conv.input[0]), producer.get(conv.input[1])
        quantize = producer.get(x_dq.input[0]) if x_dq is not None and x_dq.op_type == "DequantizeLinear" else None
        if group != 1 or quantize is None or quantize.op_type != "QuantizeLinear" or len(quantize.input) < 3 \
                or w_dq is None or w_dq.op_type != "DequantizeLinear" or w_dq.input[0] not in constants \
                or len(readers.get(w_dq.input[0], [])) != 1:
            continue
        source, layout = quantize.input[0], producer.get(quantize.input[0])
        perm = next((list(a.ints) for a in layout.attribute if a.name == "perm"), None) if layout else None
        if layout is not None and layout.op_type == "Transpose" and perm == [0, 3, 1, 2]:
            shape = inputs.get(layout.input[0], [])
            shape = [shape[0], shape[3], shape[1], shape[2]] if len(shape) == 4 else []
        else:
            shape = inputs.get(source, [])
        weight = numpy_helper.to_array(constants[w_dq.input[0]])
        channels = weight.shape[1] if weight.ndim == 4 else 0
        if len(shape) != 4 or 0 in shape[1:] or shape[1] != channels or channels % multiple == 0:
            continue
        extra = -channels % multiple
        padded = np.concatenate([weight, np.zeros((weight.shape[0], extra, *weight.shape[2:]), weight.dtype)], 1)
        constants[w_dq.input[0]].CopyFrom(numpy_helper.from_array(padded, w_dq.input[0]))
        base = f"{conv.name}/pad_channels"
        graph.initializer.extend([
            numpy_helper.from_array(np.array([0, *shape[1:]], np.int64), f"{base}/shape"),
            numpy_helper.from_array(np.array([0, 0, 0, 0, 0, extra, 0, 0], np.int64), f"{base}/pads")])
        nodes = [helper.make_node("Flatten", [quantize.output[0]], [f"{base}/flat"], axis=1, name=f"{base}/flat"),
                 helper.make_node("Reshape", [f"{base}/flat", f"{base}/shape"], [f"{base}/nchw"],
                                  name=f"{base}/nchw"),
                 helper.make_node("Pad", [f"{base}/nchw", f"{base}/pads", quantize.input[2]], [base],
                                  mode="constant", name=base)]
        position = list(graph.node).index(x_dq)
        for i, node in enumerate(nodes):
            graph.node.insert(position + i, node)
        x_dq.input[0] = base
        changed += 1
    return changed


def pad_depthwise_channels(graph, multiple: int = 16) -> int:
    """Each int8 depthwise convolution between two ordinary ones (Conv, depthwise Conv, Conv, with only their
    Quantize-Dequantize pairs between), with a channel count that is not a multiple of `multiple`, gets zero
    channels added up to one: the first convolution makes them from zero weights and a zero bias (an exact 0,
    its output's zero point), the depthwise one filters them with zero weights, and the last one reads them with
    zero weights. The same integer sums, so the same bits out. The number of depthwise convolutions changed.

    ONNX Runtime's fast int8 depthwise kernel wants 16 channels at a time and falls back to one that adds a
    separate requantization pass otherwise: ShuffleNetV2 1.0's branches are 58, 116 and 232 channels wide; its
    28 x 28 depthwise convolutions took 72 us each at 1 thread, where 64 channels take 35."""
    from onnx import numpy_helper

    from .onnx_weights import index, sole_reader

    producer, readers, outputs = index(graph)
    constants = {t.name: t for t in graph.initializer}

    def group(conv) -> int:
        return next((a.i for a in conv.attribute if a.name == "group"), 1)

    def through_quantization(tensor: str):
        """The one node that reads `tensor` through a Quantize-Dequantize pair read by nothing else, if any."""
        quantize = sole_reader(readers, outputs, tensor, "QuantizeLinear")
        dequantize = None if quantize is None else sole_reader(readers, outputs, quantize.output[0],
                                                                 "DequantizeLinear")
        after = [] if dequantize is None else readers.get(dequantize.output[0], [])
        return after[0] if len(after) == 1 else None

    def before_quantization(tensor: str):
        """The node whose output reaches `tensor` through a Quantize-Dequantize pair, if any."""
        dequantize = producer.get(tensor)
        quantize = producer.get(dequantize.input[0]) if getattr(dequantize, "op_type", "") == "DequantizeLinear" \
            else None
        return producer.get(quantize.input[0]) if getattr(quantize, "op_type", "") == "QuantizeLinear" else None

    def quantized(conv, i: int):
        """The Dequantize feeding input `i` of `conv` (weight 1, bias 2) if its tensors are constants read once."""
        dq = producer.get(conv.input[i]) if len(conv.input) > i else None
        ok = dq is not None and dq.op_type == "DequantizeLinear" and len(dq.input) == 3 \
            and all(name in constants and len(readers.get(name, [])) == 1 for name in dq.input)
        return dq if ok else None

    def pad(name: str, axis: int, extra: int, value: float) -> None:
        array = numpy_helper.to_array(constants[name])
        shape = list(array.shape)
        shape[axis] = extra
        padded = np.concatenate([array, np.full(shape, value, array.dtype)], axis)
        constants[name].CopyFrom(numpy_helper.from_array(padded, name))

    changed = 0
    for depthwise in [n for n in graph.node if n.op_type == "Conv" and group(n) > 1]:
        channels = group(depthwise)
        first, last = before_quantization(depthwise.input[0]), through_quantization(depthwise.output[0])
        if channels % multiple == 0 or first is None or last is None \
                or not all(n.op_type == "Conv" and group(n) == 1 for n in (first, last)) \
                or through_quantization(first.output[0]) is not depthwise:
            continue
        per_channel = [quantized(node, i) for node in (first, depthwise) for i in (1, 2)]
        activations = [producer.get(node.input[0]) for node in (first, depthwise)]
        if None in per_channel or quantized(last, 1) is None or not all(
                getattr(dq, "op_type", "") == "DequantizeLinear" and dq.input[1] in constants for dq in activations):
            continue
        if any(numpy_helper.to_array(constants[dq.input[0]]).shape[0] != channels for dq in per_channel):
            continue
        extra = -channels % multiple
        for conv in (first, depthwise):  # the weights and biases of the channels made and filtered: zeros
            weight, bias = quantized(conv, 1), quantized(conv, 2)
            # a bias' scale is its input's times its weight's (1 here): ONNX Runtime fuses nothing else
            input_scale = float(numpy_helper.to_array(constants[producer[conv.input[0]].input[1]]))
            for dq, scale in ((weight, 1.0), (bias, input_scale)):
                pad(dq.input[0], 0, extra, 0)
                pad(dq.input[1], 0, extra, scale)
                pad(dq.input[2], 0, extra, 0)
        pad(quantized(last, 1).input[0], 1, extra, 0)  # the last convolution reads them with zero weights
        next(a for a in depthwise.attribute if a.name == "group").i = channels + extra
        widened = {first.output[0], depthwise.output[0]}
        widened |= {n.output[0] for n in graph.node if n.input and n.input[0] in widened}  # their Quantizes
        widened |= {n.output[0] for n in graph.node if n.input and n.input[0] in widened}  # and Dequantizes
        for info in [v for v in graph.value_info if v.name in widened]:  # shapes of the narrower tensors
            graph.value_info.remove(info)
        changed += 1
    return changed


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
        return ("int8 ONNX weights are 8-bit, TFLite's grid: on an x86 CPU without VNNI (AVX2 only) ONNX Runtime's "
                "kernels saturate on them and lose accuracy; for such a target convert with --onnx-weight-bits 7")
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
