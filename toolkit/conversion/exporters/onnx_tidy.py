"""The same float ONNX graph from every run: tf2onnx's output carries traces of the order in which it (and
TensorFlow's graph optimizer before it) visited nodes, which changes from run to run.

- Generated names: tf2onnx names what it adds `<base>__<counter>` (a Reshape `.../Conv2D__949`, its shape
  `new_shape__1702`), the counter taken in visiting order. Here they are numbered again in graph order.
- Shared constants: tf2onnx keeps one copy of equal constants (every ReLU6's 0 and 6, untrained BatchNorms' ones and
  zeros) under the name of whichever it met first. Such initializers are named after their first reader instead.
- Initializers are stored in the order the graph first reads them.
- The graph's doc string named the traced function by TensorFlow's count of functions traced so far in the
  process (`converted from b'__inference_forward_3953'`): a second export in one process differed there alone.
  It is left empty.
- A Reshape that leaves its input as it is (tf2onnx writes a layout Transpose of a 1x1 feature map as a Reshape)
  is dropped; a BatchNormalization behind one was folded into its convolution in some runs and left in float in
  others (Inception-ResNet-v2 at 96 px: 43 or 44 of them).

Values and structure are untouched but for those Reshapes: the graph computes exactly what it did.
"""

from __future__ import annotations

import re

GENERATED = re.compile(r"^(.+)__(\d+)(:\d+)?$")


def drop_identity_reshapes(model) -> int:
    """Remove from `model`'s graph each Reshape to a constant shape equal to its input's (known from shape
    inference over the graph's structure, weights left out); the number removed."""
    from onnx import numpy_helper

    graph = model.graph
    shapes = _static_shapes(model)
    constants = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    dropped = 0
    for node in [n for n in graph.node if n.op_type == "Reshape"]:
        source, target = node.input[0], node.input[1]
        if target not in constants or node.output[0] in outputs or shapes.get(source) is None:
            continue
        if [int(d) for d in numpy_helper.to_array(constants[target])] != shapes[source]:
            continue
        for reader in graph.node:
            for i, name in enumerate(reader.input):
                if name == node.output[0]:
                    reader.input[i] = source
        graph.node.remove(node)
        dropped += 1
    return dropped


def _static_shapes(model) -> dict[str, list[int]]:
    """Every tensor's shape where ONNX shape inference knows all of it. Inferred on a copy that keeps only small
    initializers (shapes, axes) as values and declares the rest by type and dims: VGG-19's 575 MB of weights are
    not copied."""
    import onnx
    from onnx import helper

    graph = model.graph
    small = [t for t in graph.initializer if _size(t) <= 64]
    declared = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                for t in graph.initializer if _size(t) > 64]
    light = helper.make_graph(list(graph.node), graph.name, [*graph.input, *declared], list(graph.output),
                              initializer=small)
    inferred = onnx.shape_inference.infer_shapes(helper.make_model(light, opset_imports=model.opset_import))
    shapes = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim):
            shapes[value.name] = [d.dim_value for d in tensor.shape.dim]
    return shapes


def _size(tensor) -> int:
    count = 1
    for d in tensor.dims:
        count *= d
    return count


def canonical(graph) -> None:
    """Rename generated tensors, nodes and shared constants, order the initializers and clear the doc string, as
    the module says."""
    graph.doc_string = ""
    keep = {v.name for v in [*graph.input, *graph.output]}
    constants = {t.name for t in graph.initializer}
    numbers: dict[tuple[str, str], int] = {}
    for node in graph.node:
        for name in [*node.input, *node.output, node.name]:
            found = GENERATED.match(name)
            if found and name not in keep and name not in constants:
                numbers.setdefault(found.group(1, 2), len(numbers))

    def renumbered(name: str) -> str:
        found = GENERATED.match(name)
        if not found or name in keep or name in constants:
            return name
        return f"{found.group(1)}__{numbers[found.group(1, 2)]}{found.group(3) or ''}"

    first_read: dict[str, tuple[str, int]] = {}
    readers: dict[str, int] = {}
    for node in graph.node:
        node.name = renumbered(node.name)
        for values in (node.input, node.output):
            for i, name in enumerate(values):
                values[i] = renumbered(name)
        for slot, name in enumerate(node.input):
            if name in constants:
                first_read.setdefault(name, (node.name, slot))
                readers[name] = readers.get(name, 0) + 1
    taken = {name for node in graph.node for name in [*node.input, *node.output]} | constants
    renamed = {}
    for name, (reader, slot) in first_read.items():
        if GENERATED.match(name) or ":" in name or readers[name] > 1:  # named by whichever copy tf2onnx met first
            new = f"{reader}__input{slot}"
            assert new not in taken, f"{new} is taken"
            renamed[name] = new
            taken.add(new)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
    for tensor in graph.initializer:
        tensor.name = renamed.get(tensor.name, tensor.name)
    order = {renamed.get(name, name): i for i, name in enumerate(first_read)}
    graph.initializer.sort(key=lambda t: (order.get(t.name, len(order)), t.name))
