"""The ONNX -> TFLite route: SAME padding made explicit (checked against ONNX Runtime), a real conversion in
its worker with onnx2torch installed into the route folder, and its failures as one-line stage errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeconv.backends.tflite.onnx_route_env import READY, route_folder, route_status
from edgeconv.backends.tflite.onnx_route_worker import explicit_same_pads
from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError
from tests.compress.test_architecture import make_tiny_cnn

pytest.importorskip("litert_torch", reason="the TFLite route needs pip install 'edgeconv[tflite]'")


def run_ort(model: Any, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def same_padded(mode: str) -> Any:
    """Conv (stride 2, kernel 3) then MaxPool (kernel 2) on an 8x8 input, both auto_pad ``mode``."""
    from onnx import TensorProto, helper, numpy_helper, shape_inference

    weight = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], auto_pad=mode, strides=[2, 2]),
         helper.make_node("MaxPool", ["c"], ["y"], auto_pad=mode, kernel_shape=[2, 2])],
        "same", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    return shape_inference.infer_shapes(model, strict_mode=True)


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
def test_same_padding_made_explicit_gives_onnx_runtimes_own_outputs(mode: str) -> None:
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype(np.float32)
    model = same_padded(mode)
    expected = run_ort(model, x)
    assert explicit_same_pads(model) == 2
    assert not any(a.name == "auto_pad" for n in model.graph.node for a in n.attribute)
    conv_pads = next(a.ints for a in model.graph.node[0].attribute if a.name == "pads")
    # 8 -> 4 with kernel 3, stride 2: one pixel of pad, after (SAME_UPPER) or before (SAME_LOWER)
    assert list(conv_pads) == ([0, 0, 1, 1] if mode == "SAME_UPPER" else [1, 1, 0, 0])
    np.testing.assert_array_equal(run_ort(model, x), expected)


def tflite_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    return next(iter(runner(args_0=x).values()))


def test_an_onnx_cnn_converts_in_the_worker_and_matches_onnx_runtime(tmp_path: Path) -> None:
    import onnx

    from edgeconv.backends.tflite.onnx_route import convert_onnx

    make_tiny_cnn(tmp_path / "cnn.onnx")
    x = np.random.default_rng(2).normal(size=(3, 3, 16, 16)).astype(np.float32)
    info = convert_onnx(tmp_path / "cnn.onnx", FeedSet({"x": x}), tmp_path / "cnn.tflite")
    assert info["input_names"] == ["x"] and info["signature_inputs"] == ["args_0"]
    assert (route_folder() / READY).is_file() and route_status()["ready"]  # onnx2torch went into the route folder
    expected = run_ort(onnx.load(str(tmp_path / "cnn.onnx")), x[:1])
    np.testing.assert_allclose(tflite_outputs(tmp_path / "cnn.tflite", x[:1]), expected, atol=1e-4, rtol=1e-4)


def test_ops_onnx2torch_cannot_convert_are_named_in_one_line_with_the_log_behind_it(tmp_path: Path) -> None:
    """An If that static shapes do not decide (its condition is computed from the input) and a Hardmax: both named
    before any conversion, with the control-flow fix."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeconv.backends.tflite.onnx_route import convert_onnx

    def branch(name: str, op: str) -> Any:
        return helper.make_graph([helper.make_node(op, ["x"], [f"{name}_y"])], name, [],
                                 [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, None)])

    graph = helper.make_graph(
        [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0), helper.make_node("Greater", ["m", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["b"], then_branch=branch("then", "Relu"), else_branch=branch("else", "Neg")),
         helper.make_node("Hardmax", ["b"], ["y"])], "control",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(np.array(0, np.float32), "zero")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
              str(tmp_path / "control.onnx"))
    with pytest.raises(StageError) as raised:
        convert_onnx(tmp_path / "control.onnx", FeedSet({"x": np.ones((2, 4), np.float32)}), tmp_path / "c.tflite")
    assert "no converter for ONNX op(s) Hardmax, If" in str(raised.value)
    assert "export the model with that branch fixed" in str(raised.value)
    assert "\n" not in raised.value.message and "Traceback" in raised.value.details  # type: ignore[attr-defined]
    assert not (tmp_path / "c.tflite").exists()


def test_inputs_without_a_batch_axis_convert_and_are_fed_whole(tmp_path: Path) -> None:
    """A recurrent state [2, batch, 8] and a scalar sample rate (Silero VAD's inputs) beside a 2-D input padded
    with reflect: converted, then a batch of 3 runs row by row with the state and the rate fed whole."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeconv.backends.tflite.onnx_route import convert_onnx
    from edgeconv.backends.tflite.runner import TFLiteRunner

    graph = helper.make_graph(
        [helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
         helper.make_node("ReduceSum", ["state", "axis0"], ["s"], keepdims=0),
         helper.make_node("Cast", ["sr"], ["r"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["x", "r"], ["xr"]), helper.make_node("Add", ["xr", "s"], ["a"]),
         helper.make_node("Concat", ["p", "a"], ["y"], axis=1)], "stateful",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 8]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 20])],
        [numpy_helper.from_array(np.array([0, 2, 0, 2], np.int64), "pads"),
         numpy_helper.from_array(np.array([0], np.int64), "axis0")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, str(tmp_path / "stateful.onnx"))
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 8)).astype(np.float32)
    state = rng.normal(size=(3, 2, 1, 8)).astype(np.float32)
    feeds = FeedSet({"x": x, "state": state, "sr": np.full(3, 16000, np.int64)},
                    unbatched=frozenset({"state", "sr"}))
    info = convert_onnx(tmp_path / "stateful.onnx", feeds, tmp_path / "stateful.tflite")
    assert info["input_names"] == ["x", "state", "sr"]
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    whole = {"x": x, "state": state[0], "sr": np.array(16000, np.int64)}
    with TFLiteRunner(str(tmp_path / "stateful.tflite"), threads=1, input_names=info["input_names"]) as runner:
        got = next(iter(runner.infer(whole).values()))
    np.testing.assert_allclose(got, session.run(None, whole)[0], rtol=1e-5)


