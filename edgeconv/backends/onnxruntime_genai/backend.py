"""ONNX Runtime GenAI as a build target for decoder LMs (task: text-generation): the model builder's artifact (a
folder with ``genai_config.json``, a KV-cache graph with GroupQueryAttention / MatMulNBits) for one precision,
made from the merged fp32 Hugging Face folder through the stage cache.

It takes no ONNX reference, so ``build`` (the classifier path) refuses; the LLM build (``api/generative``) calls
``build_generative`` instead. A target's ``quantize`` section overrides the recipe's fields (block_size, symmetric,
accuracy_level, algo, lm_head, embeddings).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconv import versions
from edgeconv.backends.backend import BuiltArtifact
from edgeconv.backends.decoder_lm import DecoderLMBackend, recipe_for_target
from edgeconv.backends.onnxruntime_genai import RUNNER
from edgeconv.backends.onnxruntime_genai.build import GenaiRecipe, build_genai, builder_version
from edgeconv.errors import SpecError
from edgeconv.machine import physical_cores
from edgeconv.results import RunnerSpec

if TYPE_CHECKING:
    from edgeconv.backends.decoder_lm import LMCalibration
    from edgeconv.cache.stages import Stages
    from edgeconv.spec.targets import TargetProfile

# The spec's precision -> the builder's recipe. int4: ORT's RTN with integer zero points (asymmetric, block 32) by
# edgeconv's pass, weights off the GGUF grid the others lie on int8, lm_head int8, the tied embedding float: on the
# sample ppl +0.2 %, accuracy 0.78 vs 0.80, KL 0.41, 0.95x the builder int4's decode CPU time (docs/llm.md, "int4 on
# the fast path"). `quantize: {algo: rtn_offset}` keeps the Q4_1 grid exact (KL 0.016) at ~0.79x the builder's
# speed; `algo: gptq` calibrates on the spec's texts; the builder's CPU default is `quantize: {algo: default,
# symmetric: true, lm_head: same, embeddings: same, off_grid: int4}` (2.5x smaller, ppl +21 %).
INT4 = GenaiRecipe("int4", algo="default", symmetric=False, lm_head="int8", embeddings="float", off_grid="int8")
RECIPES = {"fp32": GenaiRecipe("fp32"), "int8-weights": GenaiRecipe("int8"), "int4": INT4}


def recipe_for(profile: TargetProfile, precision: str) -> GenaiRecipe:
    """The builder recipe of ``precision``, with the target's quantize overrides (unknown keys: one line)."""
    return recipe_for_target(profile, precision, RECIPES, "fp32")


class GenaiBackend(DecoderLMBackend):
    name = "onnxruntime_genai"
    modules = ("onnxruntime_genai",)
    classic_target = "x86-cpu-ort"

    def needs_calibration(self, profile: TargetProfile, precision: str) -> bool:
        recipe = recipe_for(profile, precision)
        recipe.pass_options()  # a refused recipe: one line before any stage
        return recipe.data_aware

    def build_generative(self, stages: Stages, hf_folder: Path, hf_sha256: str, profile: TargetProfile,
                         precision: str, calibration: LMCalibration | None = None) -> BuiltArtifact:
        """The builder's artifact of ``precision`` from the fp32 folder, cached by its content and recipe (and the
        calibration texts' hash, for a data-aware recipe only)."""
        recipe = recipe_for(profile, precision)
        recipe.pass_options()  # a refused combination fails here, before a cached artifact of it could be reused
        used = calibration if recipe.data_aware else None
        if recipe.data_aware and (used is None or not used.ids):
            raise SpecError(f"{precision} on '{profile.name}' asks for algo {recipe.algo}, which calibrates on texts, "
                            "and the spec has none", fix="add a calibration section (path: a JSONL file of texts) "
                            "to the spec, or choose another algo in the target's quantize")
        key: dict[str, Any] = {"reference": hf_sha256, "recipe": asdict(recipe), "options": recipe.extra_options(),
                               "onnxruntime_genai": builder_version(), "edgeconv": versions.of("edgeconv")}
        if used is not None:
            key["calibration"] = used.sha256

        def produce(folder: Path) -> dict[str, Any]:
            built = build_genai(hf_folder, folder / "model", recipe, calibration=used.ids if used else None)
            return {"file": "model", "build_s": built.build_s, "builder": built.builder_version,
                    "options": built.options, "quantized": len(built.quantized), "kept_float": built.kept_float,
                    "int8_weights": sorted(n for n, how in built.quantized.items() if how.startswith("int8")),
                    "calibration_texts": len(used.ids) if used else 0}

        folder, meta = stages.run(f"artifacts/{profile.name}-{precision}", key, produce)
        method = {"method": "onnxruntime-genai model builder", "builder": meta["builder"],
                  "precision": recipe.precision}
        return self.built(folder, meta, recipe, method,
                          {"options": meta["options"], "quantized_weights": meta["quantized"],
                           "kept_float": meta["kept_float"], "int8_weights": meta.get("int8_weights", [])}
                          | ({"calibration_texts": meta["calibration_texts"]} if used is not None else {}),
                          "onnxruntime-genai builder")

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        # A profile's threads: null would leave onnxruntime-genai's own default, which decoded the sample's int4 at
        # 46.6 tok/s against 78.3 with 2 threads on 2 cores (2026-12-06): the physical cores, as the torch
        # reference gets, so both sides of the comparison use the same cores.
        return RunnerSpec(RUNNER, {"path": str(artifact.path), "threads": profile.threads or physical_cores()})
