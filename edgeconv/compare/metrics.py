"""The gate's limits: ``Thresholds`` (flags, the spec's budgets, ``--limit NAME=VALUE``) and the regression rule
(the whole interval past the limit).

A metric's name is its family (``accuracy``, ``map50_95``, ``snr_db``, ...), with the output in brackets for
per-output fidelity (``snr_db[logits]``); a custom ``evaluation.metric`` (``module:function``) is family
``metric``. Each family's direction, unit and the Thresholds field of its limit are edgeconv.metric_table's rows,
shared with the build's report and budgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeconv.metric_table import BUDGETS, HIGHER, budgeted, definition, family

DETECTION = ("map50_95_vs_reference", "map50_vs_reference", "map50_95", "map50")
SEGMENTATION = ("miou_vs_reference", "miou")


@dataclass
class Thresholds:
    """The limits: each a size of change in the metric's own unit (fractions for points, dB for SNR, fractions of
    the baseline for latency and size). None: shown, not gated. ``limits``: ``--limit NAME=VALUE`` by metric
    name (``snr_db[next_state]``) or family (``snr_db``); they win over the fields."""

    max_accuracy_drop: float = 0.01
    max_agreement_drop: float | None = None  # None: same as max_accuracy_drop
    max_latency_increase: float = 0.10
    max_size_increase: float | None = None
    max_map_drop: float = 0.01
    max_miou_drop: float = 0.01
    max_metric_drop: float = 0.01
    max_cosine_drop: float = 0.01
    max_snr_db_drop: float = 3.0  # dB: the noise power doubled
    max_within_tolerance_drop: float = 0.01
    max_abs_error_increase: float | None = None
    limits: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0

    @classmethod
    def from_budgets(cls, budgets: Any, **overrides: Any) -> Thresholds:
        """Defaults from a spec's ``budgets`` (accuracy_drop, map_drop, miou_drop, max_latency_increase); flags win."""
        found: dict[str, Any] = {}
        drops = {budget: m.limit for budget, m in BUDGETS.items() if budgeted(budget)[1] == "drop"}
        for budget, limit in (*drops.items(), ("max_latency_increase", "max_latency_increase")):
            if getattr(budgets, budget, None) is not None:
                found[limit] = getattr(budgets, budget)
        found.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**found)

    def limit(self, name: str) -> float | None:
        """The limit of metric ``name``: ``--limit`` by name, then by family, then the family's field."""
        for key in (name, family(name)):
            if key in self.limits:
                return self.limits[key]
        field_ = definition(name).limit
        assert field_ is not None, f"{name} is not a compared metric"
        if field_ == "max_agreement_drop" and self.max_agreement_drop is None:
            return self.max_accuracy_drop
        return getattr(self, field_)


def regressed(name: str, low: float, high: float, limit: float | None) -> bool:
    """The rule of the whole gate: a regression only when the whole interval lies beyond the limit."""
    if limit is None:
        return False
    return high < -limit if definition(name).direction == HIGHER else low > limit


def limit_text(name: str, limit: float | None) -> str:
    if limit is None:
        return "–"
    d = definition(name)
    word = "drop" if d.direction == HIGHER else {"latency_p50": "slower", "size_bytes": "larger"}.get(d.name, "rise")
    return f"{word} > {d.size(limit)}"
