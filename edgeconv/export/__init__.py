"""torch -> ONNX export with dynamic axes and a parity check against torch."""

from edgeconv.export.onnx_export import ExportResult, export_onnx

__all__ = ["ExportResult", "export_onnx"]
