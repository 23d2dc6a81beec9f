"""Target profiles: YAML data under targets/ saying which runtime, precisions and threads a target uses."""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeconv.errors import SpecError
from edgeconv.spec import Precision, TargetRef
from edgeconv.spec_errors import describe_validation_error


class TensorRTSettings(BaseModel):
    """How a TensorRT target builds its engine (read by edgeconv.convert.trt_plan)."""

    model_config = ConfigDict(extra="forbid")

    builder: Literal["api", "trtexec"] = Field("api", description="the Python builder API, or the trtexec CLI")
    workspace_mb: int = Field(1024, gt=0, description="builder workspace memory pool limit")
    dla_core: int | None = Field(None, ge=0, description="run on this DLA core (Jetson AGX/NX), GPU fallback on")
    sparsity: bool = Field(False, description="let TensorRT use 2:4 structured-sparse kernels for pruned weights")
    max_batch: int = Field(8, gt=0, description="largest batch the optimization profile accepts")


class TargetProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    backend: str
    providers: list[str] = Field(default_factory=list)
    threads: int | None = None
    precisions: list[Precision]
    default_precisions: list[Precision] | None = None
    requires: list[str] = Field(default_factory=list)
    required: bool = False
    tensorrt: TensorRTSettings | None = None

    def for_build(self, ref: TargetRef) -> tuple[TargetProfile, list[str]]:
        """This profile with the spec's per-build choices applied, and the precisions to build."""
        unsupported = [p for p in ref.precisions or [] if p not in self.precisions]
        if unsupported:
            raise SpecError(
                f"target '{self.name}' does not build {', '.join(unsupported)}",
                fix=f"choose from {', '.join(self.precisions)}",
            )
        profile = self.model_copy(update={"required": ref.required, "threads": ref.threads or self.threads})
        return profile, list(ref.precisions or self.default_precisions or self.precisions)


def targets_dirs() -> list[Path]:
    """Where profiles live: the repository's targets/ (editable installs) or the wheel's copy."""
    here = Path(__file__).resolve().parent
    return [d for d in (here.parent / "targets", here / "_targets") if d.is_dir()]


@cache
def all_profiles() -> dict[str, TargetProfile]:
    profiles: dict[str, TargetProfile] = {}
    for folder in targets_dirs():
        for file in sorted(folder.glob("*.yaml")):
            try:
                profile = TargetProfile.model_validate(yaml.safe_load(file.read_text(encoding="utf-8")))
            except ValidationError as exc:
                raise SpecError(describe_validation_error(exc, TargetProfile, file.name)) from exc
            profiles.setdefault(profile.name, profile)
    return profiles


def get_profile(name: str) -> TargetProfile:
    profiles = all_profiles()
    if name not in profiles:
        close = difflib.get_close_matches(name, list(profiles), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(profiles))}"
        raise SpecError(f"unknown target '{name}' ({hint})", fix="run `edgeconv targets` to list them")
    return profiles[name]
