"""Target profiles: YAML data under targets/ saying which runtime, precisions and threads a target uses."""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeconv.errors import SpecError
from edgeconv.spec import AUTO, Precision, QuantizeSpec, TargetRef
from edgeconv.spec.device import DeviceConfig
from edgeconv.spec.errors import describe_validation_error


class TensorRTSettings(BaseModel):
    """How a TensorRT target builds its engine (read by edgeconv.backends.tensorrt.plan)."""

    model_config = ConfigDict(extra="forbid")

    builder: Literal["api", "trtexec"] = Field("api", description="the Python builder API, or the trtexec CLI")
    workspace_mb: int = Field(1024, gt=0, description="builder workspace memory pool limit")
    dla_core: int | None = Field(None, ge=0, description="run on this DLA core (Jetson AGX/NX), GPU fallback on")
    sparsity: bool = Field(False, description="let TensorRT use 2:4 structured-sparse kernels for pruned weights")
    max_batch: int = Field(8, gt=0, description="largest batch the optimization profile accepts")


class OpenVINOSettings(BaseModel):
    """Where an OpenVINO target compiles its IR (read by edgeconv.backends.openvino)."""

    model_config = ConfigDict(extra="forbid")

    device: str = Field("CPU", description="OpenVINO device name: CPU, GPU, NPU (passed through to compile_model)")
    hint: Literal["LATENCY", "THROUGHPUT"] = Field("LATENCY", description="OpenVINO's performance hint")


class EdgeLLMSettings(BaseModel):
    """How a TensorRT Edge-LLM target builds its engine on the board (read by edgeconv.backends.tensorrt_edgellm)."""

    model_config = ConfigDict(extra="forbid")

    builder: str = Field("llm_build", description="the board's llm_build (TensorRT-Edge-LLM/build/examples/llm/)")
    plugin: str | None = Field(None, description="the board's libNvInfer_edgellm_plugin.so (EDGELLM_PLUGIN_PATH)")
    max_batch_size: int = Field(1, gt=0, description="llm_build --maxBatchSize")
    max_input_len: int = Field(1024, gt=0, description="llm_build --maxInputLen: the longest prompt")
    max_kv_cache_capacity: int = Field(2048, gt=0, description="llm_build --maxKVCacheCapacity: prompt + answer")


class TargetProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    backend: str
    device_class: str | None = None  # the hardware it describes (x86-64, arm64, nvidia-gpu, ...): build --device
    providers: list[str] = Field(default_factory=list)
    threads: int | None = None
    precisions: list[Precision]
    default_precisions: list[Precision] | None = None
    requires: list[str] = Field(default_factory=list)
    required: bool = False
    # What the target's runtime needs of quantization (e.g. TensorRT: int8, zero-point-0 activations).
    quantize: dict[str, Any] = Field(default_factory=dict)
    # The spec's per-target quantize settings (targets[i].quantize), set by for_build.
    build_quantize: dict[str, Any] = Field(default_factory=dict)
    device: DeviceConfig | None = None  # verify on this board over SSH (edgeconv.remote) instead of here
    devices: list[DeviceConfig] = Field(default_factory=list)  # a pool: verify on each board
    tensorrt: TensorRTSettings | None = None
    openvino: OpenVINOSettings | None = None
    edgellm: EdgeLLMSettings | None = None

    def for_build(self, ref: TargetRef) -> tuple[TargetProfile, list[str]]:
        """This profile with the spec's per-build choices applied, and the precisions to build.

        ``auto`` expands to every precision the profile builds (the build then picks one).
        """
        profile = self.model_copy(update={
            "required": ref.required, "threads": ref.threads or self.threads,
            "build_quantize": ref.quantize or {},
        })
        if AUTO in (ref.precisions or []):
            return profile, list(self.precisions)
        unsupported = [p for p in ref.precisions or [] if p not in self.precisions]
        if unsupported:
            raise SpecError(
                f"target '{self.name}' does not build {', '.join(unsupported)}",
                fix=f"choose from {', '.join(self.precisions)}",
            )
        return profile, list(ref.precisions or self.default_precisions or self.precisions)

    def quantize_settings(self, spec_level: QuantizeSpec) -> QuantizeSpec:
        """The profile's needs, overridden by what the spec set explicitly, then by the target's own."""
        layered = _deep_merge(_deep_merge(self.quantize, _explicit(spec_level)), self.build_quantize)
        try:
            return QuantizeSpec.model_validate(layered)
        except ValidationError as exc:
            raise SpecError(describe_validation_error(exc, QuantizeSpec, f"target {self.name} quantize")) from exc


def _explicit(model: BaseModel) -> dict[str, Any]:
    """The fields a spec section set explicitly, nested sections included."""
    return model.model_dump(exclude_unset=True)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


def targets_dirs() -> list[Path]:
    """Where profiles live: folders in $EDGECONV_TARGETS first (your own boards, e.g. a Jetson with its
    device section), then the repository's targets/ (editable installs) or the wheel's copy."""
    import os

    package = Path(__file__).resolve().parents[1]
    own = [Path(p).expanduser() for p in os.environ.get("EDGECONV_TARGETS", "").split(os.pathsep) if p]
    return [d for d in (*own, package.parent / "targets", package / "_targets") if d.is_dir()]


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


CALIBRATED = ("int8-static", "int8-full")  # precisions that need the spec's calibration set
