"""GGUF files (llama.cpp's format) as the fp32 reference of a decoder language model.

A GGUF file holds quantized weights (Q4_1, Q4_K_M, ...). transformers' GGUF loader (with the
``gguf`` package) dequantizes them into an ordinary float ``*ForCausalLM``: that float model *is*
the reference every artifact is compared with. Only decoder-only architectures that transformers
can read are accepted; the architecture is read from the file's header first (memory-mapped, no
tensor is dequantized), so an unsupported file fails in a second with one line, not after a load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.errors import RuntimeUnavailable, SpecError

# GGUF names (general.architecture) that transformers spells differently.
_ALIASES = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe", "gpt-oss": "gpt_oss", "minimax-m2": "minimax_m2"}
# In transformers' GGUF table but not decoder-only causal LMs (or not architectures at all).
_NOT_DECODERS = {"general", "tokenizer", "t5", "umt5", "t5encoder"}


def supported_architectures() -> list[str]:
    """The GGUF architectures edgeconv loads: transformers' GGUF table less encoders and non-architecture keys."""
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError as exc:  # a transformers without GGUF support
        raise RuntimeUnavailable("reading GGUF files needs transformers with GGUF support",
                                 fix="pip install 'transformers>=4.41' gguf") from exc
    return sorted(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in _NOT_DECODERS)


def gguf_architecture(path: Path) -> str:
    """``general.architecture`` of a GGUF file, read from its header."""
    try:
        from gguf import GGUFReader
    except ImportError as exc:
        raise RuntimeUnavailable("reading GGUF files needs the gguf package", fix="pip install gguf") from exc
    try:
        reader = GGUFReader(str(path))
    except Exception as exc:  # gguf raises ValueError / struct.error / OSError on a broken file
        raise SpecError(f"'{path.name}' is not a readable GGUF file: {exc}",
                        fix="point model.path at a .gguf file written by llama.cpp's converter") from exc
    field = reader.fields.get("general.architecture")
    if field is None:
        raise SpecError(f"GGUF file '{path.name}' has no general.architecture",
                        fix="re-convert it with llama.cpp's convert_hf_to_gguf.py")
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def check_gguf(path: Path) -> str:
    """The architecture of a GGUF file edgeconv can load; a SpecError (exit 2) naming what is accepted otherwise."""
    arch = gguf_architecture(path)
    accepted = supported_architectures()
    if _ALIASES.get(arch, arch) not in accepted:
        raise SpecError(f"GGUF file '{path.name}' has architecture '{arch}', which edgeconv cannot load "
                        f"(accepted: {', '.join(accepted)})",
                        fix="use a Hugging Face folder of the model (config.json, safetensors, tokenizer)")
    return arch


def load_gguf(path: Path, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) dequantized from a GGUF file; the tokenizer and chat template come from the file."""
    import torch
    import transformers

    check_gguf(path)
    transformers.logging.set_verbosity_error()  # the dequantization progress bar is not the build's output
    kwargs = {"gguf_file": path.name}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), dtype=dtype or torch.float32, **kwargs
        )
    except (OSError, ValueError, KeyError) as exc:
        line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"could not dequantize GGUF file '{path.name}': {line}",
                        fix="check the file with gguf's gguf_dump, or use a Hugging Face folder") from exc
    model.eval()
    return model, tokenizer


def plain_config(model: Any) -> None:
    """Make a dequantized model's config describe what it now is: float weights, its class in ``architectures``.

    Without this the saved config.json still says ``quant_method: gguf`` (loaders then look for the GGUF file)
    and has no ``architectures`` (ONNX Runtime GenAI's builder picks its model class from it).
    """
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(model).__name__]
    if hasattr(config, "_pre_quantization_dtype"):
        del config._pre_quantization_dtype
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    model.is_quantized = False
