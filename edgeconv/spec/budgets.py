"""The spec's ``budgets`` section: what every artifact is held to (task metric, agreement, latency, size, and
the numeric fidelity of each output against the fp32 reference)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from edgeconv.spec.base import StrictModel


class FidelityBound(StrictModel):
    """A fidelity budget on the mean over the evaluation examples and on the worst single example: a few broken
    examples hide in a mean (a detector at cosine 0.95 on the mean had one example at 0.82)."""

    mean: float | None = Field(None, description="over the examples (min_snr_db: the whole set's SNR)")
    worst: float | None = Field(None, description="the worst single example's")

    @model_validator(mode="after")
    def _one_at_least(self) -> FidelityBound:
        if self.mean is None and self.worst is None:
            raise ValueError("give mean, worst or both")
        return self


def mean_and_worst(limit: float | FidelityBound | None) -> tuple[float | None, float | None]:
    """A fidelity budget as (mean, worst): a plain number holds the mean, as it always has."""
    if isinstance(limit, FidelityBound):
        return limit.mean, limit.worst
    return limit, None


def _number(value: Any) -> bool:
    """A string pydantic reads as a number ("12"), as it did before budgets took {mean, worst}."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


class OutputBudgets(StrictModel):
    """Numeric fidelity to the fp32 reference, for every output (``budgets``) or one (``budgets.outputs.NAME``)."""

    min_cosine: float | FidelityBound | None = Field(
        None, description="per-example cosine similarity: a number holds the mean over examples; "
        "{mean: 0.95, worst: 0.9} holds the worst example too")
    min_snr_db: float | FidelityBound | None = Field(
        None, description="signal-to-noise ratio of the output vs the reference, dB: a number holds the whole set's; "
        "{mean: 20, worst: 12} holds the worst example too")
    atol: float | None = Field(None, ge=0, description="absolute tolerance of an element (default 1e-3)")
    rtol: float | None = Field(None, ge=0, description="relative tolerance of an element (default 1e-3)")
    max_mismatch: float | None = Field(
        None, ge=0, le=1, description="largest fraction of elements outside atol + rtol*|reference|")

    @field_validator("min_cosine", "min_snr_db", mode="before")
    @classmethod
    def _bound(cls, value: Any) -> Any:
        """A number (or a string of one), or {mean, worst}: anything else is said in one line here (pydantic's
        error would list every type of the union)."""
        if value is None or isinstance(value, int | float | FidelityBound) or _number(value):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{value!r} is neither a number nor {{mean: ..., worst: ...}}")
        try:
            return FidelityBound.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                raise ValueError(f"unknown key '{where}' (use mean, worst or both)") from None
            raise ValueError(f"{where or '{mean, worst}'}: {first['msg'].removeprefix('Value error, ')}") from None

    @field_validator("min_cosine")
    @classmethod
    def _cosine_range(cls, value: float | FidelityBound | None) -> float | FidelityBound | None:
        if any(v is not None and not -1 <= v <= 1 for v in mean_and_worst(value)):
            raise ValueError("a cosine similarity lies between -1 and 1")
        return value


FIDELITY_BUDGETS = ("min_cosine", "min_snr_db", "max_mismatch")


class Budgets(OutputBudgets):
    outputs: dict[str, OutputBudgets] = Field(
        default_factory=dict, description="per output name: fidelity budgets that override the global ones")
    accuracy_drop: float | None = Field(None, ge=0, le=1, description="max drop vs fp32, as a fraction")
    map_drop: float | None = Field(None, ge=0, le=1, description="task: detection: largest loss of mAP@0.5:0.95 "
                                   "against the labels (else against the reference's own detections), a fraction")
    miou_drop: float | None = Field(None, ge=0, le=1, description="task: segmentation: largest loss of mIoU against "
                                    "the label masks (else against the reference's classes), a fraction")
    min_agreement: float | None = Field(None, ge=0, le=1, description="min top-1 agreement with fp32")
    max_perplexity_increase: float | None = Field(
        None, ge=0, description="task: text-generation: largest rise of perplexity on the evaluation texts against "
        "the fp32 reference, as a fraction (0.05 = 5%)")
    max_kl: float | None = Field(None, ge=0, description="task: text-generation: largest mean per-token KL "
                                 "divergence KL(reference || artifact), nats")
    min_token_agreement: float | None = Field(
        None, ge=0, le=1, description="task: text-generation: least teacher-forced top-1 token agreement with fp32")
    p90_latency_ms: float | None = Field(None, gt=0)
    max_size_mb: float | None = Field(None, gt=0)
    max_latency_increase: float | None = Field(
        None, gt=0, description="with --baseline / compare: largest p50 slow-down, as a fraction (0.1 = 10%)"
    )

    def for_output(self, name: str) -> OutputBudgets:
        """The fidelity budgets of one output: its own where set, else the global ones."""
        own = self.outputs.get(name, OutputBudgets())
        return OutputBudgets(**{k: getattr(own, k) if getattr(own, k) is not None else getattr(self, k)
                                for k in OutputBudgets.model_fields})
