"""The float ONNX model with the weights kept out of tf2onnx's way.

tf2onnx freezes a Keras model's variables into graph constants and then holds many copies of every constant at
once (TensorFlow graph, meta graph, Grappler, its own graph, a deep copy per optimizer pass): roughly 40 bytes
for each byte of weights, measured here. Converting ResNet-50 (102 MB of weights) to ONNX peaked at 6.3 GB,
ResNet-152 and VGG16 passed 10 GB, and VGG19 was killed by the kernel at 21 GB on a 24 GB machine.

So the kernels (Conv2D, DepthwiseConv2D and Dense) go into the traced function as arguments instead: tf2onnx
sees placeholders with shapes and no data, and the ONNX graph gets them as inputs. Here they become initializers
again, and what tf2onnx would have folded into them had they been constants is folded in numpy: the
Transpose/Reshape from TensorFlow's layouts to ONNX's, the BatchNormalization that follows a Conv and a constant
scale after one. The graph computes the same outputs as tf2onnx's own (tests/test_onnx_export.py compares them);
VGG19's export peaked at 3.1 GB, ResNet-152's at 2.3 GB.
"""

from __future__ import annotations

import functools

import numpy as np

# Layer attributes holding the weights that dominate a model's size, lifted out of the trace.
KERNEL_ATTRIBUTES = ("kernel", "depthwise_kernel")


def lifted_kernels(model) -> list[tuple[object, str, object]]:
    """(layer, attribute, variable) for every kernel variable of `model` and the models nested in it."""
    import tensorflow as tf

    found, seen = [], set()
    for layer in [model, *model.submodules]:
        for attribute in KERNEL_ATTRIBUTES:
            variable = vars(layer).get(attribute)
            if isinstance(variable, tf.Variable) and id(variable) not in seen:
                seen.add(id(variable))
                found.append((layer, attribute, variable))
    return found


def convert_lifted(model, size: int, opset: int):
    """tf2onnx's ModelProto of `model` with input "input" (1, size, size, 3), outputs named as the model's, and
    every kernel an initializer (see the module docstring)."""
    import tensorflow as tf
    import tf2onnx

    from .onnx_shuffle import order_channels_by_use
    from .onnx_tidy import canonical, drop_identity_reshapes

    lifted = lifted_kernels(model)
    names: list[str] = []
    for i, (layer, attribute, _) in enumerate(lifted):  # nested models may repeat a layer name
        name = f"{layer.name}__{attribute}"
        names.append(name if name not in names else f"{name}_{i}")
    specs = [tf.TensorSpec((1, size, size, 3), tf.float32, name="input")] + [
        tf.TensorSpec(variable.shape, variable.dtype, name=name) for (_, _, variable), name in zip(lifted, names)]

    @tf.function(input_signature=specs)
    def forward(x, *kernels):
        # The layers read their kernel attribute when called: point it at the argument while tracing. Setting it
        # with object.__setattr__ leaves Keras' weight tracking alone, and the variable is put back after.
        try:
            for (layer, attribute, _), kernel in zip(lifted, kernels):
                object.__setattr__(layer, attribute, kernel)
            outputs = model(x, training=False)
        finally:
            for layer, attribute, variable in lifted:
                object.__setattr__(layer, attribute, variable)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    proto, _ = tf2onnx.convert.from_function(forward, input_signature=specs, opset=opset)
    graph = proto.graph
    graph.name = model.name
    for output, name in zip(list(graph.output), model.output_names):
        _rename(graph, output.name, name)
    embed(graph, {name: variable for name, (_, _, variable) in zip(names, lifted)})
    fold_constants(graph)
    drop_identity_reshapes(proto)
    fold_batchnorm(graph)
    fold_scale(graph)
    fuse_hard_activations(graph, opset)
    shuffle_channels_first(graph)
    order_channels_by_use(graph, opset)
    canonical(graph)
    return proto


def _rename(graph, old: str, new: str) -> None:
    for node in graph.node:
        for values in (node.input, node.output):
            for i, value in enumerate(values):
                if value == old:
                    values[i] = new
    for output in graph.output:
        if output.name == old:
            output.name = new


def embed(graph, values: dict) -> None:
    """Graph inputs named in `values` become initializers holding those values (variables or arrays)."""
    from onnx import numpy_helper

    kept = [i for i in graph.input if i.name not in values]
    del graph.input[:]
    graph.input.extend(kept)
    for name, value in values.items():
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))


def fold_constants(graph) -> None:
    """Replace Transpose, Reshape and Identity nodes whose inputs are all initializers by their result, then drop
    the initializers nothing uses any more."""
    from onnx import helper, numpy_helper

    initializers = {t.name: t for t in graph.initializer}
    folded = True
    while folded:
        folded = False
        for node in list(graph.node):
            if node.op_type not in ("Transpose", "Reshape", "Identity") or \
                    not all(name in initializers for name in node.input):
                continue
            attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            x = numpy_helper.to_array(initializers[node.input[0]])
            if node.op_type == "Transpose":
                y = np.transpose(x, attributes.get("perm"))
            elif node.op_type == "Reshape":
                shape = numpy_helper.to_array(initializers[node.input[1]]).tolist()
                if not attributes.get("allowzero", 0):  # 0 copies the input's dimension
                    shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
                y = x.reshape(shape)
            else:
                y = x
            tensor = numpy_helper.from_array(np.ascontiguousarray(y), node.output[0])
            graph.initializer.append(tensor)
            initializers[tensor.name] = tensor
            graph.node.remove(node)
            folded = True
    drop_unused(graph)


def fold_batchnorm(graph) -> None:
    """Conv followed by an inference BatchNormalization that alone reads it becomes one Conv with scaled weights
    and a bias, as tf2onnx folds them when the kernel is a constant."""
    from onnx import numpy_helper

    initializers = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers = _readers(graph)
    outputs = {o.name for o in graph.output}
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization"]:
        conv = producer.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or len(bn.output) != 1 or readers.get(bn.input[0]) != 1 \
                or bn.input[0] in outputs or not all(n in initializers for n in [*bn.input[1:], *conv.input[1:]]):
            continue
        scale, offset, mean, variance = (numpy_helper.to_array(initializers[n]) for n in bn.input[1:])
        epsilon = attribute(bn, "epsilon", 1e-5)
        factor = scale / np.sqrt(variance + epsilon)
        w = numpy_helper.to_array(initializers[conv.input[1]])
        b = numpy_helper.to_array(initializers[conv.input[2]]) if len(conv.input) > 2 else np.zeros_like(mean)
        replace_weights(graph, conv, (w * factor.reshape(-1, *[1] * (w.ndim - 1))).astype(w.dtype),
                         ((b - mean) * factor + offset).astype(w.dtype))
        conv.output[0] = bn.output[0]
        graph.node.remove(bn)
    drop_unused(graph)


def fold_scale(graph) -> None:
    """Conv followed by a Mul by a constant scalar that alone reads it (Inception-ResNet's scaled residual
    branches) becomes one Conv with scaled weights and bias, as tf2onnx folds it when the kernel is a constant."""
    from onnx import numpy_helper

    initializers = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers = _readers(graph)
    outputs = {o.name for o in graph.output}
    for mul in [n for n in graph.node if n.op_type == "Mul"]:
        for data, constant in ((0, 1), (1, 0)):
            conv = producer.get(mul.input[data])
            if conv is None or conv.op_type != "Conv" or mul.input[constant] not in initializers \
                    or readers.get(mul.input[data]) != 1 or mul.input[data] in outputs \
                    or not all(n in initializers for n in conv.input[1:]):
                continue
            c = numpy_helper.to_array(initializers[mul.input[constant]])
            if c.size != 1:
                continue
            w = numpy_helper.to_array(initializers[conv.input[1]])
            b = numpy_helper.to_array(initializers[conv.input[2]]) if len(conv.input) > 2 else None
            replace_weights(graph, conv, (w * c).astype(w.dtype), None if b is None else (b * c).astype(w.dtype))
            conv.output[0] = mul.output[0]
            graph.node.remove(mul)
            break
    drop_unused(graph)


def fuse_hard_activations(graph, opset: int) -> None:
    """relu6(x + 3) / 6, as tf2onnx writes it (Add, Clip, Mul by 1/6), becomes one HardSigmoid node, and x times
    a HardSigmoid of x becomes one HardSwish node (opset 14 on). ONNX Runtime's own graph clean-up splits a
    HardSwish back into those two, so the quantizer's input is fused again after it (exporters.onnx.preprocess).

    The float model computes the same, and the int8 one is quantized as TFLite's: ONNX Runtime's quantizer puts an
    8-bit rounding after every Add and Mul it can, so the four-node hard-swish rounded three times where TFLite's
    HARD_SWISH rounds once, and every MobileNetV3 lost top-1 agreement with float to it (MobileNetV3-Small on the
    digits scans: 98.73% against TFLite's 99.75%; fused, 99.24%). HardSwish is not an op ONNX Runtime quantizes:
    it runs in float between the Dequantize before it and the Quantize after, as fast here as the quantized chain.
    """
    from onnx import helper, numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer, readers, outputs = index(graph)

    def constant(name: str, value: float) -> bool:
        return name in constants and constants[name].size == 1 and np.isclose(constants[name].ravel()[0], value)

    only = functools.partial(sole_reader, readers, outputs)

    def replace(old: list, new) -> None:
        position = min(list(graph.node).index(n) for n in old)
        for node in old:
            graph.node.remove(node)
        graph.node.insert(position, new)

    for clip in [n for n in graph.node if n.op_type == "Clip"]:  # relu6(x + 3) / 6 -> HardSigmoid
        add = producer.get(clip.input[0])
        if add is None or add.op_type != "Add" or len(clip.input) != 3 or not constant(clip.input[1], 0.0) \
                or not constant(clip.input[2], 6.0) or only(add.output[0], "Clip") is not clip:
            continue
        x = next((a for a, b in (add.input, add.input[::-1]) if constant(b, 3.0)), None)
        sixth = only(clip.output[0], "Mul")
        if x is None or sixth is None or not any(constant(i, 1 / 6) for i in sixth.input):
            continue
        replace([add, clip, sixth], helper.make_node("HardSigmoid", [x], [sixth.output[0]], alpha=1 / 6, beta=0.5,
                                                     name=f"{sixth.output[0].split(':')[0]}/HardSigmoid"))
    if opset >= 14:
        for gate in [n for n in graph.node if n.op_type == "HardSigmoid"]:  # x * HardSigmoid(x) -> HardSwish
            attributes = {a.name: helper.get_attribute_value(a) for a in gate.attribute}
            mul = only(gate.output[0], "Mul")
            if mul is None or not np.isclose(attributes.get("alpha", 0.2), 1 / 6) \
                    or not np.isclose(attributes.get("beta", 0.5), 0.5) or sorted(mul.input) != sorted(
                        [gate.input[0], gate.output[0]]):
                continue
            # named after its output, which carries the Keras layer's name (ONNX Runtime's split leaves none)
            replace([gate, mul], helper.make_node("HardSwish", [gate.input[0]], [mul.output[0]],
                                                  name=f"{mul.output[0].split(':')[0]}/HardSwish"))
    drop_unused(graph)


def shuffle_channels_first(graph) -> None:
    """ShuffleNet's channel shuffle of g groups, as tf2onnx writes it from Keras' Reshape, Permute, Reshape, is
    moved to the channels-first side of the layout Transpose before it: tf2onnx turns the NCHW tensor to NHWC,
    Reshapes it to (n, h, w, g, c/g), swaps the last two axes and Reshapes back; here the NCHW tensor is Reshaped
    to (n, g, c/g, h, w), its axes 1 and 2 swapped, Reshaped back to NCHW and then turned to NHWC. The same values
    in the same order, so the float and int8 models compute what they did; what changes is ONNX Runtime's speed.

    ONNX Runtime runs a Transpose that moves one axis inwards as one small matrix transpose per outer index, each
    handed to its thread pool: on NHWC that is one per pixel (784 transposes of 2 x 58 bytes in a 28 x 28 stage),
    and ShuffleNetV2's 17 took 4.2 ms of its 5.1 ms int8 inference at 2 threads (0.3 ms at 1 thread) where LiteRT
    took 2.1 ms in all. On NCHW the swap moves whole h x w planes in one transpose (8 us at 1 or 2 threads), at
    the price of two layout Transposes around it. Measured on ShuffleNetV2 1.0 at 224 px, int8, AVX-512 VNNI:
    2 threads 4.3 -> 2.3 ms, 1 thread 2.45 -> 2.8 ms; the float model 11.0 -> 2.9 ms and 8.0 -> 5.1 ms.

    The NCHW tensor is Flattened before it is Reshaped into groups. Where both halves of the Concat come from
    convolutions (each stage's first unit), ONNX Runtime runs the Concat on NHWC and would otherwise carry its
    layout Transpose through the Reshape into the swap: one Transpose of (n, h, w, g, c/g) to (n, c/g, g, h, w),
    the slow kind again (311, 164 and 87 us for the three stages of ShuffleNetV2 1.0 at 224 px, int8, 1 thread).
    Its optimizer moves no Transpose through a Flatten, which costs no copy: there the layout Transpose stays a
    4-D one before it (9 us) and the swap moves planes (7 us).

    This form is what onnx_shuffle.order_channels_by_use reads when it removes ShuffleNetV2's shuffles altogether
    (channels stored in the order the units read them); a shuffle it cannot reorder keeps this form.
    """
    from onnx import helper, numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer, readers, outputs = index(graph)

    only = functools.partial(sole_reader, readers, outputs)

    for swap in [n for n in graph.node if n.op_type == "Transpose" and attribute(n, "perm") == [0, 1, 2, 4, 3]]:
        split, merge = producer.get(swap.input[0]), only(swap.output[0], "Reshape")
        to_nhwc = producer.get(split.input[0]) if split is not None and split.op_type == "Reshape" else None
        if to_nhwc is None or to_nhwc.op_type != "Transpose" or attribute(to_nhwc, "perm") != [0, 2, 3, 1] \
                or merge is None or only(to_nhwc.output[0], "Reshape") is not split \
                or only(split.output[0], "Transpose") is not swap \
                or split.input[1] not in constants or merge.input[1] not in constants:
            continue
        grouped, merged = constants[split.input[1]].tolist(), constants[merge.input[1]].tolist()
        if len(grouped) != 5 or min(grouped) < 1 or merged != [*grouped[:3], grouped[3] * grouped[4]]:
            continue
        n, h, w, groups, width = grouped
        base = merge.output[0].split(":")[0].rsplit("/", 1)[0]
        graph.initializer.extend([
            numpy_helper.from_array(np.array([n, groups, width, h, w], np.int64), f"{base}/nchw_groups"),
            numpy_helper.from_array(np.array([n, groups * width, h, w], np.int64), f"{base}/nchw_merged")])
        new = [helper.make_node("Flatten", [to_nhwc.input[0]], [f"{base}/nchw_flat"], axis=1,
                                name=f"{base}/nchw_flat"),
               helper.make_node("Reshape", [f"{base}/nchw_flat", f"{base}/nchw_groups"], [f"{base}/nchw_split"],
                                name=f"{base}/nchw_split"),
               helper.make_node("Transpose", [f"{base}/nchw_split"], [f"{base}/nchw_swap"], perm=[0, 2, 1, 3, 4],
                                name=f"{base}/nchw_swap"),
               helper.make_node("Reshape", [f"{base}/nchw_swap", f"{base}/nchw_merged"], [f"{base}/nchw_merge"],
                                name=f"{base}/nchw_merge"),
               helper.make_node("Transpose", [f"{base}/nchw_merge"], [merge.output[0]], perm=[0, 2, 3, 1],
                                name=f"{base}/to_nhwc")]
        old = [to_nhwc, split, swap, merge]
        position = min(list(graph.node).index(node) for node in old)
        for node in old:
            graph.node.remove(node)
        for i, node in enumerate(new):
            graph.node.insert(position + i, node)
    drop_unused(graph)


def index(graph) -> tuple[dict, dict, set]:
    """The node producing each tensor, the nodes reading each tensor, and the graph's output names."""
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return producer, readers, {o.name for o in graph.output}


def attribute(node, name: str, default=None):
    """The value of `node`'s attribute `name` (an int, a float, a list of ints, ...), or `default` if it has none."""
    from onnx import helper

    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def sole_reader(readers: dict, outputs: set, tensor: str, op: str):
    """The one node reading `tensor`, if it is an `op` and the tensor is not a graph output; else None."""
    found = readers.get(tensor, [])
    return found[0] if len(found) == 1 and found[0].op_type == op and tensor not in outputs else None


def replace_weights(graph, conv, weight, bias) -> None:
    """`conv` reads `weight` and `bias` (None: no bias) from new initializers, named after it with the first number
    no initializer has (not the initializer count, which tf2onnx's constant sharing makes differ between runs)."""
    from onnx import numpy_helper

    taken, suffix = {t.name for t in graph.initializer}, 0
    while f"{conv.name}_weight_{suffix}" in taken or f"{conv.name}_bias_{suffix}" in taken:
        suffix += 1
    names = [f"{conv.name}_weight_{suffix}", f"{conv.name}_bias_{suffix}"]
    graph.initializer.append(numpy_helper.from_array(weight, names[0]))
    if bias is not None:
        graph.initializer.append(numpy_helper.from_array(bias, names[1]))
    del conv.input[1:]
    conv.input.extend(names if bias is not None else names[:1])


def _readers(graph) -> dict[str, int]:
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    return readers


def drop_unused(graph) -> None:
    """Remove the initializers no node reads."""
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)
