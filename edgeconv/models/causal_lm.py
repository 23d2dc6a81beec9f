"""Decoder language models (``task: text-generation``): the fp32 torch reference and its Hugging Face folder.

Sources: a Hugging Face folder (config, safetensors, tokenizer, chat template), a ``.gguf`` file
(dequantized by transformers, see ``models/gguf.py``) or ``pkg://package/file-or-folder``; an optional
PEFT/LoRA adapter is merged at load. The merged float model is the reference every artifact is
measured against, and ``save_hf_folder`` writes it where runtimes' converters (ONNX Runtime GenAI's
model builder, optimum-intel) can read it. Remote code is never run unless the caller asks.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.errors import RuntimeUnavailable, SpecError
from edgeconv.models.gguf import gguf_tokenizer_and_config, load_gguf, plain_config
from edgeconv.models.load import TOKENIZER_FILES
from edgeconv.spec.source import resolve_model_path

TOKENIZER_FIX = "copy tokenizer.json and tokenizer_config.json next to the weights, or use the GGUF file (it holds one)"


@dataclass
class CausalLM:
    """A float decoder LM with its tokenizer; ``files`` are the inputs it was made from (hashed into cache keys)."""

    model: Any  # transformers *ForCausalLM
    tokenizer: Any
    source: str  # "hf" or "gguf"
    files: list[str] = field(default_factory=list)


def _source(path: str) -> tuple[Path, str]:
    """The local path of ``path`` and what it is ("gguf" or "hf"); a SpecError for anything else."""
    local = Path(resolve_model_path(path)).expanduser()
    if local.is_file() and local.suffix == ".gguf":
        return local, "gguf"
    if local.is_dir():
        return local, "hf"
    what = "does not exist" if not local.exists() else "is neither a .gguf file nor a model folder"
    raise SpecError(f"model.path '{path}' {what}",
                    fix="point it at a Hugging Face model folder, a .gguf file or pkg://package/path")


def load_tokenizer_and_config(path: str, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(tokenizer, config) without any weight: prompts and an adapter can be checked before a load that takes
    seconds (a folder) or tens of seconds (a GGUF file's dequantization)."""
    import transformers

    local, source = _source(path)
    if source == "gguf":
        return gguf_tokenizer_and_config(local)
    _check_folder(local, path)
    transformers.logging.set_verbosity_error()
    try:
        return (transformers.AutoTokenizer.from_pretrained(str(local), trust_remote_code=trust_remote_code),
                transformers.AutoConfig.from_pretrained(str(local), trust_remote_code=trust_remote_code))
    except (OSError, ValueError) as exc:
        raise _load_error(path, exc) from exc


def load_causal_lm(path: str, adapter: str | None = None, trust_remote_code: bool = False,
                   dtype: Any = None, tokenizer: Any = None) -> CausalLM:
    """The float reference from a folder, a GGUF file or ``pkg://``; a LoRA adapter merged when given
    (``tokenizer``: the source's, already loaded by ``load_tokenizer_and_config``)."""
    import torch

    local, source = _source(path)
    if source == "gguf":
        model, tokenizer = load_gguf(local, dtype, tokenizer)
        plain_config(model)
    else:
        model, tokenizer = _load_folder(local, path, trust_remote_code, dtype or torch.float32, tokenizer)
    files = [str(local)]
    if adapter:
        model = merge_adapter(model, Path(adapter))
        files.append(str(adapter))
    model.eval()
    return CausalLM(model=model, tokenizer=tokenizer, source=source, files=files)


def _check_folder(folder: Path, shown: str) -> None:
    if not (folder / "config.json").is_file():
        raise SpecError(f"model folder '{shown}' has no config.json",
                        fix="point model.path at a Hugging Face model folder")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        # a generative model without its tokenizer cannot be prompted, verified or shipped
        raise SpecError(f"model folder '{shown}' has no tokenizer files ({', '.join(TOKENIZER_FILES)})",
                        fix=TOKENIZER_FIX)


def _load_error(shown: str, exc: Exception) -> SpecError:
    line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return SpecError(f"could not load causal LM '{shown}': {line}",
                     fix="check model.path (config.json, safetensors weights, tokenizer); "
                         "code from the hub runs only with model.trust_remote_code: true")


def _load_folder(folder: Path, shown: str, trust_remote_code: bool, dtype: Any,
                 tokenizer: Any = None) -> tuple[Any, Any]:
    import transformers

    _check_folder(folder, shown)
    transformers.logging.set_verbosity_error()
    kwargs = {"trust_remote_code": trust_remote_code}
    try:
        if tokenizer is None:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(shown, exc) from exc
    return model, tokenizer


def merge_adapter(model: Any, adapter: Path) -> Any:
    """The base with a PEFT (LoRA) adapter merged into its weights: one plain model to export."""
    if not (adapter / "adapter_config.json").is_file():
        raise SpecError(f"model.adapter '{adapter}' is not a PEFT adapter folder (no adapter_config.json)",
                        fix="point it at the folder PeftModel.save_pretrained wrote")
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise RuntimeUnavailable("model.adapter needs peft", fix="pip install peft") from exc
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()


def save_hf_folder(lm: CausalLM, out: Path) -> Path:
    """Write the float model as a Hugging Face folder (safetensors, config, tokenizer, generation config).

    Written to a temporary folder beside ``out`` and renamed, so a crash never leaves half a model.
    Tied embeddings (``lm_head`` sharing the embedding) are saved once through safetensors'
    ``save_model``, which drops the alias that ``save_file`` refuses.
    """
    from safetensors.torch import save_model

    plain_config(lm.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the folder is an ordinary output
    try:
        lm.model.config.save_pretrained(str(tmp))
        if getattr(lm.model, "generation_config", None) is not None:
            lm.model.generation_config.save_pretrained(str(tmp))
        save_model(lm.model, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        lm.tokenizer.save_pretrained(str(tmp))
        _drop_quantization_marker(tmp / "config.json")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _drop_quantization_marker(config_file: Path) -> None:
    config = json.loads(config_file.read_text())
    if config.pop("quantization_config", None) is not None:
        config_file.write_text(json.dumps(config, indent=2) + "\n")


def chat_prompt(tokenizer: Any, user: str, system: str | None = None) -> str:
    """The text a chat model sees for one user turn, through the model's own chat template."""
    if not getattr(tokenizer, "chat_template", None):
        return user
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def stop_token_ids(lm: CausalLM) -> list[int]:
    """Token ids that end an answer: the generation config's eos (one or a list), else the tokenizer's."""
    eos = getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = lm.tokenizer.eos_token_id
    return [eos] if isinstance(eos, int) else list(eos or [])


def greedy_generate(lm: CausalLM, input_ids: list[int], max_new_tokens: int) -> list[int]:
    """The reference's greedy continuation (token ids, stop token excluded), with its KV cache."""
    import torch

    with torch.inference_mode():
        out = lm.model.generate(
            torch.tensor([input_ids]), attention_mask=torch.ones(1, len(input_ids), dtype=torch.long),
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop_token_ids(lm),
            pad_token_id=lm.tokenizer.pad_token_id or stop_token_ids(lm)[0],
        )
    new = out[0, len(input_ids):].tolist()
    stops = set(stop_token_ids(lm))
    return [t for t in new if t not in stops]
