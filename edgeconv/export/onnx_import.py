"""Take a user's ONNX file (any exporter, opset 9+, IR 3+) as the reference, made fit for the recipes.

Files from other frameworks and older tools (paddle2onnx, tf2onnx, old torch exports) trip the
quantizers: per-channel Q/DQ needs opset 13, initializers listed as graph inputs are treated as
runtime inputs (so they are never quantized), unnamed dimensions ('?', -1) confuse shape-based
tools, and Identity/Constant chains hide the patterns the runtime fuses. Each fix below is a
maintained library's (onnx's version converter and shape inference, onnxslim), kept only when the
result still matches the original file on the evaluation feeds; what was done is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.errors import SpecError
from edgeconv.export.onnx_export import PROTOBUF_LIMIT
from edgeconv.export.parity import parity_figures
from edgeconv.models.tasks import is_classification

MIN_OPSET = 13  # per-channel QuantizeLinear/DequantizeLinear (the `axis` attribute) arrives in opset 13
PARITY_EXAMPLES = 16
PARITY_RTOL = 1e-3  # of the output's range: float re-association in a rewritten graph stays far below it


def import_onnx(src: Path, dst: Path, feeds: FeedSet, task: str) -> dict[str, Any]:
    """Load, repair, upgrade and simplify ``src`` into ``dst``; return what was done and the parity (the figures
    that apply to ``task``'s outputs)."""
    import onnx

    model = _load(src)
    original = model.SerializeToString() if model.ByteSize() < PROTOBUF_LIMIT else None
    record: dict[str, Any] = {"from": _facts(model), "steps": [], "skipped": []}
    steps: list[tuple[str, Callable[[Any], Any]]] = [
        ("inputs without initializers", _drop_initializer_inputs),
        (f"opset upgraded to {MIN_OPSET}", _upgrade_opset),
        ("named dynamic dimensions", _name_dimensions),
        ("simplified with onnxslim", _slim),
    ]
    for name, step in steps:
        try:
            changed = step(_copy(model))
        except Exception as exc:  # a converter that cannot handle this graph: keep the model as it was
            record["skipped"].append(f"{name}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
            continue
        if changed is None:
            continue
        problem = _mismatch(original, changed, feeds) if original is not None else None
        if problem:
            record["skipped"].append(f"{name}: {problem}")
            continue
        model = changed
        record["steps"].append(name)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises several types for an invalid graph
        raise SpecError(f"'{src.name}' is not a valid ONNX model: {' '.join(str(exc).split())[:300]}",
                        fix="re-export it, or check it with `python -m onnx.checker`") from exc
    record["to"] = _facts(model)
    external = model.ByteSize() > PROTOBUF_LIMIT
    onnx.save_model(model, str(dst), save_as_external_data=external, location=dst.name + ".data")
    record["parity"] = _parity(original, dst, feeds, task) if original is not None else None
    return record


def _load(src: Path) -> Any:
    import onnx

    try:
        return onnx.load(str(src))
    except Exception as exc:  # protobuf and onnx raise several types for a file that is not ONNX
        raise SpecError(f"'{src.name}' is not a readable ONNX model: {' '.join(str(exc).split())[:200]}",
                        fix="point model.path at an .onnx file (with its external data file beside it)") from exc


def _copy(model: Any) -> Any:
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _facts(model: Any) -> dict[str, Any]:
    return {"ir_version": model.ir_version, "opset": default_opset(model), "nodes": len(model.graph.node),
            "producer": " ".join(p for p in (model.producer_name, model.producer_version) if p) or None}


def default_opset(model: Any) -> int:
    """The version of the default ONNX domain a model imports (what per-channel Q/DQ depends on)."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _drop_initializer_inputs(model: Any) -> Any | None:
    """IR < 4 exporters list every weight as a graph input too; runtimes then treat weights as inputs."""
    names = {i.name for i in model.graph.initializer}
    keep = [v for v in model.graph.input if v.name not in names]
    if len(keep) == len(model.graph.input):
        return None
    del model.graph.input[:]
    model.graph.input.extend(keep)
    model.ir_version = max(model.ir_version, 4)
    return model


def _upgrade_opset(model: Any) -> Any | None:
    from onnx import version_converter

    if default_opset(model) >= MIN_OPSET:
        return None
    return version_converter.convert_version(model, MIN_OPSET)


def _name_dimensions(model: Any) -> Any | None:
    """'?', -1 and unnamed dims become named ones ('batch' for the first axis) that every tool reads alike."""
    changed = False
    for value in model.graph.input:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param in ("", "?") and dim.dim_value <= 0:
                dim.dim_param = "batch" if axis == 0 else f"{value.name}_dim{axis}"
                changed = True
    return model if changed else None


def _slim(model: Any) -> Any | None:
    import contextlib
    import io

    import onnxslim

    before = len(model.graph.node)
    with contextlib.redirect_stdout(io.StringIO()):  # onnxslim prints tensor protos it cannot fold
        slim = onnxslim.slim(model)
    return slim if slim is not None and len(slim.graph.node) < before else None


def _run(model: bytes | str, feeds: FeedSet) -> list[list[np.ndarray]]:
    """Per output, its value on each of the first PARITY_EXAMPLES examples (shapes may differ between examples:
    a post-NMS detector's boxes)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    outputs = [session.run(None, feeds.example(i)) for i in range(min(len(feeds), PARITY_EXAMPLES))]
    return [[o[k] for o in outputs] for k in range(len(outputs[0]))]


def _mismatch(original: bytes, changed: Any, feeds: FeedSet) -> str | None:
    """Why ``changed`` may not replace the original (it fails to run, or its outputs differ); None if it may."""
    try:
        before, after = _run(original, feeds), _run(changed.SerializeToString(), feeds)
    except Exception as exc:  # ORT refusing the rewritten graph
        return f"the result does not run: {' '.join(str(exc).split())[:200]}"
    for k, (rows_a, rows_b) in enumerate(zip(before, after, strict=True)):
        scale = max(max((float(np.abs(a).max()) for a in rows_a if a.size), default=0.0), 1e-6)
        for a, b in zip(rows_a, rows_b, strict=True):
            if a.shape != b.shape:
                return f"output {k} changed shape ({a.shape} -> {b.shape})"
            difference = float(np.abs(a - b).max()) if a.size else 0.0
            if difference > PARITY_RTOL * scale:
                return f"output {k} changed (max abs difference {difference:.3g})"
    return None


def _parity(original: bytes, imported: Path, feeds: FeedSet, task: str) -> dict[str, Any]:
    """The imported reference against the user's file, in the same shape as the torch export's parity: the max
    abs error over every output, and ``parity_figures`` of the first output where its examples share a shape."""
    before, after = _run(original, feeds), _run(str(imported), feeds)
    pairs = [(a, b) for rows_a, rows_b in zip(before, after, strict=True) for a, b in zip(rows_a, rows_b, strict=True)]
    error = max((float(np.abs(a - b).max()) if a.shape == b.shape and a.size else 0.0 for a, b in pairs),
                default=0.0)
    if any(a.shape != b.shape for a, b in pairs):
        error = float("inf")
    first = [(a, b) for a, b in zip(before[0], after[0], strict=True) if a.size and a.shape == b.shape]
    if first and len({a.shape for a, _ in first}) == 1:
        figures = parity_figures(np.stack([a for a, _ in first]), np.stack([b for _, b in first]), task)
    else:  # examples of different shapes: each one's top class (a classifier), else the max abs error alone
        agree = np.mean([a.reshape(-1).argmax() == b.reshape(-1).argmax() for a, b in first]) if first else 1.0
        figures = {"top1_agreement": float(agree) if is_classification(task) else None}
    return {**figures, "samples": len(before[0]), "max_abs_error": error, "against": "the original ONNX file"}
