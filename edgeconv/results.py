"""What a build produced and measured: the objects behind report.json (see README, 'report contract')."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeconv import metric_table

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


def candidate_of(target: str, row_target: str) -> bool:
    """``row_target`` is ``target``'s own row or one of its pruned candidates (not a board of a pool)."""
    return row_target == target or row_target.startswith(f"{target}@prune-")


@dataclass
class RunnerSpec:
    """A runner named by import path plus JSON-able arguments, so a worker process can build it."""

    runner: str  # "package.module:Class"
    kwargs: dict[str, Any]


@dataclass
class BudgetCheck:
    name: str
    limit: float
    value: float
    passed: bool

    @property
    def shortfall(self) -> str:
        """How far off a failed budget is, in the budget's unit, for report.md (edgeconv.metric_table's rule)."""
        return metric_table.shortfall(self.name, self.value, self.limit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PruneRecord:
    """What pruning did: goes into every pruned artifact's report entry as ``prune``."""

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
        out = {k: v for k, v in asdict(self).items() if v is not None and k != "layer_names"}
        return out


@dataclass
class Measurement:
    """One artifact measured on its runtime against the labelled evaluation set."""

    accuracy: float | None  # None: not measured (no labels, or a model without classes)
    macro_f1: float | None
    per_class: dict[str, dict[str, float]]
    agreement: float | None  # top-1 agreement with the reference; None for a model without classes
    max_abs_error: float
    latency_ms: dict[str, float]
    timings_ms: list[float]
    peak_memory_mb: float
    load_s: float
    runtime: dict[str, Any]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # numeric fidelity per output
    metric_value: float | None = None  # the spec's evaluation.metric (accuracy, macro_f1 or a custom one)
    detection: dict[str, Any] | None = None  # task: detection: mAP against the labels and the reference's boxes
    segmentation: dict[str, Any] | None = None  # task: segmentation: mIoU against the masks and the reference


@dataclass
class ArtifactResult:
    target: str
    backend: str
    precision: str
    path: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    status: str = PASSED
    reason: str | None = None
    measurement: Measurement | None = None
    accuracy_delta: float | None = None
    speedup_vs_reference: float | None = None  # the median of the interleaved pass's per-round paired ratios
    speedup_interval: list[float] | None = None  # its 95% interval [low, high]; containing 1: not distinguishable
    identical_to: str | None = None  # the row whose figure this byte-identical artifact shares
    budgets: list[BudgetCheck] = field(default_factory=list)
    quantization: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # stage-specific facts (prune, engine, ...)

    @property
    def label(self) -> str:
        return f"{self.target}/{self.precision}"

    def to_dict(self) -> dict[str, Any]:
        m = self.measurement
        out: dict[str, Any] = {
            "target": self.target, "backend": self.backend, "precision": self.precision,
            "path": self.path, "sha256": self.sha256, "size_bytes": self.size_bytes,
            "status": self.status, "reason": self.reason,
            "accuracy": m.accuracy if m else None, "macro_f1": m.macro_f1 if m else None,
            "metric_value": m.metric_value if m else None, "detection": m.detection if m else None,
            "segmentation": m.segmentation if m else None,
            "accuracy_delta": self.accuracy_delta, "agreement": m.agreement if m else None,
            "max_abs_error": m.max_abs_error if m else None,
            "latency_ms": m.latency_ms if m else None,
            "speedup_vs_reference": self.speedup_vs_reference, "speedup_interval": self.speedup_interval,
            "identical_to": self.identical_to,
            "peak_memory_mb": m.peak_memory_mb if m else None, "load_s": m.load_s if m else None,
            "per_class": m.per_class if m else None,
            "outputs": m.outputs if m else None,
            "budgets": [b.to_dict() for b in self.budgets],
            "quantization": self.quantization,
            "runtime": m.runtime if m else None,
            "timings_ms": m.timings_ms if m else None,
        }
        out.update(self.extra)
        return out


@dataclass
class BuildResult:
    spec_name: str
    out_dir: str
    reference: ArtifactResult
    artifacts: list[ArtifactResult]
    export: dict[str, Any]
    manifest: dict[str, Any]
    evaluation: dict[str, Any]
    selections: list[dict[str, Any]] = field(default_factory=list)  # `precision: auto` choices
    shard: dict[str, Any] | None = None  # --shard I/N: this shard's slice of the matrix (scale/shard.py)
    merged: dict[str, Any] | None = None  # `edgeconv merge`: the shards this result joins (scale/merge.py)
    ray: dict[str, Any] | None = None  # --ray: where the searches' trials ran (scale/trials.py); never timings
    timing: dict[str, Any] | None = None  # the interleaved pass: rounds, order, load (verify/retime.py)
    machine: dict[str, Any] | None = None  # the CPU that built and timed: which precisions it executes natively
    # build --baseline: compare's Comparison with the earlier build (compare.md); part of the exit code, not of
    # report.json. Typed Any: results sits below compare.
    gate: Any = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return all(a.status in (PASSED, SKIPPED) for a in self.artifacts)

    @property
    def failed_budgets(self) -> list[tuple[ArtifactResult, BudgetCheck]]:
        return [(a, b) for a in self.artifacts for b in a.budgets if not b.passed]

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "name": self.spec_name, "passed": self.passed,
            "reference": self.reference.to_dict(),
            "artifacts": [a.to_dict() for a in self.artifacts],
            "export": self.export, "evaluation": self.evaluation, "selections": self.selections,
            "versions": self.manifest.get("versions", {}), "spec_sha256": self.manifest.get("spec_sha256"),
            **({"shard": self.shard} if self.shard else {}), **({"merged": self.merged} if self.merged else {}),
            **({"ray": self.ray} if self.ray else {}), **({"timing": self.timing} if self.timing else {}),
            **({"machine": self.machine} if self.machine else {}),
        })


_MEASURED = ("accuracy", "macro_f1", "per_class", "agreement", "max_abs_error", "latency_ms", "timings_ms",
             "peak_memory_mb", "load_s", "runtime", "outputs", "metric_value", "detection", "segmentation")
# What a Measurement field holds when report.json has null there (an older report, or JSON's null for NaN).
_MISSING: dict[str, Any] = {"per_class": {}, "outputs": {}, "timings_ms": [], "runtime": {}, "load_s": 0.0,
                            "peak_memory_mb": 0.0, "max_abs_error": 0.0}
_OWN = ("target", "backend", "precision", "path", "sha256", "size_bytes", "status", "reason", "accuracy_delta",
        "speedup_vs_reference", "speedup_interval", "identical_to", "quantization")


def artifact_from_dict(entry: dict[str, Any]) -> ArtifactResult:
    """An ArtifactResult read back from its report.json entry (``edgeconv merge`` joins shards' reports): the
    inverse of ``to_dict``, every key it does not own going back to ``extra``."""
    
    measurement = None
    if entry.get("latency_ms") is not None:
        measurement = Measurement(**{k: entry[k] if entry.get(k) is not None else _MISSING.get(k) for k in _MEASURED})
    known = {*_MEASURED, *_OWN, "budgets", "selected"}  # "selected": the merge chooses again
    return ArtifactResult(
        **{k: entry.get(k) for k in _OWN if k in entry}, measurement=measurement,
        budgets=[BudgetCheck(**b) for b in entry.get("budgets") or []],
        extra={k: v for k, v in entry.items() if k not in known},
    )


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
