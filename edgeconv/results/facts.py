"""The typed facts a report row carries beside its measurement: how it runs, where and when it was timed, what
pruning and its backend did, and each budget it was held to.

Each record dumps only the keys it was given (pydantic's fields set), in field order, so report.json keeps the
shape every reader knows while the code gets attributes instead of ``extra["..."]`` lookups.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.dataclasses import dataclass as typed_dataclass

from edgeconv import metric_table


def _null_is_nan(value: Any) -> Any:
    return math.nan if value is None else value


# A float report.json may hold as null: json_safe writes NaN and infinities so, and they read back as NaN.
Num = Annotated[float, BeforeValidator(_null_is_nan)]
# A figure in a table of figures (latency_ms: p50 ... runs, outliers): an int stays an int, as it was written.
Figure = int | Num


def json_safe(value: Any) -> Any:
    """Infinite and NaN floats as null: strict JSON readers (jq, browsers, Go) refuse 'Infinity'. An output
    equal to the reference's keeps ``exact: true`` beside its null SNR."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class Facts(BaseModel):
    """A record report.json holds as one object. Keys an older or newer report adds are ignored on reading (the
    round-trip test over every report the suite writes catches a key the models forgot)."""

    model_config = ConfigDict(extra="ignore")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


@dataclass
class RunnerSpec:
    """A runner named by import path plus JSON-able arguments, so a worker process can build it."""

    runner: str  # "package.module:Class"
    kwargs: dict[str, Any]


class RunnerRecord(Facts):
    """``runner``: the runner verification used and its arguments (the artifact's path aside), which a bundle's
    run.py, ``edgeconv serve`` and the interleaved timing pass load the artifact with."""

    runner: str
    kwargs: dict[str, Any] = {}

    @classmethod
    def of(cls, spec: RunnerSpec) -> RunnerRecord:
        return cls(runner=spec.runner, kwargs={k: v for k, v in spec.kwargs.items() if k != "path"})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()  # both keys always: run.py and serve read kwargs unconditionally


class Timing(Facts):
    """``timing``: whether the worker's figures were measured in this build or reused from the stage cache, when,
    on which machine (or board), and the interleaved pass's record (or why it could not time this row)."""

    fresh: bool | None = None
    measured_at: str | None = None
    machine: dict[str, Any] | None = None
    interleaved: dict[str, Any] | str | None = None
    shapes: dict[str, Any] | None = None  # text: p50/p90 at real length and padded, and which one ranks
    round_p50_ms: list[float] | None = None  # the interleaved pass's p50 per round: two rows pair round by round


class RemoteFacts(Facts):
    """``remote``: a board's run (its probe facts, tegrastats summary, run folder) or, on a device fault, its
    status and reason with whatever the board said before it failed."""

    status: str | None = None
    reason: str | None = None
    device: dict[str, Any] | None = None
    tegrastats: dict[str, Any] | None = None
    stdout: str | None = None
    remote: dict[str, Any] | None = None


class TimingPass(Facts):
    """``timing_pass`` (merged reports): the shard whose interleaved pass timed the row, and its reference."""

    shard: str
    reference_p50_ms: float | None = None


class BackendFacts(Facts):
    """What a backend's build recorded (``BuiltArtifact.extra``), flat in the row: LiteRT's conversion (input
    names, static shapes, route, seconds), TensorRT's pre-build check and trtexec run."""

    model_config = ConfigDict(extra="forbid")  # a backend's new fact needs a field here, or it would be lost

    input_names: list[str] | None = None
    static_shapes: dict[str, list[int]] | None = None
    buckets: list[int] | None = None  # LiteRT's length buckets: one signature per sequence length
    convert_seconds: float | None = None
    route: str | None = None
    check: dict[str, Any] | None = None
    trtexec: dict[str, Any] | None = None


class PruneFacts(Facts):
    """``prune``: what pruning did to the model (PruneRecord's fields, recovery), its pruned fp32 export, and
    this artifact's sizes beside the unpruned reference's."""

    mode: str
    ratio: float | None = None
    params_before: int | None = None
    params_after: int | None = None
    scope_params_before: int | None = None
    scope_params_after: int | None = None
    sparsity: float | None = None
    macs_before: int | None = None
    macs_after: int | None = None
    heads_before: int | None = None
    heads_after: int | None = None
    layers: int | None = None
    importance: str | None = None
    channel_ratio: float | None = None
    block_stack: str | None = None
    blocks_before: int | None = None
    blocks_after: int | None = None
    dropped_blocks: list[int] | None = None
    block_influence: list[float] | None = None
    note: str | None = None
    recover: dict[str, Any] | None = None
    fp32_size_bytes: int | None = None
    fp32_size_gzip_bytes: int | None = None
    parity: Any = None
    pattern_2_4: dict[str, Any] | None = None
    size_bytes: int | None = None
    size_gzip_bytes: int | None = None
    reference_size_bytes: int | None = None
    reference_size_gzip_bytes: int | None = None


@typed_dataclass
class BudgetCheck:
    name: str
    limit: Num
    value: Num
    passed: bool

    @property
    def shortfall(self) -> str:
        """How far off a failed budget is, in the budget's unit, for report.md (edgeconv.metric_table's rule)."""
        return metric_table.shortfall(self.name, self.value, self.limit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PruneRecord:
    """What pruning did, as compress/ builds it up; its dict is the start of every pruned row's ``prune``."""

    mode: str
    ratio: float | None
    params_before: int
    params_after: int
    scope_params_before: int  # parameters of the layers pruning was allowed to touch
    scope_params_after: int
    sparsity: float | None = None  # fraction of zeros in the pruned layers' weights
    macs_before: int | None = None
    macs_after: int | None = None
    heads_before: int | None = None
    heads_after: int | None = None
    layers: int = 0
    importance: str | None = None
    channel_ratio: float | None = None  # structured: the per-layer channel/head ratio that reached ``ratio``
    block_stack: str | None = None  # drop_blocks: the ModuleList blocks were removed from
    blocks_before: int | None = None
    blocks_after: int | None = None
    dropped_blocks: list[int] | None = None  # original indices, in the order they were removed
    block_influence: list[float] | None = None  # KL from the unpruned output that each removal left
    note: str | None = None
    recover: dict[str, Any] | None = None
    layer_names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and k != "layer_names"}
