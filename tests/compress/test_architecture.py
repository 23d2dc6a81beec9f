"""The int8 recipes follow the architecture: Conv stays float in int8-dynamic, a CNN's int8-static quantizes every
op with an int8 kernel, a MatMul-heavy graph only its MatMul/Gemm/Conv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.compress import quantize
from edgeconv.compress.architecture import decode_tail, is_convolutional, weight_counts
from edgeconv.data.feeds import FeedSet
from edgeconv.machine import u8s8_saturates
from edgeconv.spec import DynamicQuantSpec, StaticQuantSpec
from tests.conftest import make_tiny_onnx, tiny_logits


def make_tiny_cnn(path: Path) -> None:
    """Conv -> Relu -> Conv -> Add (residual) -> GlobalAveragePool -> Flatten -> Gemm: a small real CNN."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"c1": rng.normal(size=(8, 3, 3, 3)), "c2": rng.normal(size=(8, 8, 3, 3)) * 0.2,
               "fc": rng.normal(size=(8, 4))}
    nodes = [
        helper.make_node("Conv", ["x", "c1"], ["h1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu1"),
        helper.make_node("Conv", ["h2", "c2"], ["h3"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["h3", "h2"], ["h4"], name="residual"),
        helper.make_node("GlobalAveragePool", ["h4"], ["h5"], name="pool"),
        helper.make_node("Flatten", ["h5"], ["h6"], name="flatten"),
        helper.make_node("Gemm", ["h6", "fc"], ["logits"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(w.astype(np.float32), k) for k, w in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))


def ops_of(path: Path) -> set[str]:
    import onnx

    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_weights_tell_a_cnn_from_a_matmul_network(tmp_path: Path) -> None:
    make_tiny_cnn(tmp_path / "cnn.onnx")
    make_tiny_onnx(tmp_path / "mlp.onnx")
    assert weight_counts(tmp_path / "cnn.onnx") == {"conv": 8 * 3 * 9 + 8 * 8 * 9, "matmul": 32}
    assert is_convolutional(tmp_path / "cnn.onnx") and not is_convolutional(tmp_path / "mlp.onnx")


def test_int8_dynamic_keeps_conv_float_unless_asked(tmp_path: Path) -> None:
    make_tiny_cnn(tmp_path / "cnn.onnx")
    record = quantize.make_int8_dynamic(tmp_path / "cnn.onnx", tmp_path / "d.onnx", False, DynamicQuantSpec())
    assert "ConvInteger" not in ops_of(tmp_path / "d.onnx") and "Conv" in ops_of(tmp_path / "d.onnx")
    assert record.notes and record.notes[0].startswith("Conv kept float (792 weights)")
    quantize.make_int8_dynamic(tmp_path / "cnn.onnx", tmp_path / "c.onnx", False, DynamicQuantSpec(conv=True))
    assert "ConvInteger" in ops_of(tmp_path / "c.onnx")


def test_int8_static_quantizes_every_op_of_a_cnn_and_only_matmuls_of_an_mlp(tmp_path: Path) -> None:
    import onnx

    make_tiny_cnn(tmp_path / "cnn.onnx")
    calib = FeedSet({"x": np.random.default_rng(1).normal(size=(8, 3, 16, 16)).astype(np.float32)})
    record = quantize.make_int8_static(tmp_path / "cnn.onnx", tmp_path / "s.onnx", calib, StaticQuantSpec())
    assert record.notes[0] == "ops quantized: every op with an int8 kernel: a convolutional network"
    def quantized(path: Path) -> set[str]:
        return {n.input[0] for n in onnx.load(str(path)).graph.node if n.op_type == "QuantizeLinear"}

    assert {"h4", "h5"} <= quantized(tmp_path / "s.onnx")  # the residual Add and the pool stay int8
    quantize.make_int8_static(tmp_path / "cnn.onnx", tmp_path / "o.onnx", calib,
                              StaticQuantSpec(op_types=["Conv", "MatMul", "Gemm"]))
    assert not {"h4", "h5"} & quantized(tmp_path / "o.onnx")
    make_tiny_onnx(tmp_path / "mlp.onnx")
    calib = FeedSet({"x": np.random.default_rng(1).normal(size=(8, 8)).astype(np.float32)})
    record = quantize.make_int8_static(tmp_path / "mlp.onnx", tmp_path / "m.onnx", calib, StaticQuantSpec())
    assert record.op_types == ["MatMul", "Gemm", "Conv"] and "MatMul-heavy" in record.notes[0]


def make_tiny_detector(path: Path) -> None:
    """Conv -> Relu -> two Conv branches (boxes, class logits) -> Sigmoid on the logits -> Concat (the output)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"c1": rng.normal(size=(8, 3, 3, 3)), "cb": rng.normal(size=(4, 8, 1, 1)),
               "cc": rng.normal(size=(2, 8, 1, 1)), "scale": np.array([16.0])}
    nodes = [
        helper.make_node("Conv", ["x", "c1"], ["h1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu1"),
        helper.make_node("Conv", ["h2", "cb"], ["b1"], name="box_conv"),
        helper.make_node("Mul", ["b1", "scale"], ["b2"], name="box_scale"),
        helper.make_node("Conv", ["h2", "cc"], ["c1o"], name="cls_conv"),
        helper.make_node("Sigmoid", ["c1o"], ["c2"], name="cls_sigmoid"),
        helper.make_node("Concat", ["b2", "c2"], ["head"], name="head_concat", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "det", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("head", TensorProto.FLOAT, ["batch", 6, 8, 8])],
        [numpy_helper.from_array(w.astype(np.float32), k) for k, w in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))


def test_static_int8_keeps_the_post_processing_after_the_last_conv_float(tmp_path: Path) -> None:
    import onnx

    make_tiny_detector(tmp_path / "det.onnx")
    assert decode_tail(tmp_path / "det.onnx") == ["box_scale", "cls_sigmoid", "head_concat"]
    make_tiny_cnn(tmp_path / "cnn.onnx")
    assert decode_tail(tmp_path / "cnn.onnx") == []  # the classifier ends in its Gemm
    calib = FeedSet({"x": np.random.default_rng(1).normal(size=(8, 3, 8, 8)).astype(np.float32)})
    record = quantize.make_int8_static(tmp_path / "det.onnx", tmp_path / "s.onnx", calib, StaticQuantSpec())
    assert any(note.startswith("kept float: 3 post-processing nodes") for note in record.notes)
    graph = onnx.load(str(tmp_path / "s.onnx")).graph
    quantized_inputs = {n.input[0] for n in graph.node if n.op_type == "QuantizeLinear"}
    assert "h2" in quantized_inputs and not {"b2", "c2"} & quantized_inputs  # the trunk int8, the tail float


def test_a_gemm_bias_of_shape_1_n_is_flattened_so_static_int8_builds(tmp_path: Path) -> None:
    """ORT fuses MatMul + Add into Gemm with the Add's [1, N] bias, which its QDQ quantizer cannot take."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="dense")], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "w"),
         numpy_helper.from_array(rng.normal(size=(1, 4)).astype(np.float32), "b")])
    path = tmp_path / "gemm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    x = rng.normal(size=(16, 8)).astype(np.float32)
    from edgeconv.errors import StageError

    with pytest.raises(StageError, match="truth value of an array"):  # ORT's own failure, as users met it
        quantize.make_int8_static(path, tmp_path / "raw.onnx", FeedSet({"x": x}), StaticQuantSpec(op_types=["Gemm"]))
    before = tiny_logits(path, x)
    assert quantize.flatten_gemm_biases(path) == 1 and quantize.flatten_gemm_biases(path) == 0
    np.testing.assert_array_equal(tiny_logits(path, x), before)  # the same function
    settings = StaticQuantSpec(op_types=["Gemm"], reduce_range=u8s8_saturates())  # as a CPU build decides
    quantize.make_int8_static(path, tmp_path / "s.onnx", FeedSet({"x": x}), settings)
    np.testing.assert_allclose(tiny_logits(tmp_path / "s.onnx", x), before, atol=0.1)
