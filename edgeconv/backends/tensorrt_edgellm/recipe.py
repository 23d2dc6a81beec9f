"""What a precision asks of TensorRT Edge-LLM's route, as its documentation and its quantizer state it.

``int4`` is the vendor's ``--quantization int4_awq``: ModelOpt's ``INT4_AWQ_CFG`` (weight-only int4, blocks of
128 along the input dimension, ``awq_lite``), the lm_head left in fp16 unless ``lm_head`` asks for int4, and
every Linear whose sides are not multiples of 64 kept fp16 (Edge-LLM's int4 GEMM repacks 64 x 64 tiles:
``tensorrt_edgellm/quantization/quantize.py``). ``fp16`` is the unquantized checkpoint. A target's ``quantize``
section overrides the fields below.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgeconv.backends.decoder_lm import recipe_for_target
from edgeconv.errors import SpecError

if TYPE_CHECKING:
    from edgeconv.spec.targets import TargetProfile

ALGORITHMS = ("awq_lite", "awq_clip", "awq_full", "max")  # ModelOpt's names; "max" is round-to-nearest
TILE = 64  # Edge-LLM's int4 GEMM tile: a Linear with a side not divisible by it stays fp16


@dataclass(frozen=True)
class EdgeLLMRecipe:
    precision: str  # the spec's precision: int4 or fp16
    algorithm: str = "awq_lite"  # INT4_AWQ_CFG's algorithm
    block_size: int = 128  # INT4_AWQ_CFG's block along the input dimension
    lm_head: bool = False  # the vendor's --lm_head_quantization int4_awq
    calibration_samples: int = 512  # the vendor's --num_samples
    max_length: int = 512  # tokens per calibration text (the vendor's calibration loader)

    @property
    def quantization(self) -> str | None:
        """The vendor's name for it (``--quantization``), None for the unquantized fp16 checkpoint."""
        return "int4_awq" if self.precision == "int4" else None


RECIPES = {"fp16": EdgeLLMRecipe("fp16"), "int4": EdgeLLMRecipe("int4")}


def recipe_for(profile: TargetProfile, precision: str) -> EdgeLLMRecipe:
    """The recipe of ``precision`` with the target's quantize overrides (unknown keys or values: one line)."""
    overrides = {**profile.quantize, **profile.build_quantize}
    if overrides.get("algorithm", ALGORITHMS[0]) not in ALGORITHMS:
        raise SpecError(f"target '{profile.name}' quantize: algorithm '{overrides['algorithm']}' is not ModelOpt's",
                        fix=f"use one of {', '.join(ALGORITHMS)}")
    return recipe_for_target(profile, precision, RECIPES, "fp16")


def quant_config(recipe: EdgeLLMRecipe, linears: dict[str, tuple[int, int]], base: dict[str, Any]) -> dict[str, Any]:
    """ModelOpt's config: ``base`` (``mtq.INT4_AWQ_CFG``, passed in so this module needs no ModelOpt) with the
    recipe's block size and algorithm, the lm_head enabled when asked, and each Linear of ``linears`` (name ->
    (out, in) features) that Edge-LLM cannot tile disabled. Rules are last-match-wins, so overrides append."""
    cfg = copy.deepcopy(base)
    rules: list[dict[str, Any]] = cfg["quant_cfg"]
    weight = next(r for r in rules if r.get("quantizer_name") == "*weight_quantizer")
    weight["cfg"]["block_sizes"][-1] = recipe.block_size
    cfg["algorithm"] = (recipe.algorithm if recipe.algorithm in ("max", "awq_full", "awq_clip")
                        else {**cfg["algorithm"], "method": recipe.algorithm})
    if recipe.lm_head:
        rules.append({"quantizer_name": "*lm_head.weight_quantizer", "cfg": copy.deepcopy(weight["cfg"]),
                      "enable": True})
    rules.extend({"quantizer_name": f"*{name}.weight_quantizer", "enable": False}
                 for name, (out, inp) in sorted(linears.items()) if out % TILE or inp % TILE)
    return cfg
