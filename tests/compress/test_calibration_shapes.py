"""Percentile and entropy calibration over images of several sizes (PaddleOCR's detector fed at each image's own
aspect ratio): ONNX Runtime's histogram collector stacks one call's activations, so each shape is one call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeconv.compress import quantize
from edgeconv.compress.calibration import ShapeGroupReader
from edgeconv.data.feeds import FeedSet
from edgeconv.spec import StaticQuantSpec

SIZES = [(32, 32), (48, 40), (32, 32), (48, 40), (32, 32), (24, 56)]
LOUD = 10.0  # the 48x40 images (the second call) are this much louder: their range must reach the histogram


def any_size_conv(path: Path) -> Path:
    """Conv -> Relu -> Conv on [1, 3, H, W] with H and W free."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (1, 8, 3, 3)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "any_size", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "h", "w"])], [w1, w2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


@pytest.fixture(scope="module")
def images() -> FeedSet:
    rng = np.random.default_rng(1)
    padded = np.zeros((len(SIZES), 3, 48, 56), np.float32)
    for i, (h, w) in enumerate(SIZES):
        padded[i, :, :h, :w] = rng.normal(size=(3, h, w)) * (LOUD if (h, w) == (48, 40) else 1.0)
    return FeedSet({"x": padded}, shapes={"x": np.array([[3, h, w] for h, w in SIZES])})


def test_each_call_reads_one_shape_group_largest_first(images: FeedSet) -> None:
    reader = ShapeGroupReader(images)
    assert len(reader) == 3
    seen = []
    for g in range(len(reader)):
        reader.set_range(g, g + 1)
        shapes = set()
        while (example := reader.get_next()) is not None:
            shapes.add(example["x"].shape)
            seen.append(example["x"].shape)
        assert len(shapes) == 1
    assert seen[:3] == [(1, 3, 32, 32)] * 3 and len(seen) == len(SIZES)


def input_scale(path: Path) -> float:
    model = onnx.load(str(path))
    q = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "x")
    scale = next(i for i in model.graph.initializer if i.name == q.input[1])
    return float(numpy_helper.to_array(scale))


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_histogram_calibration_runs_over_several_shapes_and_merges_every_call(
        images: FeedSet, method: str, tmp_path: Path) -> None:
    graph = any_size_conv(tmp_path / "m.onnx")
    minmax = quantize.make_int8_static(graph, tmp_path / "minmax.onnx", images, StaticQuantSpec())
    record = quantize.make_int8_static(graph, tmp_path / f"{method}.onnx", images, StaticQuantSpec(method=method))
    assert any("3 input shapes" in n for n in record.notes) and not any("3 input shapes" in n for n in minmax.notes)
    quiet = 2 * 4.5 / 255  # the range of the quiet images alone (|x| < 4.5 at this size)
    assert input_scale(tmp_path / f"{method}.onnx") > 3 * quiet  # the loud second call reached the histogram
    assert input_scale(tmp_path / f"{method}.onnx") <= input_scale(tmp_path / "minmax.onnx") * 1.01
