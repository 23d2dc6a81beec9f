"""Tiny ONNX models for the TensorRT conversion tests (made with onnx.helper, milliseconds to build)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_matmul(path: Path, extra_op: str | None = None, domain: str = "") -> Path:
    """x[batch, 4] -> MatMul(W) -> Add(b) -> [optional op] -> logits[batch, 2]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 2)).astype(np.float32), "W")
    bias = numpy_helper.from_array(rng.standard_normal(2).astype(np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="fc/MatMul"),
             helper.make_node("Add", ["h", "b"], ["y" if extra_op else "logits"], name="fc/Add")]
    if extra_op:
        nodes.append(helper.make_node(extra_op, ["y"], ["logits"], name=f"odd/{extra_op}", domain=domain))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])], [weight, bias],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
