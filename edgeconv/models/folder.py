"""What a local Hugging Face model folder must hold before any work starts: config.json, weights, and for a text
model a vocabulary. Checked by file names only (nothing loaded), so `edgeconv init` and `edgeconv build` refuse an
incomplete folder in one line, exit 2, before a stage writes anything: without these checks transformers fails
deep in the export (no weights) or, worse, builds a tokenizer with an empty vocabulary (every word [UNK])."""

from __future__ import annotations

from pathlib import Path

from edgeconv.errors import SpecError
from edgeconv.models.load import TOKENIZER_FILES


def weight_files() -> tuple[str, ...]:
    """The names transformers loads torch weights from (one file, or the index of a sharded set)."""
    from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME

    return SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME


def check_hf_folder(folder: Path, shown: str, text: bool) -> None:
    """SpecError (exit 2) naming what ``folder`` lacks; ``shown`` is the path as the user gave it, ``text`` whether
    the model reads text (then it needs a tokenizer). A path that is no folder (a hub id, a GGUF file) passes."""
    if not folder.is_dir():
        return
    if not (folder / "config.json").is_file():
        raise SpecError(f"model '{shown}' is a folder without config.json, so no Hugging Face model",
                        fix="point at the model's folder (config.json, weights, tokenizer), or at a .onnx / .pt2 / "
                            "TorchScript file")
    if not any((folder / name).is_file() for name in weight_files()):
        raise SpecError(f"model '{shown}' has config.json but no weights ({', '.join(weight_files())})",
                        fix="copy the weights next to config.json (save_pretrained writes model.safetensors)")
    if text and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise SpecError(f"model '{shown}' has no tokenizer files ({', '.join(TOKENIZER_FILES)})",
                        fix="copy the tokenizer next to the weights (tokenizer.save_pretrained), or point "
                            "model.preprocessor at a folder with it")
