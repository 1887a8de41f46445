"""The float ONNX export is the same file from every run (edgebb.conversion.exporters.onnx_tidy): tf2onnx's
visiting order shows in generated names, in which copy of a shared constant keeps its name, in a traced function's
number and, through a layout Reshape, in whether a BatchNormalization is folded."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edgebb.conversion.exporters.onnx_tidy import canonical, drop_identity_reshapes
from edgebb.conversion.exporters.onnx_weights import fold_batchnorm


def _constant(name, value, dtype="float32"):
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def _run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def _conv_to_one_pixel(reshape_to, bn=True):
    """input (1, 3, 4, 4) -> Conv 4x4 (1 pixel out, 6 channels) -> Reshape(reshape_to) [-> BatchNormalization]."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["conv"], name="net/conv/Conv2D"),
             helper.make_node("Reshape", ["conv", "new_shape__17"], ["moved"], name="net/bn/FusedBatchNormV3__9")]
    initializers = [_constant("w", rng.normal(size=(6, 3, 4, 4))), _constant("b", rng.normal(size=6)),
                    _constant("new_shape__17", reshape_to, "int64")]
    last = "moved"
    if bn:
        nodes.append(helper.make_node("BatchNormalization", ["moved", "gamma", "beta", "mean", "var"], ["out"],
                                      name="net/bn/FusedBatchNormV3"))
        initializers += [_constant(n, rng.uniform(0.5, 2, 6)) for n in ("gamma", "beta", "mean", "var")]
        last = "out"
    out_shape = [1, 6, 1, 1] if bn else list(reshape_to)
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, out_shape)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_reshape_that_moves_nothing_goes_and_the_batchnorm_behind_it_folds():
    model = _conv_to_one_pixel([1, 6, 1, 1])
    x = np.random.default_rng(1).normal(size=(1, 3, 4, 4)).astype("float32")
    before = _run(model, x)
    fold_batchnorm(model.graph)
    assert [n.op_type for n in model.graph.node] == ["Conv", "Reshape", "BatchNormalization"]  # what CI saw
    assert drop_identity_reshapes(model) == 1
    fold_batchnorm(model.graph)
    assert [n.op_type for n in model.graph.node] == ["Conv"]
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-5, atol=1e-6)


def test_a_reshape_that_changes_the_shape_stays():
    for model in (_conv_to_one_pixel([1, 6], bn=False), _conv_to_one_pixel([1, 1, 1, 6])):
        assert drop_identity_reshapes(model) == 0
        assert "Reshape" in [n.op_type for n in model.graph.node]
    model = _conv_to_one_pixel([1, 6, 1, 1], bn=False)  # the identity Reshape makes the graph's output: kept
    assert drop_identity_reshapes(model) == 0


def _relu6_pair(first, second, counter):
    """Two Clips sharing their bounds, under the names of whichever layer a converter met first, and generated names
    counted from `counter`."""
    nodes = [helper.make_node("Clip", ["input", f"{first}/min__{counter}", f"{first}/max__{counter + 1}"],
                              [f"a/Relu6__{counter + 7}:0"], name=f"a/Relu6__{counter + 7}"),
             helper.make_node("Clip", [f"a/Relu6__{counter + 7}:0", f"{first}/min__{counter}",
                                       f"{first}/max__{counter + 1}"], ["out"], name="b/Relu6"),
             helper.make_node("Mul", ["out", f"{second}/Const:0"], ["scaled"], name="c/mul")]
    initializers = [_constant(f"{second}/Const:0", 0.5), _constant(f"{first}/max__{counter + 1}", 6.0),
                    _constant(f"{first}/min__{counter}", 0.0)]
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("scaled", TensorProto.FLOAT, [1, 4])], initializers,
                              doc_string="converted from b'__inference_forward_3953'")
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_two_visiting_orders_give_one_graph():
    one, two = _relu6_pair("block4", "block2", 533), _relu6_pair("block9", "block5", 1702)
    x = np.linspace(-8, 8, 4, dtype="float32").reshape(1, 4)
    expected = _run(one, x)
    for model in (one, two):
        canonical(model.graph)
    assert one.SerializeToString() == two.SerializeToString()
    graph = one.graph
    assert [n.name for n in graph.node] == ["a/Relu6__0", "b/Relu6", "c/mul"]  # numbered in graph order
    assert [t.name for t in graph.initializer] == ["a/Relu6__0__input1", "a/Relu6__0__input2", "c/mul__input1"]
    assert graph.doc_string == "" and [o.name for o in graph.output] == ["scaled"]
    onnx.checker.check_model(one)
    np.testing.assert_array_equal(_run(one, x), expected)


def test_own_names_are_kept():
    """Names that are not generated, not shared and not TensorFlow tensor names (the lifted kernels, the weights
    the folding passes write) stay as they are."""
    model = _conv_to_one_pixel([1, 6, 1, 1])
    canonical(model.graph)
    assert {t.name for t in model.graph.initializer} >= {"w", "b", "gamma", "beta", "mean", "var"}
    assert "net/bn/FusedBatchNormV3__0" in [n.name for n in model.graph.node]


EXPORTS = r"""
import hashlib
import numpy as np, tensorflow as tf
from edgebb.conversion.exporters import onnx as exporter
from edgebb.models import create_model
x = np.random.default_rng(0).normal(size=(4, 64, 64, 3)).astype("float32")
for name, width in (("mobilenet_v2", 0.35), ("efficientnet_b0", 1.0)):
    tf.keras.utils.set_random_seed(0)
    model = create_model(name, width=width, input_size=64, num_classes=10)
    fp32 = exporter.export_onnx_fp32(model, 64, 17)
    again = exporter.export_onnx_fp32(model, 64, 17)
    int8 = exporter.quantize_static(fp32, x, "minmax")
    print(name, *(hashlib.sha256(content).hexdigest() for content in (fp32, again, int8)))
"""


def test_the_export_is_the_same_file_in_every_process_and_every_time():
    """MobileNetV2 (ReLU6 bounds shared by every Clip) and EfficientNet-B0 (squeeze-excite Reshapes tf2onnx
    names as it meets them), fp32 exported twice in a process and int8 from it, in two processes at once with
    different string hashing: every file the same. Before, each of them differed between the two processes, and a
    second export in one process differed from the first."""
    runs = [subprocess.Popen([sys.executable, "-c", EXPORTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    lines = []
    for process in runs:
        out, err = process.communicate()
        assert process.returncode == 0, err[-2000:]
        lines.append(out.split("\n")[-3:-1])
    assert lines[0] == lines[1], lines
    for name, fp32, again, int8 in (line.split() for line in lines[0]):
        assert fp32 == again and fp32 != int8, name
    assert hashlib.sha256(b"").hexdigest() not in "".join(lines[0])
