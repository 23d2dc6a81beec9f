"""The spec's ``budgets`` section: what every artifact is held to (task metric, agreement, latency, size, and
the numeric fidelity of each output against the fp32 reference)."""

from __future__ import annotations

from pydantic import Field

from edgeconv.spec_base import StrictModel


class OutputBudgets(StrictModel):
    """Numeric fidelity to the fp32 reference, for every output (``budgets``) or one (``budgets.outputs.NAME``)."""

    min_cosine: float | None = Field(None, ge=-1, le=1, description="mean per-example cosine similarity")
    min_snr_db: float | None = Field(None, description="signal-to-noise ratio of the output vs the reference, dB")
    atol: float | None = Field(None, ge=0, description="absolute tolerance of an element (default 1e-3)")
    rtol: float | None = Field(None, ge=0, description="relative tolerance of an element (default 1e-3)")
    max_mismatch: float | None = Field(
        None, ge=0, le=1, description="largest fraction of elements outside atol + rtol*|reference|")


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
