"""Model sources: Hugging Face folders or hub ids, torch.export / TorchScript files, ONNX files."""

from edgeconv.models.load import load_model
from edgeconv.models.loaded import LoadedModel

__all__ = ["LoadedModel", "load_model"]
