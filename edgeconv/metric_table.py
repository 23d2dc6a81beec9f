"""Every figure edgeconv reports, gates or budgets, declared once: which way is better, its unit (how a value, a
change and a size print), the budget that holds it in a build and the limit that holds it in ``edgeconv compare``.

report.md/html, the terminal table, ``compare``'s renderers and verdict, and each budget's check and shortfall all
read this table, so a figure prints and is judged the same way everywhere (Olive declares ``higher_is_better``
beside each metric the same way). It imports nothing from edgeconv: results, verify, report and compare all sit
above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

HIGHER, LOWER = 1, -1  # direction: which way is better
TOLERANCE = 1e-12  # a figure exactly at its budget's limit meets it, float noise included


@dataclass(frozen=True)
class Unit:
    """How a figure in this unit prints: a value, a signed change, and a size (a limit, a distance to one) with
    ``word`` after its ``number``; a table cell is the bare ``number`` where the header names the unit."""

    value: Callable[[float], str]
    change: Callable[[float], str]
    number: Callable[[float], str]
    word: str = ""

    def size(self, amount: float) -> str:
        return f"{self.number(amount)} {self.word}".strip()


# A fraction (accuracy, agreement, mAP, mIoU): a value as a percentage, a change in percentage points.
POINTS = Unit(lambda v: f"{v:.2%}", lambda c: f"{c * 100:+.2f} pts", lambda s: f"{s * 100:.2f}", "pts")
PERCENT = Unit(lambda v: f"{v:.4g}", lambda c: f"{c:+.1%}", lambda s: f"{s:.0%}")  # a change relative to a value
SHARE = Unit(lambda v: f"{v:.3%}", lambda c: f"{c:+.3%}", lambda s: f"{s:.3%}")  # a small share of elements
DB = Unit(lambda v: f"{v:.1f} dB", lambda c: f"{c:+.2f} dB", lambda s: f"{s:.1f}", "dB")
COSINE = Unit(lambda v: f"{v:.6f}", lambda c: f"{c:+.6g}", lambda s: f"{s:.6g}")  # near 1: six decimals matter
PLAIN = Unit(lambda v: f"{v:.4g}", lambda c: f"{c:+.4g}", lambda s: f"{s:g}")
MS = Unit(lambda v: f"{v:.4g} ms", lambda c: f"{c:+.4g} ms", lambda s: f"{s:.4g}", "ms")  # sub-ms models too
MB = Unit(lambda v: f"{v:.4g} MB", lambda c: f"{c:+.4g} MB", lambda s: f"{s:.4g}", "MB")
BYTES = Unit(lambda v: f"{int(v):,} B", lambda c: f"{int(c):+,} B", lambda s: f"{int(s):,}", "B")
UNITS = {"points": POINTS, "share": SHARE, "db": DB, "cosine": COSINE, "plain": PLAIN, "ms": MS, "mb": MB,
         "bytes": BYTES}


@dataclass(frozen=True)
class Metric:
    name: str  # its family: ``snr_db[out]`` is ``snr_db``; a custom ``module:function`` is ``metric``
    direction: int  # HIGHER or LOWER
    unit: Unit
    relative: bool  # compared as a fraction of the baseline's value (latency, size)
    label: str  # how a sentence names it
    budget: str | None  # the spec's budget that holds it in a build
    limit: str | None  # the compare.Thresholds field that holds it in ``compare``

    def change(self, change: float) -> str:
        return (PERCENT if self.relative else self.unit).change(change)

    def size(self, amount: float) -> str:
        return (PERCENT if self.relative else self.unit).size(amount)

    @property
    def title(self) -> str:
        """What a plot's axis of its change is called."""
        word = "%" if self.relative else {POINTS: "points", DB: "dB"}.get(self.unit)
        return f"{self.label}, change" + (f" ({word})" if word else "")


# name | better | unit (+ relative: compared as a fraction) | label | budget | compare's limit (Thresholds field)
TABLE = """
accuracy              | higher | points   | accuracy                      | accuracy_drop  | max_accuracy_drop
agreement             | higher | points   | agreement                     | min_agreement  | max_agreement_drop
macro_f1              | higher | points   | macro-F1                      | -              | max_metric_drop
metric                | higher | plain    | custom metric                 | -              | max_metric_drop
map50_95              | higher | points   | mAP@0.5:0.95                  | map_drop       | max_map_drop
map50                 | higher | points   | mAP@0.5                       | -              | max_map_drop
map50_95_vs_reference | higher | points   | mAP@0.5:0.95 vs fp32 boxes    | -              | max_map_drop
map50_vs_reference    | higher | points   | mAP@0.5 vs fp32 boxes         | -              | max_map_drop
miou                  | higher | points   | mIoU                          | miou_drop      | max_miou_drop
miou_vs_reference     | higher | points   | mIoU vs fp32 pixels           | -              | max_miou_drop
cosine                | higher | cosine   | cosine                        | min_cosine     | max_cosine_drop
snr_db                | higher | db       | SNR                           | min_snr_db     | max_snr_db_drop
within_tolerance      | higher | points   | share within atol + rtol      | -              | max_within_tolerance_drop
mismatch              | lower  | share    | share outside atol + rtol     | max_mismatch   | -
max_abs_error         | lower  | plain    | max abs error                 | -              | max_abs_error_increase
perplexity_increase   | lower  | points   | perplexity increase           | max_perplexity_increase | -
kl_mean               | lower  | plain    | mean per-token KL             | max_kl         | -
token_agreement       | higher | points   | token agreement               | min_token_agreement | -
greedy_agreement      | higher | points   | greedy-generation agreement   | -              | -
decode_tokens_per_s   | higher | plain +  | decode tokens/s               | -              | -
ttft_ms               | lower  | ms +     | time to first token           | -              | -
latency_p50           | lower  | ms +     | p50 latency                   | -              | max_latency_increase
latency_p90           | lower  | ms       | p90 latency                   | p90_latency_ms | -
size_bytes            | lower  | bytes +  | size                          | -              | max_size_increase
size_mb               | lower  | mb       | size                          | max_size_mb    | -
"""


def _table(text: str) -> dict[str, Metric]:
    rows = [[cell.strip() for cell in line.split("|")] for line in text.strip().splitlines()]
    return {name: Metric(name, HIGHER if better == "higher" else LOWER, UNITS[unit.rstrip(" +")],
                         unit.endswith("+"), label, None if budget == "-" else budget, None if limit == "-" else limit)
            for name, better, unit, label, budget, limit in rows}


METRICS = _table(TABLE)
BUDGETS = {m.budget: m for m in METRICS.values() if m.budget}


def family(name: str) -> str:
    """``snr_db[out]`` -> ``snr_db``; a custom metric (``module:function``) -> ``metric``."""
    base = name.split("[", 1)[0]
    return base if base in METRICS else "metric"


def definition(name: str) -> Metric:
    return METRICS[family(name)]


def budgeted(budget: str) -> tuple[Metric, str]:
    """The metric a budget holds (``min_snr_db[out].worst`` -> snr_db) and how: ``drop`` (a ``*_drop`` budget
    caps the loss against the reference), else ``min`` for a higher-is-better figure and ``max`` for a lower."""
    base = budget.split("[", 1)[0]
    metric = BUDGETS[base]
    return metric, "drop" if base.endswith("_drop") else "min" if metric.direction == HIGHER else "max"


def is_drop(budget: str) -> bool:
    """A ``*_drop`` budget, held against the reference's own figure (a report may name budgets this table lacks)."""
    return budget.split("[", 1)[0] in BUDGETS and budgeted(budget)[1] == "drop"


def meets(budget: str, value: float, limit: float) -> bool:
    """Whether ``value`` meets the budget's ``limit``: at most it for a drop or a ``max``, at least for a ``min``."""
    return value >= limit - TOLERANCE if budgeted(budget)[1] == "min" else value <= limit + TOLERANCE


def shortfall(budget: str, value: float, limit: float) -> str:
    """How far off a failed budget is, in its metric's unit, for report.md and the terminal."""
    if budget.split("[", 1)[0] not in BUDGETS:  # a budget of a newer edgeconv, read from its report.json
        return f"{value:g}, limit {limit:g}"
    metric, how = budgeted(budget)
    unit, who = metric.unit, "the worst example's " if budget.endswith(".worst") else ""
    if how == "drop":  # the value is itself a size in the unit: the distance needs no second word
        return f"{who}{metric.label} dropped {unit.size(value)}, {unit.number(value - limit)} over the limit"
    if how == "min":
        return f"{who}{metric.label} {unit.value(value)}, {unit.size(limit - value)} under the limit"
    return f"{who}{metric.label} {unit.value(value)}, {unit.size(value - limit)} over the limit"
