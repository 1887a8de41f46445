"""ShuffleNetV2's channel shuffles, exported as no data movement at all: each stage's channels are stored in the
order the units will read them, and every permutation this takes is folded into convolution weights.

A ShuffleNetV2 unit splits its input into two halves, passes the first through, runs the second through a branch
(1x1, 3x3 depthwise, 1x1 convolutions) and concatenates the two; the shuffle then interleaves them. On the
logical channel order the shuffle is a transpose, which ONNX Runtime runs either per pixel on NHWC or as plane
swaps between two layout Transposes on NCHW (onnx_weights.shuffle_channels_first): at 2 threads that round trip
was the whole gap between ONNX Runtime's and LiteRT's int8 ShuffleNetV2 (a probe with the shuffles cut out, all
on NHWC, ran at 1.02-1.05x LiteRT, against 1.44x).

Nothing requires the logical order to be the stored one. After unit u a channel at logical position p of a state
of 2h channels is read by the next unit's branch if p >= h, and otherwise moves to position 2p: so how many units
from now it leaves (its "leave time") is known in advance, and a stage stores each state sorted by it. Then:
- the next unit's branch input is the first block of the state: one Split, no gather;
- what passes through keeps its order, already sorted by the next state's leave time;
- the branch output's order is free (its last 1x1 convolution's output rows are permuted to taste), so it is
  produced sorted too, and the next state is one Concat of the two sorted sources' runs, their groups arranged so
  that runs of one source meet (pass-through runs A1 A2, then branch runs B2 B3, ...): about one piece per group;
- whatever order a stage's last state has, the convolutions that read it (the next stage's first unit, the head)
  take it into their weights, as does each branch's first 1x1 convolution its input's.
Every tensor holds the same values as before, only in another channel order; the float model computes the same
up to the order of its sums, and the int8 one the same bits (its ranges are per tensor or per output channel).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .onnx_weights import attribute, drop_unused, index, replace_weights, sole_reader

NCHW_TO_NHWC, NHWC_TO_NCHW, SWAP_GROUPS = [0, 2, 3, 1], [0, 3, 1, 2], [0, 2, 1, 3, 4]


def order_channels_by_use(graph, opset: int) -> int:
    """Rewrite every stage of ShuffleNetV2 units whose shuffles have the form shuffle_channels_first leaves (NCHW
    Concat, Flatten, Reshape to (n, 2, h, H, W), swap, Reshape, Transpose to NHWC) as described in the module
    docstring. A stage whose nodes do not all have the expected form is left as it is. The number of units
    rewritten."""
    from onnx import helper, numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer, readers, outputs = index(graph)
    only = functools.partial(sole_reader, readers, outputs)

    def conv_group(node) -> int:
        return attribute(node, "group", 1) if node is not None and node.op_type == "Conv" else 0

    def row_source(tensor: str):
        """The Conv whose output rows become `tensor` (read by one node only) through nothing but single-reader
        Relus, if any."""
        if len(readers.get(tensor, [])) != 1 or tensor in outputs:
            return None
        node = producer.get(tensor)
        while node is not None and node.op_type == "Relu" and len(readers.get(node.input[0], [])) == 1 \
                and node.input[0] not in outputs:
            node = producer.get(node.input[0])
        return node if conv_group(node) == 1 and all(n in constants for n in node.input[1:]) else None

    def shuffle_of(concat):
        """The unit a Concat ends: (nodes of its shuffle, the shuffled NHWC tensor, half width), or None."""
        flat = only(concat.output[0], "Flatten")
        grouping = flat and only(flat.output[0], "Reshape")
        swap = grouping and only(grouping.output[0], "Transpose")
        merge = swap and only(swap.output[0], "Reshape")
        to_nhwc = merge and only(merge.output[0], "Transpose")
        if to_nhwc is None or attribute(concat, "axis") != 1 or len(concat.input) != 2 \
                or attribute(swap, "perm") != SWAP_GROUPS or attribute(to_nhwc, "perm") != NCHW_TO_NHWC \
                or grouping.input[1] not in constants or len(constants[grouping.input[1]]) != 5:
            return None
        n, groups, half, _, _ = constants[grouping.input[1]].tolist()
        return ([flat, grouping, swap, merge, to_nhwc], to_nhwc.output[0], half) if groups == 2 else None

    def to_nchw_readers(tensor: str):
        """The Transpose(s) to NCHW that alone read `tensor` and the nodes reading them, or None."""
        found = readers.get(tensor, [])
        if not found or tensor in outputs or any(
                t.op_type != "Transpose" or attribute(t, "perm") != NHWC_TO_NCHW or t.output[0] in outputs
                for t in found):
            return None
        return found, [r for t in found for r in readers.get(t.output[0], [])]

    def next_unit(shuffled: str, half: int):
        """What follows a unit whose shuffled output is `shuffled`: ("unit", split nodes, the branch's first
        convolutions, the next Concat), ("end", removed nodes, [(conv, reads-through depthwise)]), or None."""
        split = only(shuffled, "Split")
        if split is not None:
            sizes = attribute(split, "split") if len(split.input) < 2 else \
                constants[split.input[1]].tolist() if split.input[1] in constants else "unknown"
            if attribute(split, "axis") not in (3, -1) or len(split.output) != 2 or sizes not in (None, [half] * 2):
                return None
            passed, branch = (to_nchw_readers(out) for out in split.output)
            if passed is None or branch is None or len(passed[1]) != 1 or passed[1][0].op_type != "Concat" \
                    or passed[1][0].input[0] != passed[0][0].output[0] or shuffle_of(passed[1][0]) is None \
                    or not all(conv_group(c) == 1 and c.input[0] == branch[0][0].output[0] for c in branch[1]):
                return None
            return "unit", [split, *passed[0], *branch[0]], branch[1], passed[1][0]
        found = to_nchw_readers(shuffled)
        if found is None:
            return None
        consumers = []
        for conv in found[1]:
            if conv_group(conv) == 1 and conv.input[0] in (t.output[0] for t in found[0]):
                consumers.append((conv, None))
            elif conv_group(conv) == 2 * half and all(n in constants for n in conv.input[1:]) \
                    and conv.output[0] not in outputs and readers.get(conv.output[0]) \
                    and all(conv_group(r) == 1 and r.input[0] == conv.output[0] for r in readers[conv.output[0]]):
                consumers.append((conv, readers[conv.output[0]]))
            else:
                return None
        return "end", found[0], consumers

    stages, claimed = [], set()
    for concat in [n for n in graph.node if n.op_type == "Concat"]:
        first = shuffle_of(concat)
        if first is None or concat.name in claimed or not all(row_source(i) for i in concat.input):
            continue
        units, step = [(concat, first)], next_unit(first[1], first[2])
        while step is not None and step[0] == "unit" and shuffle_of(step[3])[2] == first[2] \
                and row_source(step[3].input[1]) is not None:
            units.append((step[3], shuffle_of(step[3]), step))
            step = next_unit(units[-1][1][1], first[2])
        if step is None or step[0] != "end" or any(u[0].name in claimed for u in units):
            continue
        claimed.update(u[0].name for u in units)
        stages.append((units, step))

    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    if not stages or len(convs) != sum(n.op_type == "Conv" for n in graph.node):
        return 0  # weights are permuted by convolution name: they must be unique
    rows: dict[str, list] = {}  # conv name -> the order of its output rows (and bias) to write
    cols: dict[str, list] = {}  # conv name -> the order of its input channels to read

    def assign(table: dict, name: str, order: list) -> None:
        if table.setdefault(name, order) != order:  # two roles for one convolution: the matching above is wrong
            raise AssertionError(f"two channel orders asked of {name}")
    removed, added = [], []
    for units, end in stages:
        half = units[0][1][2]
        base = [u[0].name.rsplit("/", 1)[0] for u in units]
        state, previous = None, None  # the physical order of the last state; its tensor
        for u, unit in enumerate(units):
            concat, (shuffle, _, _) = unit[0], unit[1]
            removed += [concat, *shuffle]
            leave = _leave_times(half, len(units) - u - 1)
            if u == 0:  # both halves are convolution outputs, each in an order of our choosing
                passed = None
                left = row_source(concat.input[0])
            else:
                _, split_nodes, branch_convs, _ = unit[2]
                removed += split_nodes
                block = [p - half for p in state[:half]]  # the branch reads the first block
                for conv in branch_convs:
                    assign(cols, conv.name, block)
                passed = [2 * p for p in state[half:]]  # what passes through, at its new logical positions
            pieces, order = _merge(leave, passed, half)
            sources = {"A": concat.input[0] if u == 0 else None, "B": concat.input[1]}
            if u == 0:
                assign(rows, left.name, [order[i] // 2 for i in _positions(order, pieces, "A")])
            assign(rows, row_source(concat.input[1]).name, [order[i] // 2 for i in _positions(order, pieces, "B")])
            runs = {"A": [n for s, n in pieces if s == "A"], "B": [n for s, n in pieces if s == "B"]}
            if u > 0:  # the previous state: the branch's block, then the runs passing through
                names = [f"{base[u]}/branch_in"] + [f"{base[u]}/passed_{i}" for i in range(len(runs["A"]))]
                added.append(_split(graph, previous, [half, *runs["A"]], names, opset, f"{base[u]}/split_state"))
                for conv in branch_convs:
                    conv.input[0] = names[0]
                parts = {"A": iter(names[1:])}
            else:
                parts = {"A": iter(_pieces(graph, sources["A"], runs["A"], f"{base[u]}/left", opset, added))}
            parts["B"] = iter(_pieces(graph, sources["B"], runs["B"], f"{base[u]}/right", opset, added))
            tensor = f"{base[u]}/state"
            added.append(helper.make_node("Concat", [next(parts[s]) for s, _ in pieces], [tensor], axis=1,
                                          name=tensor))
            state, previous = order, tensor
        _, transposes, consumers = end
        removed += transposes
        for conv, through_depthwise in consumers:
            conv.input[0] = previous
            if through_depthwise is None:
                assign(cols, conv.name, state)
            else:  # a depthwise convolution keeps the order: the convolutions after it read it
                assign(rows, conv.name, state)
                for reader in through_depthwise:
                    assign(cols, reader.name, state)
    for name in [n for n in convs if n in rows or n in cols]:  # in graph order: the same file every time
        conv = convs[name]
        weight = constants[conv.input[1]]
        bias = constants[conv.input[2]] if len(conv.input) > 2 else None
        if name in rows:
            weight, bias = weight[rows[name]], None if bias is None else bias[rows[name]]
        if name in cols:
            weight = weight[:, cols[name]]
        replace_weights(graph, conv, np.ascontiguousarray(weight), bias)
    _replace_nodes(graph, removed, added)
    drop_unused(graph)
    return sum(len(units) for units, _ in stages)


def _leave_times(half: int, remaining: int) -> list[float]:
    """For each logical channel of a state of 2 * half channels, how many units from now a branch reads it: 1 for
    the second half, 1 + that of position 2p for a channel p of the first; infinite past the stage's `remaining`
    units (or for channel 0, which always passes through)."""
    def leave(p: int) -> float:
        k = 1
        while p < half:
            if p == 0:
                return math.inf
            p, k = 2 * p, k + 1
        return k if k <= remaining else math.inf

    return [leave(p) for p in range(2 * half)]


def _merge(leave: list, passed: list | None, half: int) -> tuple[list, list]:
    """The pieces of the new state, [(source, count)], source "A" (what passes through, in its order; the first
    half's convolution in a stage's first unit) or "B" (the branch output, in the order given here), and the
    logical channel order they make: sorted by leave time, each group's runs arranged so that runs of one source
    meet across groups."""
    a = passed if passed is not None else [2 * i for i in range(half)]
    b = [2 * i + 1 for i in range(half)]
    if passed is None:
        a = sorted(a, key=lambda p: leave[p])
    elif any(leave[x] > leave[y] for x, y in zip(a, a[1:])):
        raise AssertionError("what passes through is not in leave-time order")  # by construction it is
    b = sorted(b, key=lambda p: leave[p])
    pieces, order, last = [], [], "A"
    for time in sorted({leave[p] for p in range(2 * half)}):
        members = {"A": [p for p in a if leave[p] == time], "B": [p for p in b if leave[p] == time]}
        for source in (last, "B" if last == "A" else "A"):
            if not members[source]:
                continue
            if pieces and pieces[-1][0] == source:
                pieces[-1] = (source, pieces[-1][1] + len(members[source]))
            else:
                pieces.append((source, len(members[source])))
            order += members[source]
            last = source
    return pieces, order


def _positions(order: list, pieces: list, source: str) -> list[int]:
    """The positions in `order` that the pieces of `source` fill, in order."""
    at, found = 0, []
    for s, n in pieces:
        if s == source:
            found += range(at, at + n)
        at += n
    return found


def _split(graph, tensor: str, sizes: list, names: list, opset: int, name: str):
    """A Split of `tensor` on the channel axis into `names`; from opset 13 its sizes are an initializer."""
    from onnx import helper, numpy_helper

    if opset < 13:
        return helper.make_node("Split", [tensor], names, axis=1, split=sizes, name=name)
    graph.initializer.append(numpy_helper.from_array(np.array(sizes, np.int64), f"{name}/sizes"))
    return helper.make_node("Split", [tensor, f"{name}/sizes"], names, axis=1, name=name)


def _pieces(graph, tensor: str, sizes: list, name: str, opset: int, added: list) -> list[str]:
    """`tensor` split on the channel axis into pieces of `sizes` (itself if one piece), their names."""
    if len(sizes) == 1:
        return [tensor]
    names = [f"{name}_{i}" for i in range(len(sizes))]
    added.append(_split(graph, tensor, sizes, names, opset, f"{name}/split"))
    return names


def _replace_nodes(graph, removed: list, added: list) -> None:
    """Remove `removed` and add `added`, then put every node in an order where each comes after what it reads,
    keeping the present one where it can."""
    gone = {id(n) for n in removed}
    nodes = [n for n in graph.node if id(n) not in gone] + added
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    ordered, waiting = [], nodes
    while waiting:
        left = []
        for node in waiting:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                left.append(node)
        if len(left) == len(waiting):
            raise AssertionError(f"a cycle or a missing input at {[n.name for n in left][:3]}")
        waiting = left
    made = {out for node in ordered for out in node.output}
    kept_info = [v for v in graph.value_info if v.name in made]
    del graph.node[:]
    graph.node.extend(ordered)
    del graph.value_info[:]
    graph.value_info.extend(kept_info)
