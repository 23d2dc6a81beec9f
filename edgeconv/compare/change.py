"""One metric's change between a baseline and a candidate build: the unit every comparison rule returns."""

from __future__ import annotations

from dataclasses import dataclass

OK, REGRESSION, NOT_COMPARED = "ok", "regression", "not compared"
MIN_TIMINGS = 5


@dataclass
class MetricChange:
    metric: str  # accuracy | agreement | latency_p50 | size_bytes | the evaluation metric (macro_f1, module:function)
    status: str
    baseline: float | None = None
    candidate: float | None = None
    change: float | None = None  # accuracy/agreement: difference; latency: ratio - 1; size: fraction
    low: float | None = None
    high: float | None = None
    threshold: float | None = None
    method: str = ""
    note: str = ""
