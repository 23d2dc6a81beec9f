"""Take a user's ONNX file as the reference (no export): checked, then copied into the build."""

from __future__ import annotations

from pathlib import Path

from edgeconv.errors import SpecError
from edgeconv.export.onnx_export import PROTOBUF_LIMIT


def copy_onnx(src: Path, dst: Path) -> None:
    """Load (with external data), check, and save as one file, or with external data over 2 GB."""
    import onnx

    try:
        model = onnx.load(str(src))
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises several types for a broken model
        raise SpecError(f"'{src.name}' is not a valid ONNX model: {str(exc).splitlines()[0]}") from exc
    external = model.ByteSize() > PROTOBUF_LIMIT
    onnx.save_model(model, str(dst), save_as_external_data=external, location=dst.name + ".data")
