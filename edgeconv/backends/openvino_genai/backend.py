"""OpenVINO GenAI as a build target for decoder LMs (task: text-generation): optimum-intel's stateful fp32 IR
(stage ``export/openvino-genai``, exported once from the merged fp32 folder in optimum-intel's own small
environment, made on first use: env.py), then NNCF ``compress_weights`` per precision (stage
``artifacts/<target>-<precision>``).

``bf16`` is the fp32 artifact itself (the same stage), compiled with ``INFERENCE_PRECISION_HINT: bf16``: built only
where OpenVINO and the CPU execute bf16 natively (AMX-BF16, AVX-512 BF16), a skipped row with the reason elsewhere.

Like ONNX Runtime GenAI it takes no ONNX reference: ``build`` refuses, ``build_generative`` is the LLM build's.
A target's ``quantize`` section overrides the recipe (group_size, symmetric, ratio, all_layers, awq,
scale_estimation); the data-aware methods run on the spec's calibration texts (as token ids), whose content
hash is then part of the artifact's stage key (and only then: an RTN artifact's cache does not depend on them).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconv import versions
from edgeconv.backends.backend import BuiltArtifact
from edgeconv.backends.decoder_lm import DecoderLMBackend, LMCalibration, recipe_for_target
from edgeconv.backends.openvino.backend import bf16_refusal
from edgeconv.backends.openvino_genai.build import OpenVINORecipe, build_openvino, export_ir
from edgeconv.backends.openvino_genai.env import PINS
from edgeconv.errors import NothingToDo, SpecError
from edgeconv.results import RunnerSpec

if TYPE_CHECKING:
    from edgeconv.cache.stages import Stages
    from edgeconv.spec.targets import TargetProfile

# int4: NNCF's default for LLMs (group 64, symmetric; embedding and lm_head kept int8), docs/llm.md's bench row.
RECIPES = {"fp32": OpenVINORecipe("fp32"), "int8-weights": OpenVINORecipe("int8"), "int4": OpenVINORecipe("int4")}


# The precision each artifact computes its activations in (INFERENCE_PRECISION_HINT): f32 unless its name says
# bf16 (the CPU plugin would otherwise pick bf16 on AMX for every one of them).
BF16 = "bf16"


def recipe_for(profile: TargetProfile, precision: str) -> OpenVINORecipe:
    """The NNCF recipe of ``precision``, with the target's quantize overrides (unknown keys: one line); bf16's is
    fp32's (its weights are the fp32 IR's, only the arithmetic differs)."""
    return recipe_for_target(profile, "fp32" if precision == BF16 else precision, RECIPES, "fp32")


class OpenVINOGenaiBackend(DecoderLMBackend):
    name = "openvino_genai"
    modules = ("openvino_genai", "nncf")
    classic_target = "x86-cpu-openvino"

    def needs_calibration(self, profile: TargetProfile, precision: str) -> bool:
        return recipe_for(profile, precision).data_aware

    def build_generative(self, stages: Stages, hf_folder: Path, hf_sha256: str, profile: TargetProfile,
                         precision: str, calibration: LMCalibration | None = None) -> BuiltArtifact:
        """The fp32 IR (one export for every precision), then NNCF's compression of ``precision`` (AWQ / scale
        estimation on ``calibration``'s token ids when the recipe asks for them)."""
        refusal = bf16_refusal("CPU") if precision == BF16 else None
        if refusal:
            raise NothingToDo(refusal)
        recipe = recipe_for(profile, precision)
        used = calibration if recipe.data_aware else None
        if recipe.data_aware and (used is None or not used.ids):
            raise SpecError(f"{precision} on '{profile.name}' asks for AWQ / scale estimation, which calibrate on "
                            "texts, and the spec has none", fix="add a calibration section (path: a JSONL file "
                            "of texts) to the spec, or drop awq / scale_estimation from the target's quantize")
        # the environment's own pins, and edgeconv's torch / openvino / nncf, which it reuses for the export
        export_key = {"reference": hf_sha256, "optimum": PINS, "edgeconv": versions.of("edgeconv"),
                      **{name: versions.of(name) for name in ("torch", "openvino", "nncf")}}
        ir, _ = stages.run("export/openvino-genai", export_key,
                           lambda folder: {"ir": str(export_ir(hf_folder, folder / "ir").name)})
        key: dict[str, Any] = {"export": export_key, "recipe": asdict(recipe), "openvino": versions.of("openvino"),
                               "nncf": versions.of("nncf"), "edgeconv": versions.of("edgeconv")}
        if used is not None:  # only a data-aware recipe's artifact depends on the texts
            key["calibration"] = used.sha256

        def produce(folder: Path) -> dict[str, Any]:
            built = build_openvino(ir / "ir", folder / "model", recipe, used.ids if used else None)
            return {"file": "model", "build_s": built.build_s, "arguments": built.arguments,
                    "weights": built.weights, "kept_float": built.kept_float,
                    "calibration_texts": len(used.ids) if used else 0}

        # bf16 shares the fp32 artifact's stage: the same bytes, one copy on disk
        folder, meta = stages.run(f"artifacts/{profile.name}-{'fp32' if precision == BF16 else precision}", key,
                                  produce)
        if precision == BF16:
            return self.built(folder, meta, recipe, {"method": "the fp32 IR executed in bf16 (INFERENCE_PRECISION_HINT "
                                                     "bf16)", "precision": BF16}, {}, "optimum-intel IR")
        return self.built(folder, meta, recipe, {"method": "NNCF compress_weights", "precision": recipe.precision},
                          {k: meta[k] for k in ("arguments", "weights", "kept_float")}
                          | ({"calibration_texts": meta["calibration_texts"]} if used is not None else {}),
                          "optimum-intel IR + NNCF")

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        """f32 inference precision, bf16 for the bf16 artifact: the CPU plugin would otherwise run bf16 on AMX
        whatever the artifact's name."""
        bf16 = (artifact.quantization or {}).get("precision") == BF16
        return RunnerSpec("edgeconv.backends.openvino_genai.runner:OpenVINOGenaiRunner",
                          {"path": str(artifact.path), "threads": profile.threads,
                           "inference_precision": "bf16" if bf16 else "f32"})
