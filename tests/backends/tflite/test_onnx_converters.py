"""The route's onnx2torch converters (Pad reflect/edge at any rank, LSTM, GRU) against ONNX Runtime on tiny graphs
exported by torch or built with onnx.helper, traced the way the worker traces them (make_fx, oneDNN off)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeconv.backends.tflite.onnx_route_env import ensure_route
from edgeconv.backends.tflite.onnx_route_worker import stub_torchvision_if_broken, to_torch

pytest.importorskip("litert_torch", reason="the TFLite route needs pip install 'edgeconv[tflite]'")


@pytest.fixture(scope="module")
def converters() -> Iterator[Any]:
    """onnx_converters, importable once onnx2torch (the route folder) is on the path, its converters registered.
    Afterwards the path and the modules are taken back: with onnx2torch importable here the route would stop
    giving its folder to the worker, and the torchvision stub would break transformers' import checks."""
    folder = ensure_route()
    before = set(sys.modules)
    if folder is not None:
        sys.path.insert(0, str(folder))
    stub_torchvision_if_broken()  # as the worker does: onnx2torch imports torchvision for two converters
    from edgeconv.backends.tflite import onnx_converters

    onnx_converters.register()
    yield onnx_converters
    if folder is not None:
        sys.path.remove(str(folder))
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("onnx2torch", "torchvision") or name.endswith("onnx_converters"):
            del sys.modules[name]


def ort(model: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def converted(model: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The module the worker makes of ``model`` (onnx2torch, the graph traced with its constants baked in), run on
    ``feeds``."""
    import torch
    from onnx import shape_inference

    args = tuple(torch.from_numpy(v) for v in feeds.values())
    module, _ = to_torch(shape_inference.infer_shapes(model), [args, args])
    assert not any("mkldnn" in str(n.target) for n in module.graph.nodes)  # nothing litert-torch cannot lower
    with torch.no_grad():
        out = module(*args)
    return [t.numpy() for t in (out if isinstance(out, tuple | list) else [out])]


def pad_model(shape: list[int], pads: list[int], mode: str, opset: int, axes: list[int] | None = None) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    initializers = [numpy_helper.from_array(np.array(pads, np.int64), "pads")]
    inputs = ["x", "pads"]
    if axes is not None:
        initializers.append(numpy_helper.from_array(np.array(axes, np.int64), "axes"))
        inputs += ["", "axes"]
    graph = helper.make_graph([helper.make_node("Pad", inputs, ["y"], mode=mode)], "pad",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


@pytest.mark.parametrize(("shape", "pads", "axes"), [
    ([2, 40], [0, 4, 0, 4], None),  # Silero VAD's STFT: [batch, samples], reflect on the last axis
    ([1, 3, 20], [0, 0, 2, 0, 0, 3], None),  # 3-D, the last axis
    ([1, 6, 9], [0, 2, 1, 0, 3, 2], None),  # 3-D, the last two axes
    ([1, 2, 6, 7], [0, 0, 1, 2, 0, 0, 3, 1], None),  # 4-D, NCHW
    ([1, 2, 6, 7], [1, 2, 3, 1], [2, -1]),  # opset 18's axes input
])
@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_pad_reflect_and_edge_match_onnx_runtime(converters: Any, shape: list[int], pads: list[int],
                                                 axes: list[int] | None, mode: str) -> None:
    model = pad_model(shape, pads, mode, 18 if axes else 13, axes)
    x = {"x": np.random.default_rng(0).normal(size=shape).astype(np.float32)}
    expected = ort(model, x)[0]
    got = converted(model, x)[0]
    assert got.shape == expected.shape and got.shape != tuple(shape)
    np.testing.assert_array_equal(got, expected)


def recurrent_model(tmp_path: Path, kind: str, bidirectional: bool) -> Any:
    """A torch LSTM/GRU exported to ONNX with an initial state (as PyTorch writes them: LSTM iofc, GRU
    linear_before_reset=1), outputs Y and the final states."""
    import onnx
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(6, 5, bidirectional=bidirectional)

        def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
            if kind == "LSTM":
                y, (hn, cn) = self.rnn(x, (h, h * 0.5))
                return y, hn, cn
            y, hn = self.rnn(x, h)
            return y, hn

    torch.manual_seed(0)
    dirs = 2 if bidirectional else 1
    args = (torch.randn(7, 1, 6), torch.randn(dirs, 1, 5))
    path = tmp_path / f"{kind}.onnx"
    torch.onnx.export(Net().eval(), args, str(path), input_names=["x", "h"], opset_version=14, dynamo=False)
    model = onnx.load(str(path))
    assert any(n.op_type == kind for n in model.graph.node)
    return model, {"x": args[0].numpy(), "h": args[1].numpy()}


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_and_gru_match_onnx_runtime(converters: Any, tmp_path: Path, kind: str, bidirectional: bool) -> None:
    model, feeds = recurrent_model(tmp_path, kind, bidirectional)
    expected = ort(model, feeds)
    got = converted(model, feeds)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)


def test_a_reverse_lstm_and_what_torch_cannot_express(converters: Any) -> None:
    """direction=reverse runs over the reversed sequence; peepholes have no torch.nn equivalent: named."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w, r = (numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
            for n, s in (("W", (1, 16, 3)), ("R", (1, 16, 4))))
    b = numpy_helper.from_array(rng.normal(size=(1, 32)).astype(np.float32), "B")

    def lstm(inputs: list[str], initializers: list[Any]) -> Any:
        graph = helper.make_graph(
            [helper.make_node("LSTM", inputs, ["y"], hidden_size=4, direction="reverse")], "lstm",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)

    x = {"x": rng.normal(size=(5, 1, 3)).astype(np.float32)}
    model = lstm(["x", "W", "R", "B"], [w, r, b])
    np.testing.assert_allclose(converted(model, x)[0], ort(model, x)[0], atol=1e-5)
    p = numpy_helper.from_array(rng.normal(size=(1, 12)).astype(np.float32), "P")
    with pytest.raises(NotImplementedError, match=r"LSTM with peepholes \(P\) has no torch.nn equivalent"):
        converted(lstm(["x", "W", "R", "B", "", "", "", "P"], [w, r, b, p]), x)


def test_ops_the_worker_rewrites_are_not_refused_as_unconvertible(converters: Any) -> None:
    """GlobalMaxPool has no onnx2torch converter; the worker rewrites it as ReduceMax before refusing ops."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("GlobalMaxPool", ["x"], ["y"])], "pool",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    x = {"x": np.random.default_rng(5).normal(size=(1, 3, 5, 4)).astype(np.float32)}
    expected = ort(model, x)[0]
    np.testing.assert_array_equal(converted(model, x)[0], expected)
