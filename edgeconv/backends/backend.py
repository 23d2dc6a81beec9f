"""The interface between the build and a runtime backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgeconv.results import RunnerSpec

if TYPE_CHECKING:
    from edgeconv.cache.stages import Stages
    from edgeconv.data.feeds import FeedSet
    from edgeconv.models.family import ModelFamily
    from edgeconv.models.loaded import LoadedModel
    from edgeconv.spec import Spec
    from edgeconv.spec.targets import TargetProfile


@dataclass
class BuildContext:
    """What every backend may use to build an artifact."""

    spec: Spec
    stages: Stages
    reference_onnx: Path  # the fp32 export, checked against torch
    reference_sha256: str
    family: ModelFamily  # what graph optimizers need to know (HF model_type, heads, hidden size)
    calibration: FeedSet | None
    calibration_sha256: str | None
    evaluation: FeedSet
    evaluation_sha256: str
    reference_outputs: Any  # np.ndarray: the reference's outputs on ``evaluation``
    # The torch model, loaded on first call and then kept: for backends that convert from torch
    # (e.g. PyTorch -> TFLite) rather than from the reference ONNX.
    torch_model: Callable[[], LoadedModel]
    reference_all: Any = None  # dict[str, np.ndarray]: every output of the reference (fidelity budgets)
    # In a pruned build, the sha256 of the pruned weights ``torch_model()`` loads: stages built from the torch
    # model key on it, so pruned and unpruned conversions never share a cache entry.
    torch_pruned: str | None = None
    parameters: int | None = None  # the weights of the model ``reference_onnx`` was exported from (pruned or not)


@dataclass
class BuiltArtifact:
    path: Path  # the file a runtime loads (its folder may hold sidecar files)
    quantization: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    parameters: int | None = None  # the weights of the model it was converted from; None: ctx.reference_onnx's





class Backend(Protocol):
    name: str

    def unavailable_reason(self, profile: TargetProfile) -> str | None:
        """None when this machine can build and run ``profile``; else why not and how to get it."""

    def build(self, ctx: BuildContext, profile: TargetProfile, precision: str) -> BuiltArtifact:
        """Make (or reuse, through ``ctx.stages``) the artifact for one precision."""

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        """How the verify worker constructs a runner for the artifact."""
