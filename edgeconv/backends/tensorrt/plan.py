"""The TensorRT builder configuration as plain data, computed without TensorRT.

Both builders (the Python API in ``tensorrt_build`` and the ``trtexec`` command line) are driven by
the same ``BuilderConfigPlan``, so what each target profile asks for can be tested here, and the
plan goes into the engine's stage key and sidecar metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.errors import SpecError
from edgeconv.spec.targets import TargetProfile, TensorRTSettings

# Builder flags per precision (names of trt.BuilderFlag members). int8-static is explicit
# quantization: the QDQ nodes fix which layers run int8; FP16 is not added so the rest stays fp32,
# as for the ONNX Runtime artifact. "best" is trtexec's --best: every precision allowed.
PRECISION_FLAGS: dict[str, tuple[str, ...]] = {
    "fp32": (),
    "fp16": ("FP16",),
    "int8-static": ("INT8",),
    "best": ("FP16", "INT8"),
}
# DLA runs fp16/int8 only; fp32 layers fall back to the GPU.
DLA_FLAGS = ("GPU_FALLBACK",)


@dataclass(frozen=True)
class ShapeRange:
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


@dataclass(frozen=True)
class BuilderConfigPlan:
    precision: str
    flags: tuple[str, ...]
    profiles: dict[str, ShapeRange]  # one optimization profile: input name -> min/opt/max
    workspace_bytes: int
    dla_core: int | None = None
    builder: str = "api"
    timing_cache: str | None = None  # file path, keyed by TensorRT version and GPU compute capability
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["profiles"] = {k: {"min": list(v.min), "opt": list(v.opt), "max": list(v.max)}
                            for k, v in self.profiles.items()}
        data["flags"] = list(self.flags)
        return data


def settings_of(profile: TargetProfile) -> TensorRTSettings:
    return profile.tensorrt or TensorRTSettings()


def cache_key(tensorrt_version: str, compute_capability: str) -> str:
    """Timing caches are only valid for one TensorRT version on one GPU architecture."""
    return f"trt{tensorrt_version}-sm{compute_capability.replace('.', '')}"


def timing_cache_path(cache_dir: Path, tensorrt_version: str, compute_capability: str) -> Path:
    return Path(cache_dir) / f"timing-{cache_key(tensorrt_version, compute_capability)}.cache"


def shape_ranges(
    inputs: list[tuple[str, tuple[int | str, ...]]], max_batch: int, opt_batch: int, sequence: int | None,
) -> dict[str, ShapeRange]:
    """min/opt/max per input: the first dynamic axis is the batch (1..max_batch), a dynamic axis
    named like a sequence is 1..sequence (opt = sequence, since text is padded to max_length)."""
    ranges: dict[str, ShapeRange] = {}
    opt_batch = min(opt_batch, max_batch)
    for name, shape in inputs:
        lo, mid, hi = [], [], []
        for axis, dim in enumerate(shape):
            if isinstance(dim, int) and dim > 0:
                lo.append(dim), mid.append(dim), hi.append(dim)
            elif axis == 0:
                lo.append(1), mid.append(opt_batch), hi.append(max_batch)
            elif sequence is not None and _is_sequence(dim):
                lo.append(1), mid.append(sequence), hi.append(sequence)
            else:
                raise SpecError(
                    f"input '{name}' axis {axis} ('{dim}') is dynamic and TensorRT needs its range",
                    fix="export with that axis fixed, or name it 'sequence' for text models",
                )
        ranges[name] = ShapeRange(tuple(lo), tuple(mid), tuple(hi))
    return ranges


def _is_sequence(dim: int | str) -> bool:
    return isinstance(dim, str) and any(k in dim.lower() for k in ("seq", "length", "token"))


def make_plan(
    profile: TargetProfile, precision: str, inputs: list[tuple[str, tuple[int | str, ...]]], *,
    sequence: int | None, opt_batch: int = 1, cache_dir: Path | None = None,
    tensorrt_version: str | None = None, compute_capability: str | None = None,
) -> BuilderConfigPlan:
    """The builder configuration for one target profile and precision."""
    if precision not in PRECISION_FLAGS:
        raise SpecError(f"TensorRT does not build precision '{precision}'",
                        fix=f"choose from {', '.join(PRECISION_FLAGS)}")
    settings = settings_of(profile)
    flags = list(PRECISION_FLAGS[precision])
    if settings.sparsity:
        flags.append("SPARSE_WEIGHTS")
    if settings.dla_core is not None:
        if precision == "fp32":
            raise SpecError(f"target '{profile.name}' runs on DLA, which has no fp32",
                            fix="use fp16, int8-static or best for a DLA target")
        flags.extend(DLA_FLAGS)
    cache = None
    if cache_dir is not None and tensorrt_version and compute_capability:
        cache = str(timing_cache_path(cache_dir, tensorrt_version, compute_capability))
    return BuilderConfigPlan(
        precision=precision, flags=tuple(flags),
        profiles=shape_ranges(inputs, settings.max_batch, opt_batch, sequence),
        workspace_bytes=settings.workspace_mb << 20, dla_core=settings.dla_core, builder=settings.builder,
        timing_cache=cache,
    )


def onnx_inputs(path: Path) -> list[tuple[str, tuple[int | str, ...]]]:
    """(name, shape) of the graph inputs that are not initializers; dynamic axes as their names."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [
        (v.name, tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                       for d in v.type.tensor_type.shape.dim))
        for v in graph.input if v.name not in initializers
    ]
