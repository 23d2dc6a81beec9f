"""What a device runtime needs to call an artifact: input/output names, shapes, dtypes, read from the ONNX graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.errors import StageError
from edgeconv.results import ArtifactResult, json_safe


def onnx_io(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Graph inputs (initializers excluded) and outputs; dynamic axes appear by name (e.g. 'batch')."""
    import onnx
    from onnx import helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for unreadable files
        raise StageError(f"could not read '{path}' as ONNX: {exc}", fix="rebuild the artifact") from exc
    initializers = {t.name for t in model.graph.initializer}

    def describe(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in tensor.shape.dim]
        return {"name": value.name, "dtype": helper.tensor_dtype_to_np_dtype(tensor.elem_type).name, "shape": shape}

    return {
        "inputs": [describe(v) for v in model.graph.input if v.name not in initializers],
        "outputs": [describe(v) for v in model.graph.output],
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
    }


def artifact_metadata(path: Path, entry: ArtifactResult) -> dict[str, Any]:
    """Runtime facts of one artifact; non-ONNX artifacts (engines, flatbuffers) carry only the report's facts."""
    row = json_safe(entry.to_dict())  # the figures as report.json holds them
    meta: dict[str, Any] = {
        "precision": entry.precision, "backend": entry.backend,
        "quantization": entry.quantization, "runtime": row["runtime"],
        "measured": {k: row[k] for k in ("accuracy", "agreement", "latency_ms", "size_bytes", "status")},
    }
    if path.suffix == ".onnx":
        meta.update(onnx_io(path))
    return meta
