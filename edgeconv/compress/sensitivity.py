"""Rank quantized nodes by the error each one adds, measured on real calibration data.

Both graphs (the float graph a recipe quantizes, and its quantized version) are run with the
tensors each candidate node reads and writes exposed as outputs; ORT's quantizers keep the original
names of those tensors. (ORT's ``qdq_loss_debug`` exposes only tensors whose type shape inference
found, which misses the outputs of dynamically quantized nodes, so the exposure is done here.)
A node's score is the relative error of its output minus the largest relative error among its
inputs: the noise the node itself adds, not what it inherited from upstream. Errors are
accumulated example by example, so memory stays bounded whatever the model's size.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.progress.steps import Task


@dataclass
class NodeSensitivity:
    name: str
    op_type: str
    score: float  # relative output error added by this node
    output_error: float  # relative error of its output against the float graph
    measured: bool = True  # False: no output of it could be compared (0.0 above), so it ranks last


FLOAT_TYPES = (1, 10)  # onnx.TensorProto.FLOAT, FLOAT16


def _float_tensors(model: Path) -> tuple[set[str], set[str]]:
    """(float tensors, tensors of a known other type) after ONNX shape inference."""
    import onnx

    proto = onnx.shape_inference.infer_shapes(onnx.load(str(model), load_external_data=False))
    infos = [*proto.graph.value_info, *proto.graph.input, *proto.graph.output]
    floats = {v.name for v in infos if v.type.tensor_type.elem_type in FLOAT_TYPES}
    others = {v.name for v in infos if v.type.tensor_type.elem_type not in (0, *FLOAT_TYPES)}
    return floats, others


def exposed_session(model: Path, tensors: set[str], folder: Path) -> tuple[object, list[str]]:
    """An ORT session of ``model`` whose outputs include every float tensor of ``tensors`` it produces.

    A tensor whose type shape inference cannot tell (outputs of contrib ops) is exposed as float
    only when ``tensors`` was already filtered to float tensors of the other graph.
    """
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    proto = onnx.load(str(model))
    _, others = _float_tensors(model)
    produced = {t for n in proto.graph.node for t in n.output}
    present = {o.name for o in proto.graph.output}
    for name in sorted((tensors & produced) - present - others):
        proto.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    exposed = folder / f"{model.stem}.exposed.onnx"
    onnx.save(proto, str(exposed))
    session = ort.InferenceSession(str(exposed), providers=["CPUExecutionProvider"])
    return session, [o.name for o in session.get_outputs()]


def rank_nodes(float_graph: Path, quantized: Path, nodes: list[str], feeds: FeedSet) -> list[NodeSensitivity]:
    """Score ``nodes`` (names in ``float_graph``) by the error they add; most sensitive first."""
    import onnx

    graph = onnx.load(str(float_graph), load_external_data=False).graph
    by_name = {n.name: n for n in graph.node if n.name in set(nodes)}
    floats, others = _float_tensors(float_graph)
    # Inputs must be known floats (token ids are not); outputs of contrib ops may be untyped.
    tensors = {t for n in by_name.values() for t in n.input if t in floats}
    # An untyped output is exposed as float only when it is a node's first: a contrib op's later outputs may be
    # integers (EmbedLayerNormalization's int32 mask_index, which ORT then refuses to load as float).
    tensors |= {t for n in by_name.values() for i, t in enumerate(n.output)
                if t in floats or (t not in others and i == 0)}
    with tempfile.TemporaryDirectory() as tmp:
        float_session, float_names = exposed_session(float_graph, tensors, Path(tmp))
        quant_session, quant_names = exposed_session(quantized, tensors, Path(tmp))
        shared = sorted(set(float_names) & set(quant_names))
        err_sq = dict.fromkeys(shared, 0.0)
        ref_sq = dict.fromkeys(shared, 0.0)
        progress = Task("sensitivity ranking: example", len(feeds))
        for i in range(len(feeds)):
            example = feeds.example(i)
            f_out = dict(zip(float_names, float_session.run(float_names, example), strict=True))
            q_out = dict(zip(quant_names, quant_session.run(quant_names, example), strict=True))
            for name in shared:
                f, q = np.asarray(f_out[name], np.float64), np.asarray(q_out[name], np.float64)
                if f.shape == q.shape and f.dtype.kind == "f":
                    err_sq[name] += float(np.sum((q - f) ** 2))
                    ref_sq[name] += float(np.sum(f**2))
            progress.advance(f"{len(shared)} tensors of {len(by_name)} nodes compared")
    rel = {n: (err_sq[n] / ref_sq[n]) ** 0.5 for n in shared if ref_sq[n] > 0}
    ranked, unmeasured = [], []
    for name, node in by_name.items():
        outputs = [rel[t] for t in node.output if t in rel]
        if not outputs:  # fused away in the quantized graph: still a unit the fallback must be able to restore
            unmeasured.append(NodeSensitivity(name, node.op_type, 0.0, 0.0, measured=False))
            continue
        inherited = max((rel[t] for t in node.input if t in rel), default=0.0)
        ranked.append(NodeSensitivity(name, node.op_type, max(outputs) - inherited, max(outputs)))
    # the unmeasured last: left out, the fallback's ceiling was not every node (PP-OCR's detector: 19 of 84 Convs)
    return sorted(ranked, key=lambda s: s.score, reverse=True) + unmeasured
