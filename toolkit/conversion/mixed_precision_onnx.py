"""Selective int8 for ONNX: keep the nodes that quantize worst in float until the accuracy budget holds.

The float model runs the calibration images with every intermediate tensor saved (ONNX Runtime's QDQ debugging
tools, `onnxruntime.quantization.qdq_loss_debug`), and each activation the int8 QDQ model quantizes is rounded
with the scale and zero point that model gives it. The damage is scored as channel noise: RMS error over RMS signal
per channel, averaged over channels (the measure the TFLite repair uses). It is local (taken on float inputs, it
does not grow with depth or count upstream damage), and unlike a whole-tensor signal-to-noise ratio it sees one
outlier channel stretch the scale until the other channels are lost. The producing nodes of the
worst tensors (and the Conv/Gemm/MatMul behind an activation fused into it) go to the quantizer's
`nodes_to_exclude`, doubling the count of tensors each step (1, 2, 4, ...; the nodes behind them, which it
prints, grow unevenly); every candidate is verified like any artifact.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace

import numpy as np

from ..core.errors import InputError
from ..core.progress import Progress, as_progress
from .mixed_precision import REPAIRS, MixedPrecision, Repair, grow_until_budget
from .verify import Budget, verify_content

RANK_SAMPLES = 16  # calibration images the ranking runs (the ranking is of layers, not of images)
COMPUTE = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def channel_noise(signal: list[np.ndarray], quantized: list[np.ndarray], channels: int) -> float:
    """Mean over channels (axis 1 of each sample, ONNX's NCHW) of RMS quantization error / RMS signal: 0 exact,
    1 signal lost. The debugging tools hand over each sample's tensor flattened."""
    f = np.stack([np.asarray(a, np.float64).reshape(channels, -1) for a in signal], axis=1).reshape(channels, -1).T
    q = np.stack([np.asarray(a, np.float64).reshape(channels, -1) for a in quantized], axis=1).reshape(channels, -1).T
    rms = np.sqrt((f ** 2).mean(axis=0))
    live = rms > 1e-3 * float(np.sqrt((f ** 2).mean())) + 1e-12  # channels silent in float do not count
    noise = np.sqrt(((f - q) ** 2).mean(axis=0))
    return float(np.mean(noise[live] / rms[live])) if live.any() else 0.0


def node_errors(fp32: bytes, calib: np.ndarray, calib_method: str = "minmax", weight_bits: int = 8) -> list[dict]:
    """Per-node quantization noise of the int8 QDQ model made from `fp32`, worst first: the node names to
    exclude for it, the tensor, its op and its channel noise.

    Each activation the QDQ model quantizes is taken from the float model (so damage upstream does not count
    against it) and rounded with the scale and zero point the QDQ model gives it."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import qdq_loss_debug as debug

    from .exporters.onnx import CalibrationReader, preprocess, quantize_static

    qdq = onnx.load_from_string(quantize_static(fp32, calib, calib_method, weight_bits=weight_bits))
    constants = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    quantized = {n.input[0]: (float(constants[n.input[1]]), int(constants[n.input[2]]))
                 for n in qdq.graph.node if n.op_type == "QuantizeLinear" and n.input[1] in constants
                 and len(n.input) > 2 and n.input[2] in constants and constants[n.input[1]].size == 1}
    with tempfile.TemporaryDirectory(prefix="edgebb-onnx-debug-") as tmp:
        src = os.path.join(tmp, "fp32.onnx")
        with open(src, "wb") as f:
            f.write(fp32)
        pre = preprocess(src, tmp)
        augmented = os.path.join(tmp, "augmented.onnx")
        debug.modify_model_output_intermediate_tensors(pre, augmented)
        saved = debug.collect_activations(augmented, CalibrationReader(calib[:RANK_SAMPLES]))
        graph = onnx.load(pre).graph
    producer = {out: node for node in graph.node for out in node.output}
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(graph.value_info) + list(graph.output)}
    rows = []
    for tensor, (scale, zero) in quantized.items():
        node, shape, values = producer.get(tensor), dims.get(tensor, []), saved.get(tensor)
        if node is None or values is None or len(shape) < 2 or not shape[1]:
            continue
        rounded = [(np.clip(np.round(v / scale) + zero, 0, 255) - zero) * scale for v in values]
        names = [node.name]
        if node.op_type not in COMPUTE and node.input and node.input[0] in producer \
                and producer[node.input[0]].op_type in COMPUTE:  # Relu/Clip fused into the Conv before it
            names.insert(0, producer[node.input[0]].name)
        rows.append({"nodes": names, "tensor": tensor, "op": node.op_type,
                     "channel_noise": channel_noise(values, rounded, shape[1])})
    rows.sort(key=lambda r: r["channel_noise"], reverse=True)
    return rows


def selective_int8_onnx(model, ev, reference, random_reference, budget: Budget, ctx=None,
                        progress: Progress | None = None) -> MixedPrecision:
    """The int8 ONNX model of `model` with the fewest worst nodes in float that keeps the budget (or, if none
    does within MAX_STEPS, the last one tried). Nodes kept in float are listed by their ONNX names."""
    from .exporters.onnx import float_model, quantize_static

    say = as_progress(progress)
    fp32 = float_model(model, ctx)
    say.say(f"auto-fallback: ranking ONNX nodes by quantization noise on {min(len(ev.calib), RANK_SAMPLES)} "
            "calibration images")
    ranking = node_errors(fp32, ev.calib, ctx.calib_method, ctx.onnx_weight_bits)
    if not ranking:
        raise InputError(f"auto-fallback: ONNX Runtime's debugger found no quantized tensors in {model.name}")
    def attempt(count: int) -> MixedPrecision:
        nodes = list(dict.fromkeys(n for r in ranking[:count] for n in r["nodes"]))
        content = quantize_static(fp32, ev.calib, ctx.calib_method, nodes_to_exclude=nodes,
                                  weight_bits=ctx.onnx_weight_bits)
        check = verify_content(content, "onnx", ev, reference, random_reference, budget)
        return MixedPrecision(content, check, nodes, {"float_nodes_by": "channel noise (qdq_loss_debug)"})

    mixed = grow_until_budget(len(ranking), attempt, "node(s)", say)
    return replace(mixed, candidates=len({n for r in ranking for n in r["nodes"]}))  # counted in nodes, as kept


REPAIRS.register(Repair("onnx", "int8", selective_int8_onnx))
