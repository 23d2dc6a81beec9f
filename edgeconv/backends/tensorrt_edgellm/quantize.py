"""Step 1 of the route, on this machine: ModelOpt quantizes the fp32 Hugging Face folder with the recipe's config
on calibration texts and writes its unified Hugging Face checkpoint (``export_hf_checkpoint``: packed int4
weights, per-block scales, AWQ pre-quant scales, ``hf_quant_config.json``), which is what Edge-LLM's exporter
reads. The same calls as the vendor's ``tensorrt-edgellm-quantize llm`` (tensorrt_edgellm/quantization/
quantize.py), made here because that package is not on PyPI and its loader trusts remote code.

The vendor calibrates in fp16 on CUDA; without a GPU this runs in fp32 on the CPU (ModelOpt's fake quantizers
are plain torch there) and exports fp16, as the vendor does. ``nvidia-modelopt`` (no extras: its ``[hf]``
extra pins transformers < 5.15) is imported only here, when a build needs it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.backends.tensorrt_edgellm.recipe import EdgeLLMRecipe, quant_config
from edgeconv.errors import RuntimeUnavailable, SpecError
from edgeconv.fsutil import atomic_path

HOW_TO_GET = "pip install nvidia-modelopt (without extras: [hf] would downgrade transformers)"
QUANT_FILE = "hf_quant_config.json"


@dataclass
class Checkpoint:
    """A quantized checkpoint as written: where, how long it took, what ModelOpt recorded."""

    path: Path
    quantize_s: float
    modelopt_version: str
    quant_algo: str | None  # hf_quant_config.json's quantization.quant_algo (W4A16_AWQ for int4_awq)
    group_size: int | None
    excluded: list[str] = field(default_factory=list)  # modules ModelOpt left unquantized
    calibration_texts: int = 0


def modelopt_version() -> str | None:
    return versions.of("nvidia-modelopt")


def quantize_checkpoint(hf_folder: Path, out: Path, recipe: EdgeLLMRecipe, texts: list[str]) -> Checkpoint:
    """Quantize ``hf_folder`` by ``recipe`` on ``texts`` and write the checkpoint to ``out`` (atomically)."""
    if recipe.quantization is not None and not texts:
        raise SpecError(f"{recipe.quantization} calibrates on texts, and none were given",
                        fix="add calibration.path (a JSONL file of texts) to the spec")
    version = modelopt_version()
    if version is None:
        raise RuntimeUnavailable("NVIDIA ModelOpt is not installed", fix=HOW_TO_GET)
    from edgeconv.models.causal_lm import load_causal_lm

    start = time.perf_counter()
    lm = load_causal_lm(str(hf_folder))
    model, tokenizer = lm.model.eval(), lm.tokenizer
    used = texts[: recipe.calibration_samples]
    if recipe.quantization is not None:
        quantize_model(model, tokenizer, recipe, used)
    with atomic_path(Path(out)) as tmp:
        _export(model, tokenizer, tmp, recipe)
    quant = _read_quant(Path(out))
    return Checkpoint(Path(out), time.perf_counter() - start, version, quant.get("quant_algo"),
                      quant.get("group_size"), sorted(quant.get("exclude_modules") or []),
                      len(used) if recipe.quantization else 0)


def quantize_model(model: Any, tokenizer: Any, recipe: EdgeLLMRecipe, texts: list[str]) -> Any:
    """``mtq.quantize`` in place: the model then computes with the int4 weights it will export (ModelOpt's fake
    quantizers), so its logits are the route's own on this machine (bench/llm_edgellm.py)."""
    import modelopt.torch.quantization as mtq
    import torch

    linears = {name: (m.out_features, m.in_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear)}
    config = quant_config(recipe, linears, mtq.INT4_AWQ_CFG)
    batches = [tokenizer(t, return_tensors="pt", truncation=True, max_length=recipe.max_length).input_ids
               for t in texts]

    def forward_loop(m: Any) -> None:
        with torch.no_grad():
            for ids in batches:
                m(ids)

    return mtq.quantize(model, config, forward_loop=forward_loop)


def _export(model: Any, tokenizer: Any, folder: Path, recipe: EdgeLLMRecipe) -> None:
    import torch

    model.to(torch.float16)
    if recipe.quantization is None:  # the vendor's fp16 route: a plain fp16 checkpoint
        model.save_pretrained(folder)
    else:
        from unittest import mock

        import modelopt.torch.export.unified_export_hf as unified

        # As the vendor's quantizer does for dense int4 AWQ models (_skip_resmooth_for_hybrid): the export's
        # resmoothing replaces each Linear's calibrated pre-quant scale by the q/k/v (gate/up) average and
        # requantizes, which Edge-LLM measured collapsing small models' accuracy; each Linear keeps its own.
        with mock.patch.object(unified, "requantize_resmooth_fused_llm_layers", lambda model: None):
            unified.export_hf_checkpoint(model, dtype=torch.float16, export_dir=folder)
    tokenizer.save_pretrained(folder)


def _read_quant(folder: Path) -> dict[str, Any]:
    """hf_quant_config.json's ``quantization`` record (empty for an fp16 checkpoint)."""
    path = folder / QUANT_FILE
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")).get("quantization", {}))
