"""ShuffleNetV2's stages exported with their channels stored in the order the units read them
(edgebb.conversion.exporters.onnx_shuffle): no shuffle left, the same outputs, the same int8 bits."""

import collections
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf

from edgebb.conversion.exporters import onnx as exporter
from edgebb.conversion.exporters import onnx_shuffle
from edgebb.conversion.exporters.onnx import export_onnx_fp32
from edgebb.conversion.exporters.onnx_shuffle import _leave_times, _merge
from edgebb.models import create_model
from edgebb.models.shufflenet import STAGE_CHANNELS, STAGE_REPEATS


def _run(content, x):
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])


def _stages():
    for width, channels in STAGE_CHANNELS.items():
        for out, repeats in zip(channels[1:4], STAGE_REPEATS):
            yield width, out // 2, repeats


@pytest.mark.parametrize("width, half, repeats", list(_stages()))
def test_every_state_keeps_the_next_branch_input_first_and_what_passes_through_in_order(width, half, repeats):
    """For every stage of every width, unit by unit on logical channel numbers: each state is a permutation of
    the logical channels; the next unit's branch reads its first block (logical half..2*half-1, the second half);
    what passes through keeps its order (only its logical positions double); and a Concat needs at most one piece
    per leave-time group, plus one."""
    state = None
    for u in range(repeats):
        leave = _leave_times(half, repeats - u - 1)
        passed = None if state is None else [2 * p for p in state[half:]]
        pieces, order = _merge(leave, passed, half)
        assert sorted(order) == list(range(2 * half))
        assert sum(n for _, n in pieces) == 2 * half
        assert len(pieces) <= len({t for t in leave}) + 1, pieces
        if passed is not None:  # A's pieces, in order, are exactly what passed through, in its order
            assert [order[i] for i in onnx_shuffle._positions(order, pieces, "A")] == passed
        if u < repeats - 1:
            assert sorted(order[:half]) == list(range(half, 2 * half))
        assert [leave[p] for p in order] == sorted(leave[p] for p in order)  # grouped by leave time
        state = order
    assert math.inf in _leave_times(half, 0)


def _walls(graph):
    """Layout ops (Transpose, Reshape, Flatten) that read or feed a Split or Concat: each a copy in a shuffle."""
    producer = {out: n for n in graph.node for out in n.output}
    joins = ("Split", "Concat", "QLinearConcat")
    return [n.name for n in graph.node if n.op_type in ("Transpose", "Reshape", "Flatten") and (
        getattr(producer.get(n.input[0]), "op_type", "") in joins
        or any(r.op_type in joins for r in graph.node if n.output[0] in r.input))]


@pytest.mark.parametrize("width", [0.5, 1.0])
def test_shuffles_become_split_and_concat_in_the_stored_order_with_the_same_outputs(width, tmp_path, monkeypatch):
    """The float model has no shuffle left: one Concat per unit, one Transpose (the input's layout) and no Reshape
    or Flatten; it computes what Keras does. ONNX Runtime's optimized int8 model has no layout op around a Split or
    Concat, runs nothing in float, and computes the same bits as the int8 model quantized from the plane-swap
    export."""
    tf.keras.utils.set_random_seed(0)
    model = create_model("shufflenet_v2", width=width, input_size=64, num_classes=10)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, 64, 64, 3)).astype("float32")
    model(x, training=True)  # BatchNorm statistics of these images: activations that are not flat
    units = sum(layer.name.endswith("_concat") for layer in model.layers)
    fp32 = export_onnx_fp32(model, 64, 17)
    graph = onnx.load_from_string(fp32).graph
    ops = collections.Counter(n.op_type for n in graph.node)
    assert ops["Concat"] == units == 16 and ops["Transpose"] == 1, ops
    assert ops["Reshape"] == ops["Flatten"] == 0, ops
    np.testing.assert_allclose(_run(fp32, x), model.predict(x, verbose=0), atol=1e-5)

    int8 = exporter.quantize_static(fp32, x, "minmax")
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(int8, options, providers=["CPUExecutionProvider"])
    assert _walls(onnx.load(options.optimized_model_filepath).graph) == []
    assert exporter.kernels(int8)["float_compute"] == []

    monkeypatch.setattr(onnx_shuffle, "order_channels_by_use", lambda graph, opset: 0)
    swapped = export_onnx_fp32(model, 64, 17)
    options.optimized_model_filepath = str(tmp_path / "swapped.onnx")
    ort.InferenceSession(exporter.quantize_static(swapped, x, "minmax"), options, providers=["CPUExecutionProvider"])
    assert len(_walls(onnx.load(options.optimized_model_filepath).graph)) > units  # what the test could see
    np.testing.assert_array_equal(_run(int8, x), _run(exporter.quantize_static(swapped, x, "minmax"), x))


def test_below_opset_13_the_split_sizes_are_an_attribute():
    tf.keras.utils.set_random_seed(0)
    model = create_model("shufflenet_v2", width=0.5, input_size=64, num_classes=10)
    content = export_onnx_fp32(model, 64, 11)
    graph = onnx.load_from_string(content).graph
    splits = [n for n in graph.node if n.op_type == "Split"]
    assert splits and all(len(n.input) == 1 and any(a.name == "split" for a in n.attribute) for n in splits)
    x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(_run(content, x), model.predict(x, verbose=0), atol=1e-5)


def test_a_stage_whose_state_is_an_output_keeps_its_shuffles():
    """A features model outputs stage states: such a stage is left as the plane-swap export writes it (its
    output's channel order is the model's), the others are reordered, and every output is what Keras computes."""
    tf.keras.utils.set_random_seed(0)
    model = create_model("shufflenet_v2", width=0.5, input_size=64, features=True)
    content = export_onnx_fp32(model, 64, 17)
    ops = collections.Counter(n.op_type for n in onnx.load_from_string(content).graph.node)
    assert 0 < ops["Flatten"] < 16, ops  # some shuffles kept, not all
    x = np.random.default_rng(2).normal(size=(1, 64, 64, 3)).astype("float32")
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    for ours, keras in zip(session.run(None, {"input": x}), model.predict(x, verbose=0)):
        np.testing.assert_allclose(ours, keras, atol=1e-5)


DETERMINISM = r"""
import hashlib, sys
import numpy as np, tensorflow as tf
from edgebb.conversion.exporters import onnx as exporter
from edgebb.models import create_model
tf.keras.utils.set_random_seed(0)
model = create_model("shufflenet_v2", width=0.5, input_size=64, num_classes=10)
x = np.random.default_rng(0).normal(size=(4, 64, 64, 3)).astype("float32")
fp32 = exporter.export_onnx_fp32(model, 64, 17)
print(hashlib.sha256(fp32).hexdigest(), hashlib.sha256(exporter.quantize_static(fp32, x, "minmax")).hexdigest())
"""


def test_the_reordered_export_is_the_same_file_in_every_process():
    """The weights are permuted in graph order, not in a set's order: string hashing differs from one process to
    the next (PYTHONHASHSEED), and with it the order of the initializers written."""
    import os
    import subprocess
    import sys

    digests = [subprocess.run([sys.executable, "-c", DETERMINISM], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout.split()[-2:] for seed in ("1", "2")]
    assert digests[0] == digests[1] and len(digests[0]) == 2, digests
