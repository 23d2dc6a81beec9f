"""One row of report.json: an artifact (or the fp32 reference) with its measurement and typed facts.

In memory the measurement is its own object; in report.json its figures sit flat in the row, beside the facts
(``runner``, ``timing``, ``prune``...). ``to_dict`` writes that shape and validating a row's dict reads it
back, so ``ArtifactResult`` round-trips through report.json.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from pydantic import model_validator
from pydantic.dataclasses import dataclass as typed_dataclass

from edgeconv.results.facts import (
    BackendFacts,
    BudgetCheck,
    Figure,
    Num,
    PruneFacts,
    RemoteFacts,
    RunnerRecord,
    Timing,
    TimingPass,
)
from edgeconv.results.generation import GenerationFigures

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


@typed_dataclass
class Measurement:
    """One artifact measured on its runtime against the labelled evaluation set."""

    accuracy: float | None  # None: not measured (no labels, or a model without classes)
    macro_f1: float | None
    per_class: dict[str, dict[str, Any]]
    agreement: float | None  # top-1 agreement with the reference; None for a model without classes
    max_abs_error: Num
    latency_ms: dict[str, Figure]
    timings_ms: list[Figure]
    peak_memory_mb: Num
    load_s: Num
    runtime: dict[str, Any]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # numeric fidelity per output
    metric_value: float | None = None  # the spec's evaluation.metric (accuracy, macro_f1 or a custom one)
    detection: dict[str, Any] | None = None  # task: detection: mAP against the labels and the reference's boxes
    segmentation: dict[str, Any] | None = None  # task: segmentation: mIoU against the masks and the reference
    generation: GenerationFigures | None = None  # task: text-generation: perplexity, KL, agreement, tokens/s


# The row's own keys, then the measurement's, in report.json's order (the facts follow them).
_HEAD = ("target", "backend", "precision", "path", "sha256", "size_bytes", "status", "reason")
_MEASURED = ("accuracy", "macro_f1", "per_class", "agreement", "max_abs_error", "latency_ms", "timings_ms",
             "peak_memory_mb", "load_s", "runtime", "outputs", "metric_value", "detection", "segmentation",
             "generation")
# What a container field of a measured row holds when an older report has no key (or null) there.
_EMPTY: dict[str, Any] = {"per_class": {}, "outputs": {}, "timings_ms": [], "runtime": {}}
_OWN = ("parameters", "accuracy_delta", "speedup_vs_reference", "speedup_interval", "identical_to", "quantization",
        "budgets")
_FACTS = ("prune", "timing", "remote", "runner", "worker_latency_ms", "warnings", "selected", "timing_pass")


@typed_dataclass
class ArtifactResult:
    target: str  # the row label: <target>[@board][@prune-...] (edgeconv.results.labels)
    backend: str
    precision: str
    path: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    parameters: int | None = None  # the weights of the model the artifact was built from (a pruned one: fewer)
    status: str = PASSED
    reason: str | None = None
    measurement: Measurement | None = None
    accuracy_delta: float | None = None
    speedup_vs_reference: float | None = None  # the median of the interleaved pass's per-round paired ratios
    speedup_interval: list[Figure] | None = None  # its 95% interval [low, high]; containing 1: not distinguishable
    identical_to: str | None = None  # the row whose figure this byte-identical artifact shares
    budgets: list[BudgetCheck] = field(default_factory=list)
    quantization: dict[str, Any] | None = None
    built: BackendFacts = field(default_factory=BackendFacts)  # the backend's own facts, flat in report.json
    prune: PruneFacts | None = None
    timing: Timing | None = None  # the worker's figures: fresh or reused, when, where; the interleaved pass
    remote: RemoteFacts | None = None  # measured on a board, or its device fault
    runner: RunnerRecord | None = None  # how the artifact loads (bundles, serve, the interleaved pass)
    worker_latency_ms: dict[str, Figure] | None = None  # the worker's own figures, before the interleaved pass
    warnings: list[str] = field(default_factory=list)  # slower than the reference, oversubscribed threads
    selected: bool = False  # the build's `precision: auto` or device choice
    timing_pass: TimingPass | None = None  # merged reports: the shard pass that timed it

    @property
    def label(self) -> str:
        return f"{self.target}/{self.precision}"

    @model_validator(mode="before")
    @classmethod
    def _from_report(cls, data: Any) -> Any:
        """A dict is a report.json row (figures flat); a constructor call (ArgsKwargs) passes through."""
        if not isinstance(data, dict):
            return data
        measured = None
        if data.get("latency_ms") is not None:
            measured = {k: _EMPTY[k] if data.get(k) is None and k in _EMPTY else data.get(k) for k in _MEASURED}
        known = {*_HEAD, *_OWN, *_FACTS}
        return {**{k: data[k] for k in known if k in data}, "measurement": measured,
                "built": {k: data[k] for k in BackendFacts.model_fields if k in data}}

    def to_dict(self) -> dict[str, Any]:
        """The row as report.json holds it (floats as they are: ``BuildResult.to_dict`` makes them JSON-safe)."""
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
            **self.built.to_dict(),
        }
        if self.parameters is not None:  # rows of older reports, and of LMs, have none: their shape stays
            out["parameters"] = self.parameters
        if m is not None and m.generation is not None:  # only decoder LMs' rows: older reports keep their shape
            out["generation"] = m.generation.to_dict()
        for name, value in (("prune", self.prune), ("timing", self.timing), ("remote", self.remote),
                            ("runner", self.runner)):
            if value is not None:
                out[name] = value.to_dict()
        if self.worker_latency_ms is not None:
            out["worker_latency_ms"] = self.worker_latency_ms
        if self.warnings:
            out["warnings"] = self.warnings
        if self.timing_pass is not None:
            out["timing_pass"] = self.timing_pass.to_dict()
        if self.selected:
            out["selected"] = True
        return out
