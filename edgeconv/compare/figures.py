"""The figures report.json holds only as totals, compared with intervals from per-example evidence: the task's
(mAP, mIoU, macro-F1, a custom metric) and each output's fidelity (cosine, SNR, share within tolerance, max abs
error).

Paired bootstrap when both build folders hold the same evaluation feeds, unpaired when their feeds differ, and
"not compared, because ..." (with both values and the plain change) when a side has no per-example evidence.
Resamples that cost milliseconds each (a COCO evaluation, the user's own code) are capped at COSTLY_RESAMPLES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeconv.compare.change import NOT_COMPARED, OK, REGRESSION, MetricChange
from edgeconv.compare.evidence import SNR_CEILING_DB, Evidence, Figures
from edgeconv.compare.load import Key
from edgeconv.compare.metrics import DETECTION, SEGMENTATION, Thresholds, regressed
from edgeconv.compare.stats import Interval, bootstrap_change

COSTLY_RESAMPLES = 300


@dataclass
class RowPair:
    """A baseline row and a candidate row (the same artifact, or each build's chosen one), with both builds'
    evidence."""

    bkey: Key
    ckey: Key
    b: dict[str, Any]
    c: dict[str, Any]
    t: Thresholds
    evidence: tuple[Evidence, Evidence]
    same_eval: bool


Source = Callable[[Evidence, Key], "Figures | str"]


def task_metric(metrics: tuple[str, str], rows: RowPair) -> MetricChange:
    """The evaluation metric when it is not accuracy: macro-F1, or the user's ``module:function``."""
    name = metrics[1]
    if metrics[0] != metrics[1]:
        return MetricChange(name, NOT_COMPARED, note=f"the baseline measured {metrics[0]}, the candidate {name}")
    return gated(rows, [name], {name: rows.b.get("metric_value")}, {name: rows.c.get("metric_value")},
                 lambda e, key: e.task_metric(key, name))[0]


def dense_figures(rows: RowPair) -> list[MetricChange]:
    """mAP (against the fp32 boxes, and the labels) or mIoU (against the fp32 pixels, and the masks)."""
    for task, names, source in (("detection", DETECTION, Evidence.detection),
                                ("segmentation", SEGMENTATION, Evidence.segmentation)):
        fb, fc = rows.b.get(task) or {}, rows.c.get(task) or {}
        if fb or fc:
            shown = [n for n in names if n in fb or n in fc]
            return gated(rows, shown, fb, fc, source, missing=_labels_missing)
    return []


def fidelity_figures(rows: RowPair) -> list[MetricChange]:
    """Per output: cosine, SNR and share within tolerance (intervals), max abs error (exact, gated only by
    --limit)."""
    found: list[MetricChange] = []
    ob, oc = rows.b.get("outputs") or {}, rows.c.get("outputs") or {}
    for output in dict.fromkeys([*ob, *oc]):
        fb, fc = ob.get(output) or {}, oc.get(output) or {}
        names = {f"cosine[{output}]": "cosine", f"snr_db[{output}]": "snr_db",
                 f"within_tolerance[{output}]": "within_tolerance"}
        vb, vc = ({n: _fidelity_value(f, k) for n, k in names.items()} for f in (fb, fc))
        atol, rtol = fc.get("atol", fb.get("atol", 1e-3)), fc.get("rtol", fb.get("rtol", 1e-3))
        found += gated(rows, list(names), vb, vc, lambda e, key, o=output, a=atol, r=rtol: e.fidelity(key, o, a, r))
        found.append(_exact(f"max_abs_error[{output}]", fb.get("max_abs_error"), fc.get("max_abs_error"), rows.t))
    return found


def _fidelity_value(figures: dict[str, Any], key: str) -> float | None:
    """A report's fidelity figure; SNR capped at SNR_CEILING_DB (an exact output's SNR is null in report.json)."""
    if key == "snr_db":
        if figures.get("exact"):
            return SNR_CEILING_DB
        value = figures.get(key)
        return None if value is None else min(float(value), SNR_CEILING_DB)
    return figures.get(key)


def _labels_missing(name: str, side: str) -> str:
    if name in ("map50_95", "map50", "miou"):
        return f"{name} is scored against labels and the {side} build had none (evaluation labels or masks not set)"
    return f"{name} not measured in the {side} build"


def gated(rows: RowPair, names: list[str], vb: dict[str, Any], vc: dict[str, Any], source: Source,
          missing: Callable[[str, str], str] = lambda name, side: f"{name} not measured in the {side} build",
          ) -> list[MetricChange]:
    """``names`` compared: the report's values, and intervals from both builds' per-example figures."""
    t, found = rows.t, []
    measured = [n for n in names if vb.get(n) is not None and vc.get(n) is not None]
    figures = (source(rows.evidence[0], rows.bkey), source(rows.evidence[1], rows.ckey)) if measured else None
    intervals = _intervals(figures, rows) if figures else {}
    for name in names:
        pb, pc, limit = vb.get(name), vc.get(name), t.limit(name)
        if name not in measured:
            sides = [s for s, v in (("baseline", pb), ("candidate", pc)) if v is None]
            found.append(MetricChange(name, NOT_COMPARED, pb, pc, threshold=limit,
                                      note="; ".join(missing(name, s) for s in sides)))
            continue
        ci = intervals if isinstance(intervals, str) else intervals.get(name)
        if not isinstance(ci, Interval):
            found.append(MetricChange(name, NOT_COMPARED, pb, pc, pc - pb, threshold=limit,
                                      note=f"not compared, because {ci or 'no per-example values'}"))
            continue
        status = REGRESSION if regressed(name, ci.low, ci.high, limit) else OK
        found.append(MetricChange(name, status, pb, pc, ci.estimate, ci.low, ci.high, limit, ci.method))
    return found


def _intervals(figures: tuple[Figures | str, Figures | str], rows: RowPair) -> dict[str, Interval | str] | str:
    """Each figure's interval or why it has none; one reason for all when a side has no per-example figures."""
    fb, fc = figures
    if isinstance(fb, str) or isinstance(fc, str):
        return "; ".join(f"{side}: {f}" for side, f in (("baseline", fb), ("candidate", fc)) if isinstance(f, str))
    shared = [n for n in fc.names if n in fb.names]
    why_not = {n: f"the {'baseline' if n not in fb.names else 'candidate'} build folder keeps no labelled ground "
                  "truth for it (data/eval-targets.npz)" for n in {*fb.names, *fc.names} - set(shared)}
    paired = rows.same_eval and fb.n == fc.n
    if paired and fb.digest == fc.digest:
        return {n: Interval(0.0, 0.0, 0.0, "identical evidence in both builds (same outputs, same examples): no "
                                            "change") for n in shared} | why_not
    t = rows.t
    resamples = min(t.resamples, COSTLY_RESAMPLES) if fb.costly or fc.costly else t.resamples
    index_b, index_c = [fb.names.index(n) for n in shared], [fc.names.index(n) for n in shared]
    found = bootstrap_change(lambda idx: fb.statistic(idx)[index_b], fb.n, lambda idx: fc.statistic(idx)[index_c],
                             fc.n, paired, resamples, t.confidence, t.seed)
    how = f"; {fc.how}" if fc.how else ""
    return {n: Interval(ci.estimate, ci.low, ci.high, ci.method + how) for n, ci in zip(shared, found, strict=True)} \
        | why_not


def _exact(name: str, pb: float | None, pc: float | None, t: Thresholds) -> MetricChange:
    """A figure with no interval (a maximum): the plain change, gated only when a limit is set."""
    limit = t.limit(name)
    if pb is None or pc is None:
        return MetricChange(name, NOT_COMPARED, pb, pc, threshold=limit, note=f"{name} not recorded")
    change = pc - pb
    status = REGRESSION if regressed(name, change, change, limit) else OK
    return MetricChange(name, status, pb, pc, change, change, change, limit, "exact (a maximum: no interval)")
