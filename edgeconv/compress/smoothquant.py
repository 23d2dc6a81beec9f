"""SmoothQuant: move activation outliers into the weights before static int8 (Xiao et al., 2023).

A MatMul ``Y = X W`` equals ``(X diag(1/s)) (diag(s) W)``. With ``s_j = max|X_j|^a / max|W_j|^(1-a)``
per input channel j, the outlier channels of X (LayerNorm and GELU outputs in BERT-like models reach
100x the median channel) shrink to the others' range, so one per-tensor activation scale holds them,
and the weights, quantized per output channel, absorb the factor. The float graph computes the same
function; only the quantization error moves.

ONNX Runtime's ``quantize_static(extra_options={"SmoothQuant": True})`` delegates this to Intel Neural
Compressor 2.x (``neural_compressor.adaptor.ox_utils.smooth_quant``), a line INC 3 dropped: on this stack
it needs ``pkg_resources`` (setuptools < 81), ``schema``, ``prettytable`` and ``pycocotools`` beside a
frozen INC (measured 2026-12-02), so the transform is written here with onnx: one ``Mul`` by ``1/s``
inserted on each smoothed activation (shared by the MatMuls reading it; not folded into a LayerNorm,
whose output also feeds the residual Add in post-LN models) and the weights' rows scaled by ``s``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.compress.sensitivity import exposed_session
from edgeconv.data.feeds import FeedSet
from edgeconv.progress.steps import Task

SCALE_LIMITS = (1e-5, 1e5)


def smoothable(graph: Any) -> dict[str, list[Any]]:
    """Activation tensor -> the MatMul/Gemm nodes that multiply it by a 2-D weight (initializer) used by that
    node alone (a shared, tied weight cannot take two different scalings)."""
    weights = {i.name: i for i in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    groups: dict[str, list[Any]] = {}
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
            continue
        weight = weights.get(node.input[1])
        if weight is None or len(weight.dims) != 2 or node.input[0] in weights or _transposes_a(node) \
                or uses[node.input[1]] > 1:
            continue
        groups.setdefault(node.input[0], []).append(node)
    return groups


def smooth(float_graph: Path, dst: Path, feeds: FeedSet, alpha: float = 0.5) -> list[str]:
    """Write the smoothed graph to ``dst``; return the activations smoothed. Node names are kept, so
    float-fallback exclusions still name the same MatMuls; each inserted Mul is ``<tensor>/smooth``."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(float_graph))
    groups = smoothable(model.graph)
    if not groups:
        onnx.save(model, str(dst))
        return []
    activation_max = _channel_max(float_graph, set(groups), feeds)
    weights = {i.name: i for i in model.graph.initializer}
    smoothed, inserted = [], {}
    for tensor, nodes in groups.items():
        x_max = activation_max.get(tensor)
        matrices = [_as_k_by_n(numpy_helper.to_array(weights[n.input[1]]), n) for n in nodes]
        if x_max is None or any(m.shape[0] != x_max.shape[0] for m in matrices):
            continue
        w_max = np.max([np.abs(m).max(axis=1) for m in matrices], axis=0)
        scale = np.where((x_max > 0) & (w_max > 0),
                         x_max**alpha / np.maximum(w_max, 1e-12) ** (1 - alpha), 1.0)
        scale = np.clip(scale, *SCALE_LIMITS).astype(np.float32)
        for node, matrix in zip(nodes, matrices, strict=True):
            scaled = _from_k_by_n(matrix * scale[:, None], node).astype(matrix.dtype)
            weights[node.input[1]].CopyFrom(numpy_helper.from_array(scaled, node.input[1]))
        inverse, output = f"{tensor}/smooth_scale", f"{tensor}/smoothed"
        model.graph.initializer.append(numpy_helper.from_array((1 / scale).astype(np.float32), inverse))
        inserted[tensor] = helper.make_node("Mul", [tensor, inverse], [output], name=f"{tensor}/smooth")
        for node in nodes:
            node.input[0] = output
        smoothed.append(tensor)
    _place(model.graph, inserted)
    onnx.save(model, str(dst))
    return smoothed


def _transposes_a(node: Any) -> bool:
    return node.op_type == "Gemm" and any(a.name == "transA" and a.i for a in node.attribute)


def _transposes_b(node: Any) -> bool:
    return node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)


def _as_k_by_n(weight: np.ndarray, node: Any) -> np.ndarray:
    """The weight as [input channels, outputs] whatever the Gemm's transB."""
    return weight.T if _transposes_b(node) else weight


def _from_k_by_n(matrix: np.ndarray, node: Any) -> np.ndarray:
    return matrix.T if _transposes_b(node) else matrix


def _channel_max(float_graph: Path, tensors: set[str], feeds: FeedSet) -> dict[str, np.ndarray]:
    """Per-channel (last axis) max |x| of each tensor over ``feeds``, from the float graph."""
    maxima: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        session, names = exposed_session(float_graph, tensors, Path(tmp))
        wanted = [n for n in names if n in tensors]
        progress = Task("SmoothQuant activation ranges: example", len(feeds))
        for i in range(len(feeds)):
            example = feeds.example(i)
            values = dict(zip(wanted, session.run(wanted, example), strict=True)) if wanted else {}
            values.update({name: example[name] for name in tensors if name in example})  # graph inputs
            for name, value in values.items():
                value = np.abs(np.asarray(value, np.float32))
                per_channel = value.reshape(-1, value.shape[-1]).max(axis=0) if value.ndim else value.reshape(1)
                maxima[name] = per_channel if name not in maxima else np.maximum(maxima[name], per_channel)
            progress.advance(f"{len(wanted)} activations")
    return maxima


def _place(graph: Any, inserted: dict[str, Any]) -> None:
    """Put each new Mul right after the node producing its input (graph inputs: first), keeping the order."""
    first = [mul for tensor, mul in inserted.items() if not any(tensor in n.output for n in graph.node)]
    ordered = list(first)
    for node in graph.node:
        ordered.append(node)
        ordered += [inserted[out] for out in node.output if out in inserted]
    del graph.node[:]
    graph.node.extend(ordered)
