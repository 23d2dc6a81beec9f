"""Model sources: Hugging Face folders or hub ids, torch.export / TorchScript files, ONNX files."""

from edgeconv.models.loaded import LoadedModel
from edgeconv.models.load import load_model, resolve_model_path

__all__ = ["LoadedModel", "load_model", "resolve_model_path"]
