"""ONNX Runtime's fp16 precision says what the CPU provider computes it in, read from the graph ORT runs: on x86
it inserts Casts and computes MatMul / Gemm in fp32 (it has no fp16 kernel for them), LayerNormalization in fp16."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeconv.backends.onnxruntime.fp16 import fp16_note, fp32_compute


def small_model(path: Path) -> Path:
    """MatMul, Add, Relu, Softmax and LayerNormalization over 64 features."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Add", ["a", "b"], ["c"]),
             helper.make_node("Relu", ["c"], ["d"]), helper.make_node("Softmax", ["d"], ["e"], axis=-1),
             helper.make_node("LayerNormalization", ["e", "g", "beta"], ["y"], axis=-1)]
    weights = {"w": rng.normal(size=(64, 64)), "b": np.zeros(64), "g": np.ones(64), "beta": np.zeros(64)}
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 64])],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_the_fp16_record_counts_the_ops_ort_runs_in_fp32(tmp_path: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    fp32 = small_model(tmp_path / "fp32.onnx")
    in_fp32, counted = fp32_compute(fp32)
    assert counted >= 4 and in_fp32 == 0  # an fp32 model: nothing for ORT to move
    fp16 = tmp_path / "fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(fp16))
    in_fp32, counted = fp32_compute(fp16)
    assert 0 < counted - in_fp32 < counted  # LayerNormalization has an fp16 kernel; not every op does
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert in_fp32 * 2 > counted and "saves size, not arithmetic" in fp16_note(fp16)
