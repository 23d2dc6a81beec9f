"""Where a static int8 model's error enters: each quantized tensor's own loss, its range and outliers.

Before any remedy is tried, the QDQ candidate and its float graph are run side by side on calibration
examples, each quantized activation exposed before its QuantizeLinear and after its DequantizeLinear
with its shape kept (ONNX Runtime's ``qdq_loss_debug`` flattens what it exposes and holds every example
in memory; its weight matching is used as it is). For every quantized activation we measure
- its *local* SQNR: the tensor before its QuantizeLinear against after its DequantizeLinear, in the
  QDQ model: the noise this one quantizer adds, not what it inherits from upstream; over the whole
  tensor, and for its median channel (last axis), which is what ranks them: one outlier channel
  dominates a tensor's energy, so the whole-tensor SQNR stays high while every other channel is
  rounded to a few levels;
- its *cross-model* SQNR: the float graph's tensor against the QDQ model's dequantized one: the error
  accumulated up to there;
- its range in the float graph and how concentrated it is: the largest per-channel |max| over the
  median channel's. Outlier channels (LayerNorm outputs, GELU outputs in BERT-like models) are
  what per-tensor activation scales cannot hold, and what SmoothQuant migrates into the weights.
Weights get ORT's own weight matching and SQNR. Errors are summed example by example.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.compress.sensitivity import exposed_session
from edgeconv.data.feeds import FeedSet
from edgeconv.progress.steps import Task

OUTLIER_CHANNEL_RATIO = 6.0  # a channel whose |max| is this many times the median channel's is an outlier


POOR_SQNR_DB = 10.0  # an activation whose own Q/DQ keeps less signal than this (median channel) is a culprit


@dataclass
class TensorError:
    """One quantized activation: how much its own quantizer loses, and why."""

    name: str
    local_sqnr_db: float  # before vs after its own Q/DQ, in the QDQ model
    channel_sqnr_db: float  # the same for the median channel: what an outlier channel costs the others
    model_sqnr_db: float | None  # float graph vs the QDQ model's dequantized value
    kind: str  # the usual culprit it is, when one: "after LayerNorm", "after GELU", "into the residual Add", ...
    role: str  # where it sits, in words: "output of LayerNormalization X, input of MatMul Y"
    min: float
    max: float
    channel_ratio: float  # largest channel |max| / median channel |max| (1 = even)
    outlier_channels: list[int] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)  # the float graph's nodes that read it: the fallback's units


@dataclass
class Diagnosis:
    """What report.json keeps: the worst activations first, then the worst weights."""

    activations: list[TensorError]
    weights: list[dict[str, Any]]  # {"name", "sqnr_db"}, worst first
    examples: int

    def to_dict(self, top: int = 8) -> dict[str, Any]:
        """The ``top`` worst activations, and every other one under ``POOR_SQNR_DB`` (the fallback's first units)."""
        kept = [asdict(a) for i, a in enumerate(self.activations) if i < top or a.channel_sqnr_db < POOR_SQNR_DB]
        return {"examples": self.examples, "activations": kept, "weights": self.weights[:top]}

    def summary(self, top: int = 3) -> str:
        """The worst tensors in one line, for progress and notes."""
        parts = [f"{a.name} ({a.kind}, {a.channel_sqnr_db:.1f} dB"
                 + (f", channel outliers {a.channel_ratio:.0f}x" if a.outlier_channels else "") + ")"
                 for a in self.activations[:top]]
        return "; ".join(parts)


def localise(float_graph: Path, qdq_model: Path, feeds: FeedSet) -> Diagnosis:
    """Measure every quantized activation of ``qdq_model`` (made from ``float_graph``) on ``feeds``."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (
        compute_signal_to_quantization_noice_ratio,
        create_weight_matching,
    )

    qdq_graph = onnx.load(str(qdq_model), load_external_data=False).graph
    pairs = quantized_activations(qdq_graph)
    mapped = rescaled_pairs(qdq_graph)
    with tempfile.TemporaryDirectory() as tmp:
        q_session, q_names = exposed_session(qdq_model, {t for p in pairs.items() for t in p}, Path(tmp))
        f_session, f_names = exposed_session(float_graph, set(pairs), Path(tmp))
        sums = {name: _Sums() for name, post in pairs.items() if name in q_names and post in q_names}
        progress = Task("int8 error localisation: example", len(feeds))
        for i in range(len(feeds)):
            example = feeds.example(i)
            q_out = dict(zip(q_names, q_session.run(q_names, example), strict=True))
            f_out = dict(zip(f_names, f_session.run(f_names, example), strict=True))
            for name, running in sums.items():
                pre = q_out[name]
                if name in mapped:  # a rewrite's pair (an int8 Add for HardSigmoid): compare in the DQ's terms
                    factor, lo, hi = mapped[name]
                    pre = np.clip(pre * factor, lo, hi)
                running.add(pre, q_out[pairs[name]], f_out.get(name))
            progress.advance(f"{len(sums)} quantized activations")
        # ORT logs "Model Error ... not recognized!" on the root logger for every dequantized constant without a
        # float twin (the HardSigmoid rewrite's offsets): expected, and not the user's to read
        logging.disable(logging.ERROR)
        try:
            matching = create_weight_matching(str(float_graph), str(qdq_model))
        finally:
            logging.disable(logging.NOTSET)
        # ORT's compute_weight_error fails on a 0-d weight (PaddleOCR's scalar Mul constants): scalars skipped
        weights = {name: compute_signal_to_quantization_noice_ratio(pair["float"], pair["dequantized"])
                   for name, pair in matching.items() if np.ndim(pair["float"]) > 0}
    graph = onnx.load(str(float_graph), load_external_data=False).graph
    consumers = _consumers(graph)
    roles, kinds = _roles(graph, consumers)
    activations = [s.result(name, kinds.get(name, "activation"), roles.get(name, "graph input"),
                            [n.name for n in consumers.get(name, [])]) for name, s in sums.items()]
    activations.sort(key=lambda a: a.channel_sqnr_db)
    ranked_weights = [{"name": k, "sqnr_db": round(v, 2)} for k, v in sorted(weights.items(), key=lambda kv: kv[1])]
    return Diagnosis(activations, ranked_weights, len(feeds))


def quantized_activations(graph: Any) -> dict[str, str]:
    """Each quantized activation of a QDQ graph -> the output of its DequantizeLinear (weights excluded)."""
    constants = {i.name for i in graph.initializer} | {n.output[0] for n in graph.node if n.op_type == "Constant"}
    dequantize = {n.input[0]: n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    return {n.input[0]: dequantize[n.output[0]] for n in graph.node
            if n.op_type == "QuantizeLinear" and n.input[0] not in constants and n.output[0] in dequantize}


def rescaled_pairs(graph: Any) -> dict[str, tuple[float, float, float]]:
    """Quantized activations whose QuantizeLinear and DequantizeLinear scales differ -> (DQ scale / Q scale, the
    DQ's range): a graph rewrite's deliberate map, as ``qdq_hardsigmoid`` writes HardSigmoid as an Add whose
    output is ``1 / alpha`` times HardSigmoid's before the Q's saturation clips it. Their local error is taken
    after that map, else the diagnosis would read the designed clip and scale as noise (1 dB on PP-LCNet)."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer if not i.dims}
    dequantize = {n.input[0]: n for n in graph.node if n.op_type == "DequantizeLinear"}
    out: dict[str, tuple[float, float, float]] = {}
    for q in graph.node:
        dq = dequantize.get(q.output[0]) if q.op_type == "QuantizeLinear" else None
        if dq is None or len(q.input) < 3 or len(dq.input) < 3:
            continue
        q_scale, dq_scale, zero = (inits.get(q.input[1]), inits.get(dq.input[1]), inits.get(dq.input[2]))
        if q_scale is None or dq_scale is None or zero is None or np.isclose(q_scale, dq_scale, rtol=1e-6):
            continue
        info = np.iinfo(zero.dtype)
        out[q.input[0]] = (float(dq_scale / q_scale), float((info.min - int(zero)) * dq_scale),
                           float((info.max - int(zero)) * dq_scale))
    return out


class _Sums:
    """Running squared norms and ranges of one activation over the examples."""

    def __init__(self) -> None:
        self.signal = self.local_noise = self.model_noise = self.float_signal = 0.0
        self.lo, self.hi = math.inf, -math.inf
        self.channel_max: np.ndarray | None = None
        self.channel_signal: np.ndarray | None = None
        self.channel_noise: np.ndarray | None = None

    def add(self, pre: np.ndarray, post: np.ndarray, float_value: np.ndarray | None) -> None:
        pre64, post64 = np.asarray(pre, np.float64), np.asarray(post, np.float64)
        self.signal += float(np.sum(pre64**2))
        self.local_noise += float(np.sum((pre64 - post64) ** 2))
        if pre64.ndim >= 1 and pre64.size:
            signal = np.sum(pre64.reshape(-1, pre64.shape[-1]) ** 2, axis=0)
            noise = np.sum((pre64 - post64).reshape(-1, pre64.shape[-1]) ** 2, axis=0)
            same = self.channel_signal is not None and self.channel_signal.shape == signal.shape
            self.channel_signal = self.channel_signal + signal if same else signal  # type: ignore[operator]
            self.channel_noise = self.channel_noise + noise if same else noise  # type: ignore[operator]
        matched = float_value is not None and np.shape(float_value) == pre64.shape
        reference = np.asarray(float_value, np.float64) if matched else pre64
        if matched:
            self.float_signal += float(np.sum(reference**2))
            self.model_noise += float(np.sum((reference - post64) ** 2))
        finite = reference[np.isfinite(reference)]
        if finite.size:
            self.lo, self.hi = min(self.lo, float(finite.min())), max(self.hi, float(finite.max()))
        if reference.ndim >= 1 and reference.size:
            per_channel = np.nanmax(np.abs(np.where(np.isfinite(reference), reference, 0.0))
                                    .reshape(-1, reference.shape[-1]), axis=0)
            if self.channel_max is None or self.channel_max.shape != per_channel.shape:
                self.channel_max = per_channel
            else:
                self.channel_max = np.maximum(self.channel_max, per_channel)

    def result(self, name: str, kind: str, role: str, consumers: list[str]) -> TensorError:
        ratio, outliers = 1.0, []
        if self.channel_max is not None and self.channel_max.size > 1:
            median = float(np.median(self.channel_max)) or 1e-12
            ratio = float(self.channel_max.max()) / median
            outliers = [int(i) for i in np.argsort(-self.channel_max)[:8]
                        if self.channel_max[i] > OUTLIER_CHANNEL_RATIO * median]
        model = _sqnr(self.float_signal, self.model_noise) if self.float_signal else None
        local = _sqnr(self.signal, self.local_noise)
        channel = local
        if self.channel_signal is not None and self.channel_noise is not None:
            eps = np.finfo(np.float64).eps
            live = self.channel_signal > 0
            if live.any():
                ratios = self.channel_signal[live] / np.maximum(self.channel_noise[live], eps)
                channel = 10 * math.log10(float(np.median(ratios)))
        return TensorError(name, round(local, 2), round(channel, 2),
                           None if model is None else round(model, 2), kind, role,
                           round(self.lo, 4), round(self.hi, 4), round(ratio, 1), outliers, consumers)


def _sqnr(signal: float, noise: float) -> float:
    eps = np.finfo(np.float64).eps
    return 10 * math.log10(max(signal, eps) / max(noise, eps))


def _consumers(graph: Any) -> dict[str, list[Any]]:
    """Each tensor of the float graph -> the nodes that read it."""
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers


def _roles(graph: Any, consumers: dict[str, list[Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """Each tensor's place in the float graph in words (its producer and first consumers), and which of a
    transformer's usual int8 culprits it is (``_kind``)."""
    producer = {out: node for node in graph.node for out in node.output}
    constants = {i.name for i in graph.initializer} | {n.output[0] for n in graph.node if n.op_type == "Constant"}
    roles, kinds = {}, {}
    for name in set(producer) | set(consumers):
        made = producer.get(name)
        used = consumers.get(name, [])
        parts = [f"output of {made.op_type} {made.name}" if made is not None else "graph input"]
        if used:
            shown = ", ".join(f"{n.op_type} {n.name}" for n in used[:3])
            parts.append(f"input of {shown}" + (f" (+{len(used) - 3})" if len(used) > 3 else ""))
        roles[name] = ", ".join(parts)
        kinds[name] = _kind(made, _through_bias(used, consumers, constants), producer, constants)
    return roles, kinds


def _through_bias(used: list[Any], consumers: dict[str, list[Any]], constants: set[str]) -> list[Any]:
    """The consumers that matter: past a lone bias Add (a MatMul's output goes to its bias, then on)."""
    if len(used) == 1 and used[0].op_type == "Add" and any(i in constants for i in used[0].input):
        return consumers.get(used[0].output[0], [])
    return used


def _kind(made: Any, used: list[Any], producer: dict[str, Any], constants: set[str]) -> str:
    """Name the usual culprit a tensor is: LayerNorm and GELU outputs (outlier channels), softmax inputs,
    the attention-mask add, the residual stream (an Add of two activations)."""
    if made is not None and made.op_type in ("LayerNormalization", "SkipLayerNormalization"):
        return "after LayerNorm"
    if made is not None and (made.op_type in ("Gelu", "FastGelu", "BiasGelu") or _ends_gelu(made, producer)):
        return "after GELU"
    if any(n.op_type == "Softmax" for n in used):
        return "softmax input"
    adds = [n for n in used if n.op_type == "Add" and not any(i in constants for i in n.input)]
    if adds:
        others = [producer.get(i) for n in adds for i in n.input]
        if any(o is not None and "mask" in (o.name + "".join(o.input)).lower() for o in others):
            return "into the attention-mask Add"
        return "into a residual Add"
    return f"after {made.op_type}" if made is not None else "graph input"


def _ends_gelu(node: Any, producer: dict[str, Any]) -> bool:
    """A Mul closing a decomposed GELU (x * 0.5 * (1 + erf(x / sqrt 2))): an Erf two or three steps up."""
    if node.op_type != "Mul":
        return False
    frontier = [node]
    for _ in range(3):
        frontier = [producer[i] for n in frontier for i in n.input if i in producer]
        if any(n.op_type == "Erf" for n in frontier):
            return True
    return False
