"""Compare a candidate build with a baseline, artifact by artifact, knowing about noise.

A metric regresses only when its whole confidence interval lies beyond its limit (compare/metrics.py, by
edgeconv.metric_table's direction, unit and limit of every metric): a noisy runner widens the interval and cannot
fail a pull request on its own. Accuracy and agreement get a paired bootstrap over examples (or Newcombe's
interval from report.json alone); the task figures and per-output fidelity report.json holds only as totals (mAP,
mIoU, SNR, a custom metric) are recomputed per example from the build folders (compare/figures.py); latency
compares raw timings, or each build's speed-up over its own reference when a build was timed on a loaded machine;
size is exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeconv.compare.change import NOT_COMPARED, OK, REGRESSION, MetricChange
from edgeconv.compare.load import Key, PerExample, Side, entries
from edgeconv.compare.metrics import Thresholds, limit_text, regressed
from edgeconv.compare.stats import newcombe_diff, paired_bootstrap_mean_diff
from edgeconv.errors import SpecError

if TYPE_CHECKING:
    from edgeconv.compare.evidence import Evidence, Metric

@dataclass
class ArtifactComparison:
    target: str
    precision: str
    metrics: list[MetricChange]
    name: str | None = None  # a chosen artifact's comparison: "chosen <selection>: <baseline's> -> <candidate's>"

    @property
    def label(self) -> str:
        return self.name or f"{self.target}/{self.precision}"

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
    chosen: list[dict[str, Any]] = field(default_factory=list)  # each selection's pick in both builds

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
            "chosen": self.chosen, "notes": self.notes, "determinism": self.determinism,
        }


def compare_sides(baseline: Side, candidate: Side, thresholds: Thresholds | None = None,
                  metric: Metric | None = None) -> Comparison:
    """Two loaded builds compared; ``metric``: the custom evaluation.metric's function, to recompute it per example
    (it is user code: only a spec with trust_code gives it)."""
    from edgeconv.compare.evidence import Evidence

    evidence = (Evidence(baseline, metric), Evidence(candidate, metric))
    result = compare_reports(baseline.report, candidate.report, thresholds, baseline.examples, candidate.examples,
                             evidence)
    result.baseline, result.candidate = baseline.source, candidate.source
    result.notes = baseline.notes + candidate.notes + result.notes
    return result


def compare_reports(
    baseline: dict[str, Any], candidate: dict[str, Any], thresholds: Thresholds | None = None,
    baseline_examples: dict[Key, PerExample] | None = None, candidate_examples: dict[Key, PerExample] | None = None,
    evidence: tuple[Evidence, Evidence] | None = None,
) -> Comparison:
    """Match artifacts by (target, precision) and compare each metric, then each selection's chosen artifacts;
    raises SpecError if no artifact matches."""
    from edgeconv.compare.chosen import chosen_pairs
    from edgeconv.compare.evidence import Evidence

    t = thresholds or Thresholds()
    base, cand = entries(baseline), entries(candidate)
    common = [k for k in cand if k in base]
    if not common:
        raise SpecError("the two reports have no artifact (target, precision) in common",
                        fix="compare builds of the same targets and precisions")
    if evidence is None:
        evidence = (Evidence(Side("baseline", baseline)), Evidence(Side("candidate", candidate)))
    digests = (evidence[0].eval_digest(), evidence[1].eval_digest())
    context = Context(baseline, candidate, t, baseline_examples or {}, candidate_examples or {}, evidence,
                      digests[0] is not None and digests[0] == digests[1])
    compared = [ArtifactComparison(key[0], key[1], context.compare(key, key)) for key in common]
    result = Comparison(
        "baseline", "candidate", t, compared,
        only_in_baseline=[f"{k[0]}/{k[1]}" for k in base if k not in cand],
        only_in_candidate=[f"{k[0]}/{k[1]}" for k in cand if k not in base],
    )
    for pick in chosen_pairs(baseline, candidate):
        result.chosen.append(pick.record())
        result.notes.append(pick.note())
        if pick.changed and pick.base_key in base and pick.cand_key in cand:
            result.artifacts.append(ArtifactComparison(pick.cand_key[0], pick.cand_key[1],
                                                       context.compare(pick.base_key, pick.cand_key), pick.label()))
    return result


@dataclass
class Context:
    """Both reports, the limits, and the per-example evidence of both builds: what comparing two rows needs."""

    baseline: dict[str, Any]
    candidate: dict[str, Any]
    t: Thresholds
    base_examples: dict[Key, PerExample]
    cand_examples: dict[Key, PerExample]
    evidence: tuple[Evidence, Evidence]
    same_eval: bool  # both builds' data/eval.npz hold the same bytes: per-example figures pair up

    def compare(self, bkey: Key, ckey: Key) -> list[MetricChange]:
        """Every metric of the baseline's row ``bkey`` against the candidate's row ``ckey``."""
        from edgeconv.compare.figures import RowPair, dense_figures, fidelity_figures, task_metric
        from edgeconv.compare.latency import latency_change

        b, c, t = entries(self.baseline)[bkey], entries(self.candidate)[ckey], self.t
        unusable = [f"{side} {e.get('status')}: {e.get('reason') or 'no measurement'}"
                    for side, e in (("baseline", b), ("candidate", c))
                    if e.get("status") in ("skipped", "error") or e.get("latency_ms") is None]
        metrics = _task_metrics(self.baseline, self.candidate)
        if unusable:
            note = "; ".join(unusable)
            names = ["accuracy", "agreement", *([metrics[1]] if metrics else []), "latency_p50"]
            return [MetricChange(m, NOT_COMPARED, note=note) for m in names] + [_size(b, c, t)]
        paired = _pairing(bkey, ckey, self.base_examples, self.cand_examples)
        n_b, n_c = _examples(self.baseline), _examples(self.candidate)
        rows = RowPair(bkey, ckey, b, c, t, self.evidence, self.same_eval)
        return [
            _measured("accuracy", b, c) or _proportion("accuracy", b, c, t, paired, n_b, n_c),
            *([task_metric(metrics, rows)] if metrics else []),
            _measured("agreement", b, c) or _proportion("agreement", b, c, t, paired, n_b, n_c),
            *dense_figures(rows), *fidelity_figures(rows),
            latency_change(b, c, t, self.baseline, self.candidate),
            _size(b, c, t),
        ]


def _task_metrics(baseline: dict[str, Any], candidate: dict[str, Any]) -> tuple[str, str] | None:
    """Each build's evaluation.metric, when either is not accuracy (which has its own row)."""
    def metric(report: dict[str, Any]) -> str:
        return (report.get("evaluation") or {}).get("metric") or "accuracy"

    found = (metric(baseline), metric(candidate))
    return None if found == ("accuracy", "accuracy") else found


def _examples(report: dict[str, Any]) -> int | None:
    value = (report.get("evaluation") or {}).get("examples")
    return int(value) if value else None


def _pairing(bkey: Key, ckey: Key, base: dict[Key, PerExample], cand: dict[Key, PerExample]) -> tuple | str:
    """(baseline, candidate) per-example facts, or why a paired interval cannot be used."""
    if bkey not in base or ckey not in cand:
        return "per-example outputs not available for both builds"
    b, c = base[bkey], cand[ckey]
    if b.labels.shape != c.labels.shape or not np.array_equal(b.labels, c.labels):
        return "the two builds used different evaluation sets"
    return b, c


def _measured(metric: str, b: dict, c: dict) -> MetricChange | None:
    """NOT_COMPARED when either side did not measure ``metric`` (an unlabelled set, a model without classes:
    latency and size are still compared); None when both did."""
    missing = [side for side, e in (("baseline", b), ("candidate", c)) if e.get(metric) is None]
    if not missing:
        return None
    return MetricChange(metric, NOT_COMPARED, note=f"{metric} not measured in the {' and '.join(missing)} build "
                                                    "(no labels, or a model without classes)")


def _proportion(metric: str, b: dict, c: dict, t: Thresholds, paired: tuple | str, n_b: int | None,
                n_c: int | None) -> MetricChange:
    pb, pc = float(b[metric]), float(c[metric])
    max_drop = t.limit(metric)
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
    status = REGRESSION if regressed(metric, ci.low, ci.high, max_drop) else OK
    return MetricChange(metric, status, pb, pc, ci.estimate, ci.low, ci.high, max_drop, ci.method, note)


def _size(b: dict, c: dict, t: Thresholds) -> MetricChange:
    sb, sc = b.get("size_bytes"), c.get("size_bytes")
    if not sb or sc is None:
        return MetricChange("size_bytes", NOT_COMPARED, sb, sc, note="size not recorded")
    change = (sc - sb) / sb
    limit = t.limit("size_bytes")
    status = REGRESSION if regressed("size_bytes", change, change, limit) else OK
    return MetricChange("size_bytes", status, sb, sc, change, change, change, limit, "exact")


__all__ = ["NOT_COMPARED", "OK", "REGRESSION", "ArtifactComparison", "Comparison", "MetricChange", "Thresholds",
           "compare_reports", "compare_sides", "limit_text"]
