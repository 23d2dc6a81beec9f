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


def _first_keys_architecture(path: Path, keys: int = 64) -> str | None:
    """``general.architecture`` from the key-value pairs at the head of the file, None if not among them.

    Written by hand because gguf's ``GGUFReader`` parses every field and tensor record up front, the tokenizer's
    vocabulary included (SmolLM2's 49 k tokens: 7 s on a loaded 2-core machine), while the architecture is the
    first key llama.cpp's converter writes. The layout and type sizes are the gguf package's own (``GGUF_MAGIC``,
    ``GGUFValueType``, ``GGUFReader.gguf_scalar_to_np``); little-endian files only, ``GGUFReader`` reads the rest.
    """
    import struct

    import numpy as np
    from gguf import GGUF_MAGIC, GGUFReader, GGUFValueType

    sizes = {int(t): np.dtype(d).itemsize for t, d in GGUFReader.gguf_scalar_to_np.items()}
    with path.open("rb") as f:

        def read(fmt: str) -> Any:
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def text() -> str:
            return f.read(read("Q")).decode("utf-8", errors="replace")

        def skip(kind: int) -> None:
            if kind == GGUFValueType.STRING:
                f.seek(read("Q"), 1)
            elif kind == GGUFValueType.ARRAY:
                item, count = read("I"), read("Q")
                if item in sizes:
                    f.seek(sizes[item] * count, 1)
                else:
                    for _ in range(count):
                        skip(item)
            else:
                f.seek(sizes[kind], 1)  # KeyError for an unknown type: the caller falls back to GGUFReader

        if read("I") != GGUF_MAGIC or read("I") & 0xFFFF == 0:  # not GGUF, or big-endian
            return None
        read("Q")
        for _ in range(min(read("Q"), keys)):
            key, kind = text(), read("I")
            if key == "general.architecture" and kind == GGUFValueType.STRING:
                return text()
            skip(kind)
    return None


def gguf_architecture(path: Path) -> str:
    """``general.architecture`` of a GGUF file, read from its header."""
    try:
        from gguf import GGUFReader
    except ImportError as exc:
        raise RuntimeUnavailable("reading GGUF files needs the gguf package", fix="pip install gguf") from exc
    try:
        found = _first_keys_architecture(path)
        if found is not None:
            return found
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


def _gguf_error(path: Path, exc: Exception) -> SpecError:
    line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return SpecError(f"could not dequantize GGUF file '{path.name}': {line}",
                     fix="check the file with gguf's gguf_dump, or use a Hugging Face folder")


def gguf_tokenizer_and_config(path: Path) -> tuple[Any, Any]:
    """(tokenizer, config) of a GGUF file, no tensor dequantized: what a build checks before the weights."""
    import transformers

    check_gguf(path)
    transformers.logging.set_verbosity_error()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        config = transformers.AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
    except (OSError, ValueError, KeyError) as exc:
        raise _gguf_error(path, exc) from exc
    return tokenizer, config


def load_gguf(path: Path, dtype: Any = None, tokenizer: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) dequantized from a GGUF file; the tokenizer and chat template come from the file
    (``tokenizer``: one already read from it, which saves converting its vocabulary twice)."""
    import torch
    import transformers

    check_gguf(path)
    transformers.logging.set_verbosity_error()  # the dequantization progress bar is not the build's output
    kwargs = {"gguf_file": path.name}
    try:
        if tokenizer is None:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), dtype=dtype or torch.float32, **kwargs
        )
    except (OSError, ValueError, KeyError) as exc:
        raise _gguf_error(path, exc) from exc
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
