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


def test_an_op_onnx2torch_cannot_convert_is_one_line_with_the_log_behind_it(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from edgeconv.backends.tflite.onnx_route import convert_onnx

    graph = helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"])], "hardmax",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
              str(tmp_path / "hardmax.onnx"))
    with pytest.raises(StageError) as raised:
        convert_onnx(tmp_path / "hardmax.onnx", FeedSet({"x": np.ones((2, 4), np.float32)}), tmp_path / "h.tflite")
    assert "onnx2torch has no converter for ONNX op Hardmax" in str(raised.value)
    assert "\n" not in raised.value.message and "Traceback" in raised.value.details  # type: ignore[attr-defined]
    assert not (tmp_path / "h.tflite").exists()


def test_inputs_without_a_batch_axis_are_refused_before_converting(tmp_path: Path) -> None:
    from edgeconv.backends.tflite.onnx_route import convert_onnx

    feeds = FeedSet({"x": np.ones((2, 4), np.float32), "state": np.zeros((2, 2, 1, 8), np.float32)},
                    unbatched=frozenset({"state"}))
    with pytest.raises(StageError, match=r"inputs \['state'\] have no batch axis"):
        convert_onnx(tmp_path / "any.onnx", feeds, tmp_path / "x.tflite")
