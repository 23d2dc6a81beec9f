"""ONNX Runtime GenAI as a build target for decoder LMs (task: text-generation): the model builder's artifact (a
folder with ``genai_config.json``, a KV-cache graph with GroupQueryAttention / MatMulNBits) for one precision,
made from the merged fp32 Hugging Face folder through the stage cache.

It takes no ONNX reference, so ``build`` (the classifier path) refuses; the LLM build (``api/generative``) calls
``build_generative`` instead. A target's ``quantize`` section overrides the recipe's fields (block_size, symmetric,
accuracy_level, algo, lm_head, embeddings).
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconv import versions
from edgeconv.backends.backend import BuildContext, BuiltArtifact
from edgeconv.backends.onnxruntime_genai.build import GenaiRecipe, build_genai, builder_version
from edgeconv.errors import SpecError
from edgeconv.results import RunnerSpec

if TYPE_CHECKING:
    from edgeconv.cache.stages import Stages
    from edgeconv.spec.targets import TargetProfile

# The spec's precision -> the builder's recipe. int4: the builder's CPU default (RTN, block 32, symmetric, tied
# embedding / lm_head int4), the most accurate int4 recipe measured on the sample (docs/llm.md).
RECIPES = {"fp32": GenaiRecipe("fp32"), "int8-weights": GenaiRecipe("int8"), "int4": GenaiRecipe("int4")}


def recipe_for(profile: TargetProfile, precision: str) -> GenaiRecipe:
    """The builder recipe of ``precision``, with the target's quantize overrides (unknown keys: one line)."""
    if precision not in RECIPES:
        raise SpecError(f"target '{profile.name}' builds {', '.join(RECIPES)}, not {precision}")
    overrides = {**profile.quantize, **profile.build_quantize}
    known = {f.name for f in fields(GenaiRecipe)} - {"precision"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SpecError(f"target '{profile.name}' quantize: unknown key '{unknown[0]}'",
                        fix=f"use {', '.join(sorted(known))}")
    return replace(RECIPES[precision], **overrides) if precision != "fp32" else RECIPES[precision]


class GenaiBackend:
    name = "onnxruntime_genai"

    def unavailable_reason(self, profile: TargetProfile) -> str | None:
        if importlib.util.find_spec("onnxruntime_genai") is None:
            return "onnxruntime-genai is not installed (pip install 'edgeconv[llm]')"
        return None

    def build(self, ctx: BuildContext, profile: TargetProfile, precision: str) -> BuiltArtifact:
        raise SpecError(f"target '{profile.name}' builds decoder language models only",
                        fix="set model.task: text-generation, or choose a target such as x86-cpu-ort")

    def build_generative(self, stages: Stages, hf_folder: Path, hf_sha256: str, profile: TargetProfile,
                         precision: str) -> BuiltArtifact:
        """The builder's artifact of ``precision`` from the fp32 folder, cached by its content and recipe."""
        recipe = recipe_for(profile, precision)
        key: dict[str, Any] = {"reference": hf_sha256, "recipe": asdict(recipe), "options": recipe.extra_options(),
                               "onnxruntime_genai": builder_version(), "edgeconv": versions.of("edgeconv")}

        def produce(folder: Path) -> dict[str, Any]:
            built = build_genai(hf_folder, folder / "model", recipe)
            return {"file": "model", "build_s": built.build_s, "builder": built.builder_version,
                    "options": built.options, "quantized": len(built.quantized), "kept_float": built.kept_float}

        folder, meta = stages.run(f"artifacts/{profile.name}-{precision}", key, produce)
        quantization: dict[str, Any] = {"method": "onnxruntime-genai model builder", "builder": meta["builder"],
                                        "precision": recipe.precision}
        if precision != "fp32":  # every weight of fp32 is float: the list would name them all
            quantization.update({**asdict(recipe), "options": meta["options"], "quantized_weights": meta["quantized"],
                                 "kept_float": meta["kept_float"]})
        return BuiltArtifact(folder / meta["file"], quantization=quantization,
                             extra={"convert_seconds": meta["build_s"], "route": "onnxruntime-genai builder"})

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        return RunnerSpec("edgeconv.backends.onnxruntime_genai.runner:GenaiRunner",
                          {"path": str(artifact.path), "threads": profile.threads})
