"""Every figure the gate compares, as one table: its direction, its unit (how it prints), and the limit that holds it.

A metric's name is its family (``accuracy``, ``map50_95``, ``snr_db``, ...), with the output in brackets for
per-output fidelity (``snr_db[logits]``); a custom ``evaluation.metric`` (``module:function``) is family
``metric``. Renderers, the verdict and ``--limit NAME=VALUE`` all read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HIGHER, LOWER = 1, -1  # direction: which way is better


@dataclass(frozen=True)
class Unit:
    """How a unit prints: a value, a change, and a limit's size."""

    value: Callable[[float], str]
    change: Callable[[float], str]
    size: Callable[[float], str]


POINTS = Unit(lambda v: f"{v:.4f}", lambda c: f"{c * 100:+.2f} pts", lambda s: f"{s * 100:.2f} pts")
PERCENT = Unit(lambda v: f"{v:.4g}", lambda c: f"{c:+.1%}", lambda s: f"{s:.0%}")
DB = Unit(lambda v: f"{v:.1f} dB", lambda c: f"{c:+.2f} dB", lambda s: f"{s:g} dB")
PLAIN = Unit(lambda v: f"{v:.4g}", lambda c: f"{c:+.4g}", lambda s: f"{s:g}")
MS = Unit(lambda v: f"{v:.3f} ms", PERCENT.change, PERCENT.size)
BYTES = Unit(lambda v: f"{int(v):,} B", PERCENT.change, PERCENT.size)


@dataclass(frozen=True)
class MetricDef:
    family: str
    direction: int  # HIGHER: a drop beyond the limit regresses; LOWER: a rise beyond it does
    unit: Unit
    limit: str  # the Thresholds field that holds it by default
    title: str  # what the HTML page's axis calls its change


# family | better | unit | the Thresholds field of its limit | the HTML page's axis
TABLE = """
accuracy              | higher | points  | max_accuracy_drop         | accuracy change (points)
agreement             | higher | points  | max_agreement_drop        | agreement change (points)
macro_f1              | higher | points  | max_metric_drop           | macro-F1 change (points)
metric                | higher | plain   | max_metric_drop           | custom metric change
map50_95              | higher | points  | max_map_drop              | mAP@0.5:0.95 vs labels, change (points)
map50                 | higher | points  | max_map_drop              | mAP@0.5 vs labels, change (points)
map50_95_vs_reference | higher | points  | max_map_drop              | mAP@0.5:0.95 vs fp32 boxes, change (points)
map50_vs_reference    | higher | points  | max_map_drop              | mAP@0.5 vs fp32 boxes, change (points)
miou                  | higher | points  | max_miou_drop             | mIoU vs label masks, change (points)
miou_vs_reference     | higher | points  | max_miou_drop             | mIoU vs fp32 pixels, change (points)
cosine                | higher | plain   | max_cosine_drop           | cosine vs fp32, change
snr_db                | higher | db      | max_snr_db_drop           | SNR vs fp32, change (dB)
within_tolerance      | higher | points  | max_within_tolerance_drop | share within atol + rtol, change (points)
max_abs_error         | lower  | plain   | max_abs_error_increase    | max abs error, change
latency_p50           | lower  | ms      | max_latency_increase      | p50 latency change (%)
size_bytes            | lower  | bytes   | max_size_increase         | size change (%)
"""
UNITS = {"points": POINTS, "plain": PLAIN, "db": DB, "ms": MS, "bytes": BYTES}


def _table(text: str) -> dict[str, MetricDef]:
    rows = [[cell.strip() for cell in line.split("|")] for line in text.strip().splitlines()]
    return {r[0]: MetricDef(r[0], HIGHER if r[1] == "higher" else LOWER, UNITS[r[2]], r[3], r[4]) for r in rows}


METRICS = _table(TABLE)
RELATIVE = ("latency_p50", "size_bytes")  # their change is a fraction of the baseline's value
FIDELITY = ("cosine", "snr_db", "within_tolerance", "max_abs_error")  # per output, from report rows' `outputs`
DETECTION = ("map50_95_vs_reference", "map50_vs_reference", "map50_95", "map50")
SEGMENTATION = ("miou_vs_reference", "miou")


def family(name: str) -> str:
    """``snr_db[out]`` -> ``snr_db``; a custom metric (``module:function``) -> ``metric``."""
    base = name.split("[", 1)[0]
    return base if base in METRICS else "metric"


def definition(name: str) -> MetricDef:
    return METRICS[family(name)]


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
        for budget, limit in (("accuracy_drop", "max_accuracy_drop"), ("map_drop", "max_map_drop"),
                              ("miou_drop", "max_miou_drop"), ("max_latency_increase", "max_latency_increase")):
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
    word = "drop" if d.direction == HIGHER else {"latency_p50": "slower", "size_bytes": "larger"}.get(d.family, "rise")
    return f"{word} > {d.unit.size(limit)}"
