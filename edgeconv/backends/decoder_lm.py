"""What every decoder-LM backend (task: text-generation) shares: it needs its runtime's packages, and it takes no
ONNX reference, so the classifier path's ``build`` refuses in one line; the LLM build (``api/generative``) calls
``build_generative`` instead. A backend whose recipe calibrates on the spec's texts (``needs_calibration``)
takes them as ``build_generative(..., calibration=LMCalibration)``."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconv.backends.backend import BuiltArtifact
from edgeconv.errors import SpecError

if TYPE_CHECKING:
    from edgeconv.backends.backend import BuildContext
    from edgeconv.spec.targets import TargetProfile


@dataclass(frozen=True)
class LMCalibration:
    """The spec's calibration texts, formatted as the evaluation prompts are: as text (for a quantizer that
    tokenizes, ModelOpt) and as the reference tokenizer's ids (NNCF runs the IR on them); ``sha256``: their
    content, for a data-aware artifact's stage key."""

    texts: list[str]
    ids: list[list[int]]
    sha256: str
    path: str


class DecoderLMBackend:
    modules: tuple[str, ...] = ()  # the runtime's Python modules, all needed
    classic_target = "x86-cpu-ort"  # a target of the same runtime for other tasks, named in the refusal

    def unavailable_reason(self, profile: TargetProfile) -> str | None:
        missing = [m for m in self.modules if importlib.util.find_spec(m) is None]
        if missing:
            return f"{' and '.join(missing)} not installed (pip install 'edgeconv[llm]')"
        return None

    def needs_calibration(self, profile: TargetProfile, precision: str) -> bool:
        """Whether ``precision``'s recipe on ``profile`` calibrates on texts (a SpecError for a bad recipe):
        the build refuses a spec without calibration texts before any stage."""
        return False

    def build(self, ctx: BuildContext, profile: TargetProfile, precision: str) -> BuiltArtifact:
        raise SpecError(f"target '{profile.name}' builds decoder language models only",
                        fix=f"set model.task: text-generation, or choose a target such as {self.classic_target}")

    @staticmethod
    def built(folder: Path, meta: dict[str, Any], recipe: Any, quantization: dict[str, Any],
              details: dict[str, Any], route: str) -> BuiltArtifact:
        """The artifact a cached stage made: its quantization record (with the recipe and what the runtime did to
        each weight, except at fp32, where every weight is float and the list would name them all)."""
        if recipe.precision != "fp32":
            quantization = {**quantization, **asdict(recipe), **details}
        return BuiltArtifact(folder / meta["file"], quantization=quantization,
                             extra={"convert_seconds": meta["build_s"], "route": route})


def recipe_for_target(profile: TargetProfile, precision: str, recipes: dict[str, Any], plain: str) -> Any:
    """``recipes[precision]`` (a frozen dataclass) with the target's quantize overrides, one line for an unknown
    precision or key; the ``plain`` precision (fp32 / fp16) takes no overrides."""
    if precision not in recipes:
        raise SpecError(f"target '{profile.name}' builds {', '.join(recipes)}, not {precision}")
    overrides = {**profile.quantize, **profile.build_quantize}
    known = {f.name for f in fields(recipes[precision])} - {"precision"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SpecError(f"target '{profile.name}' quantize: unknown key '{unknown[0]}' ('{unknown[0]}' is not a "
                        "setting of this target)", fix=f"use {', '.join(sorted(known))}")
    if "int8_nodes" in overrides:  # a YAML list; the recipe is frozen (hashable, recorded in the stage key)
        overrides["int8_nodes"] = tuple(overrides["int8_nodes"] or ())
    return replace(recipes[precision], **overrides) if precision != plain else recipes[precision]
