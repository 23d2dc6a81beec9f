"""Check an ONNX model against what a TensorRT version can build, before a long engine build.

Two kinds of problem are reported with node names:
- ops the TensorRT ONNX parser does not support (data: ``onnx_ops.json``, taken from
  onnx/onnx-tensorrt docs/operators.md per release), ops from non-standard domains (they need a
  plugin), and an opset outside the parser's range;
- explicit-quantization (QDQ) problems: TensorRT needs int8 Q/DQ with zero-point 0 (symmetric), and
  Q/DQ pairs on the inputs of Conv/MatMul/Gemm; elsewhere they force reformats or fp32 fallback.

The onnx library reads the graph; the rules themselves are TensorRT's documented restrictions, which
no maintained library checks without TensorRT installed (Polygraphy needs TensorRT for this).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from edgeconv.errors import SpecError, StageError

OPS_FILE = Path(__file__).with_name("onnx_ops.json")
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
QDQ_CONSUMERS = {"Conv", "ConvTranspose", "MatMul", "Gemm"}
DEFAULT_DOMAINS = {"", "ai.onnx"}
ERROR, WARNING = "error", "warning"


@dataclass
class Problem:
    kind: str  # unsupported-op, custom-domain, opset, qdq-uint8, qdq-asymmetric, qdq-placement, qdq-partial
    severity: str
    message: str
    nodes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "message": self.message, "nodes": self.nodes}


@dataclass
class CheckReport:
    tensorrt_version: str  # the release whose op list was used
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def to_dict(self) -> dict[str, Any]:
        return {"tensorrt_version": self.tensorrt_version, "ok": self.ok,
                "problems": [p.to_dict() for p in self.problems]}

    def raise_for_errors(self, model: str) -> None:
        """StageError (exit 4) naming the first problem and its nodes, if any problem is an error."""
        if self.ok:
            return
        first = self.errors[0]
        more = f" (+{len(self.errors) - 1} more problems)" if len(self.errors) > 1 else ""
        raise StageError(f"TensorRT {self.tensorrt_version} pre-build check failed for {model}: {first.message}{more}",
                         fix=FIXES.get(first.kind, "see docs/tensorrt.md"))


FIXES = {
    "unsupported-op": "replace the op in the model, or register a TensorRT plugin for it",
    "custom-domain": "export without runtime-specific fusions (ONNX Runtime's com.microsoft ops) for TensorRT",
    "opset": "re-export with export.opset inside the parser's range",
    "qdq-uint8": "quantize with quantize.static.activation_type: int8 (symmetric, zero-point 0)",
    "qdq-asymmetric": "quantize with quantize.static.activation_type: int8 (symmetric, zero-point 0)",
}


@cache
def _ops_table() -> dict[str, Any]:
    return json.loads(OPS_FILE.read_text(encoding="utf-8"))["versions"]


def known_versions() -> list[str]:
    return sorted(_ops_table(), key=_version_tuple)


def ops_for(version: str | None) -> tuple[str, dict[str, Any]]:
    """The op table of ``version`` (major.minor), else of the newest listed release not after it."""
    table = _ops_table()
    ordered = known_versions()
    if version is None:
        return ordered[-1], table[ordered[-1]]
    wanted = _version_tuple(version)[:2]
    earlier = [v for v in ordered if _version_tuple(v) <= wanted]
    chosen = earlier[-1] if earlier else ordered[0]
    return chosen, table[chosen]


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def check_onnx(path: Path, tensorrt_version: str | None = None) -> CheckReport:
    """Walk the graph (no weights loaded beyond initializers) and collect every problem."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises several types for a file that is not ONNX
        raise SpecError(f"'{Path(path).name}' is not a readable ONNX model ({exc})") from exc
    version, ops = ops_for(tensorrt_version)
    report = CheckReport(version)
    _check_opset(model, ops, report)
    _check_ops(model.graph, ops, report)
    _check_qdq(model.graph, report)
    return report


def _check_opset(model: Any, ops: dict[str, Any], report: CheckReport) -> None:
    low, high = ops["opset"]
    for entry in model.opset_import:
        if entry.domain in DEFAULT_DOMAINS and not low <= entry.version <= high:
            message = f"opset {entry.version} is outside the parser's {low}..{high}"
            report.problems.append(Problem("opset", ERROR, message))


def _check_ops(graph: Any, ops: dict[str, Any], report: CheckReport) -> None:
    supported = set(ops["supported"])
    by_op: dict[tuple[str, str], list[str]] = {}
    for node in graph.node:
        if node.domain not in DEFAULT_DOMAINS:
            by_op.setdefault(("custom-domain", f"{node.domain}.{node.op_type}"), []).append(node.name or node.op_type)
        elif node.op_type not in supported:
            by_op.setdefault(("unsupported-op", node.op_type), []).append(node.name or node.op_type)
    for (kind, op), nodes in sorted(by_op.items()):
        what = "is not supported by" if kind == "unsupported-op" else "needs a plugin in"
        report.problems.append(Problem(kind, ERROR, f"op {op} {what} TensorRT {report.tensorrt_version} "
                                       f"(nodes: {_names(nodes)})", nodes))


def _check_qdq(graph: Any, report: CheckReport) -> None:
    from onnx import TensorProto, numpy_helper

    constants = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t
    consumers: dict[str, list[Any]] = {}
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    uint8, asym, placement, partial = [], [], [], []
    for node in graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        zp_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        zp = constants.get(zp_name) if zp_name else None
        if zp is not None:
            dtype = zp.data_type
            values = numpy_helper.to_array(zp)
        else:  # no zero point: Q outputs uint8 by default; DQ takes its input's type
            source = constants.get(node.input[0])
            dtype = source.data_type if node.op_type == "DequantizeLinear" and source is not None else None
            dtype = TensorProto.UINT8 if node.op_type == "QuantizeLinear" else dtype
            values = None
        name = node.name or node.output[0]
        if dtype == TensorProto.UINT8:
            uint8.append(name)
        if values is not None and values.any():
            asym.append(name)
        if node.op_type == "DequantizeLinear":
            users = consumers.get(node.output[0], [])
            if users and not any(u.op_type in QDQ_CONSUMERS for u in users):
                placement.append(name)
    for node in graph.node:
        if node.op_type in QDQ_CONSUMERS:
            fed = [_dequantized(i, producers) for i in node.input[:2] if i]
            if len(fed) == 2 and fed[0] != fed[1]:
                partial.append(node.name or node.output[0])

    if uint8:
        report.problems.append(Problem("qdq-uint8", ERROR, f"{len(uint8)} Q/DQ nodes are uint8; TensorRT explicit "
                                       f"quantization takes int8 only (nodes: {_names(uint8)})", uint8))
    if asym:
        report.problems.append(Problem("qdq-asymmetric", ERROR, f"{len(asym)} Q/DQ nodes have a non-zero zero-point; "
                                       f"TensorRT needs symmetric scales (nodes: {_names(asym)})", asym))
    if placement:
        report.problems.append(Problem("qdq-placement", WARNING, f"{len(placement)} DequantizeLinear nodes feed no "
                                       f"Conv/MatMul/Gemm, so TensorRT keeps them as reformats (nodes: "
                                       f"{_names(placement)})", placement))
    if partial:
        report.problems.append(Problem("qdq-partial", WARNING, f"{len(partial)} Conv/MatMul/Gemm nodes have only some "
                                       f"inputs quantized and run in float (nodes: {_names(partial)})", partial))


def _dequantized(tensor: str, producers: dict[str, Any]) -> bool:
    node = producers.get(tensor)
    return node is not None and node.op_type == "DequantizeLinear"


def _names(nodes: list[str], limit: int = 5) -> str:
    shown = ", ".join(nodes[:limit])
    return shown + (f", ... {len(nodes) - limit} more" if len(nodes) > limit else "")
