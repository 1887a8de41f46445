"""Passes over an int8 QDQ ONNX model that change how ONNX Runtime runs it, not what it computes: the layouts and
widths its fast integer kernels want."""

from __future__ import annotations

import numpy as np

from .onnx_weights import attribute, drop_unused, index, sole_reader

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
                name=concat.name, axis=attribute(concat, "axis")))
            changed += 1
    if changed:  # the inputs' own scales and zero points are read no more: ONNX Runtime warns of each left over
        drop_unused(graph)
    return changed


def _quantizer_of(producer: dict, tensor: str):
    """The QuantizeLinear whose 8-bit output a DequantizeLinear turns into `tensor`, if any."""
    dequantize = producer.get(tensor)
    quantize = producer.get(dequantize.input[0]) if getattr(dequantize, "op_type", "") == "DequantizeLinear" else None
    return quantize if getattr(quantize, "op_type", "") == "QuantizeLinear" else None


def _constant_dequantize(producer: dict, readers: dict, constants: dict, tensor: str):
    """The DequantizeLinear making `tensor` (a weight, a bias) from constants no other node reads, or None."""
    dq = producer.get(tensor)
    ok = dq is not None and dq.op_type == "DequantizeLinear" and len(dq.input) == 3 \
        and all(name in constants and len(readers.get(name, [])) == 1 for name in dq.input)
    return dq if ok else None


def _pad_constant(constants: dict, name: str, axis: int, extra: int, value: float = 0) -> None:
    """Append `extra` entries of `value` along `axis` to the initializer `name`."""
    from onnx import numpy_helper

    array = numpy_helper.to_array(constants[name])
    shape = list(array.shape)
    shape[axis] = extra
    constants[name].CopyFrom(numpy_helper.from_array(
        np.concatenate([array, np.full(shape, value, array.dtype)], axis), name))


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

    producer, readers, _ = index(graph)
    constants = {t.name: t for t in graph.initializer}
    inputs = {i.name: [d.dim_value if d.HasField("dim_value") else 0 for d in i.type.tensor_type.shape.dim]
              for i in graph.input}
    changed = 0
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        group = attribute(conv, "group", 1)
        x_dq, w_dq = producer.get(conv.input[0]), _constant_dequantize(producer, readers, constants, conv.input[1])
        quantize = _quantizer_of(producer, conv.input[0])
        if group != 1 or quantize is None or len(quantize.input) < 3 or w_dq is None:
            continue
        source, layout = quantize.input[0], producer.get(quantize.input[0])
        perm = attribute(layout, "perm") if layout else None
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
        _pad_constant(constants, w_dq.input[0], 1, extra)
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

    producer, readers, outputs = index(graph)
    constants = {t.name: t for t in graph.initializer}

    def group(conv) -> int:
        return attribute(conv, "group", 1)

    def through_quantization(tensor: str):
        """The one node that reads `tensor` through a Quantize-Dequantize pair read by nothing else, if any."""
        quantize = sole_reader(readers, outputs, tensor, "QuantizeLinear")
        dequantize = None if quantize is None else sole_reader(readers, outputs, quantize.output[0],
                                                                 "DequantizeLinear")
        after = [] if dequantize is None else readers.get(dequantize.output[0], [])
        return after[0] if len(after) == 1 else None

    def before_quantization(tensor: str):
        """The node whose output reaches `tensor` through a Quantize-Dequantize pair, if any."""
        quantize = _quantizer_of(producer, tensor)
        return producer.get(quantize.input[0]) if quantize is not None else None

    def quantized(conv, i: int):
        """The Dequantize feeding input `i` of `conv` (weight 1, bias 2), if its tensors are constants read once."""
        return _constant_dequantize(producer, readers, constants, conv.input[i]) if len(conv.input) > i else None

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
                _pad_constant(constants, dq.input[0], 0, extra)
                _pad_constant(constants, dq.input[1], 0, extra, scale)
                _pad_constant(constants, dq.input[2], 0, extra)
        _pad_constant(constants, quantized(last, 1).input[0], 1, extra)  # the last one reads them with zero weights
        next(a for a in depthwise.attribute if a.name == "group").i = channels + extra
        widened = {first.output[0], depthwise.output[0]}
        widened |= {n.output[0] for n in graph.node if n.input and n.input[0] in widened}  # their Quantizes
        widened |= {n.output[0] for n in graph.node if n.input and n.input[0] in widened}  # and Dequantizes
        for info in [v for v in graph.value_info if v.name in widened]:  # shapes of the narrower tensors
            graph.value_info.remove(info)
        changed += 1
    return changed
