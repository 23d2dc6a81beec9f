"""Compare a candidate build with a baseline, artifact by artifact, knowing about noise.

A metric regresses only when its whole confidence interval lies beyond the threshold: a noisy
runner widens the interval and cannot fail a pull request on its own.

Thresholds (all optional, see ``Thresholds``):
- ``max_accuracy_drop``: a fraction of evaluation examples (0.01 = one percentage point).
  Regression when the upper end of the CI of (candidate - baseline) accuracy is below -max_accuracy_drop.
- ``max_agreement_drop``: the same for top-1 agreement with each build's fp32 reference.
- ``max_latency_increase``: a fraction (0.10 = 10 % slower). Regression when the lower end of the CI of
  candidate p50 / baseline p50 is above 1 + max_latency_increase.
- ``max_size_increase``: a fraction; size is exact, so no interval. Not gated when None.

A build whose evaluation.metric is not accuracy (macro_f1, or a custom ``module:function``) adds a row
named after the metric: both builds' values and the change, not gated (report.json holds no per-example
values to put an interval on it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgeconv.compare.load import Key, PerExample, Side, entries
from edgeconv.compare.stats import Interval, bootstrap_median_ratio, newcombe_diff, paired_bootstrap_mean_diff
from edgeconv.errors import SpecError

OK, REGRESSION, NOT_COMPARED = "ok", "regression", "not compared"
MIN_TIMINGS = 5


@dataclass
class Thresholds:
    max_accuracy_drop: float = 0.01
    max_agreement_drop: float | None = None  # None: same as max_accuracy_drop
    max_latency_increase: float = 0.10
    max_size_increase: float | None = None
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0

    @classmethod
    def from_budgets(cls, budgets: Any, **overrides: Any) -> Thresholds:
        """Defaults from a spec's ``budgets`` (accuracy_drop, optional max_latency_increase); flags win."""
        found: dict[str, Any] = {}
        if getattr(budgets, "accuracy_drop", None) is not None:
            found["max_accuracy_drop"] = budgets.accuracy_drop
        if getattr(budgets, "max_latency_increase", None) is not None:
            found["max_latency_increase"] = budgets.max_latency_increase
        found.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**found)


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


@dataclass
class ArtifactComparison:
    target: str
    precision: str
    metrics: list[MetricChange]

    @property
    def label(self) -> str:
        return f"{self.target}/{self.precision}"

    @property
    def regressions(self) -> list[MetricChange]:
        return [m for m in self.metrics if m.status == REGRESSION]


@dataclass
class Comparison:
    baseline: str
    candidate: str
    thresholds: Thresholds
    artifacts: list[ArtifactComparison]
    only_in_baseline: list[str] = field(default_factory=list)
    only_in_candidate: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    determinism: dict[str, Any] | None = None

    @property
    def regressions(self) -> list[tuple[ArtifactComparison, MetricChange]]:
        return [(a, m) for a in self.artifacts for m in a.regressions]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline, "candidate": self.candidate, "regressed": self.regressed,
            "regressions": [f"{a.label}: {m.metric}" for a, m in self.regressions],
            "thresholds": asdict(self.thresholds),
            "artifacts": [{"target": a.target, "precision": a.precision, "label": a.label,
                           "metrics": [asdict(m) for m in a.metrics]} for a in self.artifacts],
            "only_in_baseline": self.only_in_baseline, "only_in_candidate": self.only_in_candidate,
            "notes": self.notes, "determinism": self.determinism,
        }


def compare_sides(baseline: Side, candidate: Side, thresholds: Thresholds | None = None) -> Comparison:
    result = compare_reports(baseline.report, candidate.report, thresholds, baseline.examples, candidate.examples)
    result.baseline, result.candidate = baseline.source, candidate.source
    result.notes = baseline.notes + candidate.notes + result.notes
    return result


def compare_reports(
    baseline: dict[str, Any], candidate: dict[str, Any], thresholds: Thresholds | None = None,
    baseline_examples: dict[Key, PerExample] | None = None, candidate_examples: dict[Key, PerExample] | None = None,
) -> Comparison:
    """Match artifacts by (target, precision) and compare each metric; raises SpecError if none match."""
    t = thresholds or Thresholds()
    base, cand = entries(baseline), entries(candidate)
    common = [k for k in cand if k in base]
    if not common:
        raise SpecError("the two reports have no artifact (target, precision) in common",
                        fix="compare builds of the same targets and precisions")
    n_base, n_cand = _examples(baseline), _examples(candidate)
    metrics = _task_metrics(baseline, candidate)
    compared = []
    for key in common:
        paired = _pairing(key, baseline_examples or {}, candidate_examples or {})
        changes = _compare_entry(base[key], cand[key], t, paired, n_base, n_cand)
        changes[1:1] = [_task_metric(metrics, base[key], cand[key])] if metrics else []
        compared.append(ArtifactComparison(key[0], key[1], changes))
    return Comparison(
        "baseline", "candidate", t, compared,
        only_in_baseline=[f"{k[0]}/{k[1]}" for k in base if k not in cand],
        only_in_candidate=[f"{k[0]}/{k[1]}" for k in cand if k not in base],
    )


def _task_metrics(baseline: dict[str, Any], candidate: dict[str, Any]) -> tuple[str, str] | None:
    """Each build's evaluation.metric, when either is not accuracy (which has its own row)."""
    def metric(report: dict[str, Any]) -> str:
        return (report.get("evaluation") or {}).get("metric") or "accuracy"

    found = (metric(baseline), metric(candidate))
    return None if found == ("accuracy", "accuracy") else found


def _task_metric(metrics: tuple[str, str], b: dict, c: dict) -> MetricChange:
    """The evaluation metric's values and change (candidate - baseline), higher is better; not gated."""
    name = metrics[1]
    if metrics[0] != metrics[1]:
        return MetricChange(name, NOT_COMPARED, note=f"the baseline measured {metrics[0]}, the candidate {name}")
    pb, pc = b.get("metric_value"), c.get("metric_value")
    missing = [side for side, value in (("baseline", pb), ("candidate", pc)) if value is None]
    if missing:
        return MetricChange(name, NOT_COMPARED, pb, pc, note=f"{name} not measured in the {' and '.join(missing)} "
                                                             "build")
    return MetricChange(name, OK, pb, pc, pc - pb, method="exact",
                        note="the evaluation metric: values and change, not gated (no per-example values)")


def _examples(report: dict[str, Any]) -> int | None:
    value = (report.get("evaluation") or {}).get("examples")
    return int(value) if value else None


def _pairing(key: Key, base: dict[Key, PerExample], cand: dict[Key, PerExample]) -> tuple | str:
    """(baseline, candidate) per-example facts, or why a paired interval cannot be used."""
    if key not in base or key not in cand:
        return "per-example outputs not available for both builds"
    b, c = base[key], cand[key]
    if b.labels.shape != c.labels.shape or not np.array_equal(b.labels, c.labels):
        return "the two builds used different evaluation sets"
    return b, c


def _compare_entry(b: dict, c: dict, t: Thresholds, paired: tuple | str, n_b: int | None,
                   n_c: int | None) -> list[MetricChange]:
    unusable = [f"{side} {e.get('status')}: {e.get('reason') or 'no measurement'}"
                for side, e in (("baseline", b), ("candidate", c))
                if e.get("status") in ("skipped", "error") or e.get("latency_ms") is None]
    if unusable:
        note = "; ".join(unusable)
        return [MetricChange(m, NOT_COMPARED, note=note) for m in ("accuracy", "agreement", "latency_p50")] + [
            _size(b, c, t)]
    agreement_drop = t.max_agreement_drop if t.max_agreement_drop is not None else t.max_accuracy_drop
    return [
        _measured("accuracy", b, c) or _proportion("accuracy", b, c, t, t.max_accuracy_drop, paired, n_b, n_c),
        _measured("agreement", b, c) or _proportion("agreement", b, c, t, agreement_drop, paired, n_b, n_c),
        _latency(b, c, t),
        _size(b, c, t),
    ]


def _measured(metric: str, b: dict, c: dict) -> MetricChange | None:
    """NOT_COMPARED when either side did not measure ``metric`` (an unlabelled set, a model without classes:
    latency and size are still compared); None when both did."""
    missing = [side for side, e in (("baseline", b), ("candidate", c)) if e.get(metric) is None]
    if not missing:
        return None
    return MetricChange(metric, NOT_COMPARED, note=f"{metric} not measured in the {' and '.join(missing)} build "
                                                    "(no labels, or a model without classes)")


def _proportion(metric: str, b: dict, c: dict, t: Thresholds, max_drop: float, paired: tuple | str,
                n_b: int | None, n_c: int | None) -> MetricChange:
    pb, pc = float(b[metric]), float(c[metric])
    if isinstance(paired, tuple):
        field_ = "correct" if metric == "accuracy" else "agrees"
        ci = paired_bootstrap_mean_diff(getattr(paired[0], field_), getattr(paired[1], field_),
                                        t.resamples, t.confidence, t.seed)
        note = ""
    elif n_b and n_c:
        ci = newcombe_diff(pb, n_b, pc, n_c, t.confidence)
        note = paired
    else:
        return MetricChange(metric, NOT_COMPARED, pb, pc, pc - pb, threshold=max_drop,
                            note="no per-example outputs and no evaluation.examples in the reports")
    regressed = ci.high < -max_drop
    return _change(metric, REGRESSION if regressed else OK, pb, pc, ci, max_drop, note)


def _latency(b: dict, c: dict, t: Thresholds) -> MetricChange:
    tb, tc = b.get("timings_ms") or [], c.get("timings_ms") or []
    if len(tb) < MIN_TIMINGS or len(tc) < MIN_TIMINGS:
        return MetricChange("latency_p50", NOT_COMPARED, threshold=t.max_latency_increase,
                            note=f"needs at least {MIN_TIMINGS} raw timings per side (timings_ms)")
    ci = bootstrap_median_ratio(np.asarray(tb), np.asarray(tc), t.resamples, t.confidence, t.seed)
    regressed = ci.low > 1 + t.max_latency_increase
    shifted = Interval(ci.estimate - 1, ci.low - 1, ci.high - 1, ci.method)
    return _change("latency_p50", REGRESSION if regressed else OK, float(np.median(tb)), float(np.median(tc)),
                   shifted, t.max_latency_increase, "")


def _size(b: dict, c: dict, t: Thresholds) -> MetricChange:
    sb, sc = b.get("size_bytes"), c.get("size_bytes")
    if not sb or sc is None:
        return MetricChange("size_bytes", NOT_COMPARED, sb, sc, note="size not recorded")
    change = (sc - sb) / sb
    limit = t.max_size_increase
    status = REGRESSION if limit is not None and change > limit else OK
    return MetricChange("size_bytes", status, sb, sc, change, change, change, limit, "exact")


def _change(metric: str, status: str, base: float, cand: float, ci: Interval, threshold: float,
            note: str) -> MetricChange:
    return MetricChange(metric, status, base, cand, ci.estimate, ci.low, ci.high, threshold, ci.method, note)
