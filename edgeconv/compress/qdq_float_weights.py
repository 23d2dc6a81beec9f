"""Keep a float Conv/Gemm float in a QDQ model, as the spec or the search asked.

ONNX Runtime (1.20+) runs a graph optimizer at every session load, ``WeightBiasQuantization``, that takes any
Conv, ConvTranspose or Gemm whose input comes from a DequantizeLinear with a per-tensor scale and whose weight
is a float initializer, and quantizes that weight to int8, per tensor, symmetric; the QDQ fusion then runs the
node as a QLinearConv. So a node ``quantize_static`` left float (``nodes_to_exclude``: the search's keep-float
remedy, ``quantize.static.exclude_nodes``) between int8 neighbours ran in int8 anyway, with coarser weights than
the per-channel ones it was excluded from: on the zoo's PP-LCNet, 13 depthwise Convs kept float all ran as
per-tensor QLinearConvs. The optimizer checks only that the input's scale is a scalar, so this module gives
each such node its own DequantizeLinear with the same scale and zero point repeated along the channel axis
(per-axis: the same numbers, bit for bit), which it leaves alone, in any ONNX Runtime session a user opens.
No quantizer option does this (onnxruntime's ``DedicatedQDQPair`` still writes scalar scales), hence the module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.export.onnx_import import MIN_OPSET  # per-axis DequantizeLinear

WEIGHTED = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1}  # op type -> index of its weight input


def keep_weighted_float(path: Path) -> list[str]:
    """Give every float Conv/ConvTranspose/Gemm that reads a per-tensor DequantizeLinear its own per-axis one;
    return the nodes' names (the file at ``path`` is rewritten only when there are any)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        return []
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    kept: list[str] = []
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        channels = _input_channels(node, inits)
        source = producer.get(node.input[0]) if node.input else None
        if channels is None or source is None or source.op_type != "DequantizeLinear" or len(source.input) < 3:
            nodes.append(node)
            continue
        scale, zero = inits.get(source.input[1]), inits.get(source.input[2])
        if scale is None or zero is None or list(scale.dims) not in ([], [1]):
            nodes.append(node)
            continue
        base = f"{node.name or node.output[0]}_float_input"
        scales = np.full(channels, numpy_helper.to_array(scale).reshape(-1)[0], dtype=np.float32)
        zeros = np.full(channels, numpy_helper.to_array(zero).reshape(-1)[0])
        graph.initializer.extend([numpy_helper.from_array(scales, f"{base}_scale"),
                                  numpy_helper.from_array(zeros, f"{base}_zero")])
        nodes.append(helper.make_node("DequantizeLinear", [source.input[0], f"{base}_scale", f"{base}_zero"],
                                      [base], name=f"{base}_dq", axis=1))
        node.input[0] = base
        nodes.append(node)
        kept.append(node.name)
    if kept:
        graph.ClearField("node")
        graph.node.extend(nodes)
        onnx.save(model, str(path))
    return kept


def _input_channels(node: Any, inits: dict[str, Any]) -> int | None:
    """The channel count of a weighted node's input (axis 1) when its weight is a float initializer, else None."""
    from onnx import TensorProto, helper

    index = WEIGHTED.get(node.op_type)
    if index is None or len(node.input) <= index:
        return None
    weight = inits.get(node.input[index])
    if weight is None or weight.data_type != TensorProto.FLOAT or len(weight.dims) < 2:
        return None
    dims = list(weight.dims)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Conv":
        return dims[1] * int(attrs.get("group", 1))
    if node.op_type == "ConvTranspose":
        return dims[0]
    return dims[1] if attrs.get("transB", 0) else dims[0]  # Gemm: A is [M, K]
