"""Latency between two builds, only where the two timings can be compared.

Raw timings from different machines (their fingerprints in each row's ``timing.machine``) are not compared:
`compare --repeat N` times both here instead. Two builds timed minutes apart on one machine carry its drift
between them (another job, a busier neighbour), which no interval from either build's own samples contains:
rebuilt with nothing changed on a loaded 2-core machine, a sub-millisecond model's rows read as 10 % slower about
one time in four. Each build's speed-ups over its own fp32 reference, timed in the same interleaved rounds, carry
no drift; so when the two builds' references are the same file (the same model), or a build was timed while
other processes loaded the machine (report.json's ``timing.loaded``), the artifacts are compared by those
speed-ups and the reference row's own change is said to be drift, not compared. A changed model (another
reference file) is compared by its raw timings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.compare.change import MIN_TIMINGS, NOT_COMPARED, OK, REGRESSION, MetricChange
from edgeconv.compare.metrics import Thresholds, regressed
from edgeconv.compare.stats import bootstrap_median_ratio

NAME = "latency_p50"


def latency_change(b: dict[str, Any], c: dict[str, Any], t: Thresholds, baseline: dict[str, Any],
                   candidate: dict[str, Any]) -> MetricChange:
    limit = t.limit(NAME)
    remeasured = bool(b.get("remeasured") and c.get("remeasured"))
    machines = [(e.get("timing") or {}).get("machine") for e in (b, c)]
    if not remeasured and all(machines) and machines[0] != machines[1]:
        return MetricChange(NAME, NOT_COMPARED, threshold=limit, note=(
            f"timed on different machines (baseline: {_machine(machines[0])}; candidate: {_machine(machines[1])}): "
            "not compared; re-measure both here with --repeat N"))
    loaded = [side for side, report in (("baseline", baseline), ("candidate", candidate))
              if (report.get("timing") or {}).get("loaded")]
    timed_beside = all(e.get("speedup_vs_reference") is not None for e in (b, c))  # not in an older report
    if not remeasured and (loaded or (timed_beside and same_reference(baseline, candidate))):
        return _relative(b, c, limit, loaded)
    tb, tc = b.get("timings_ms") or [], c.get("timings_ms") or []
    if len(tb) < MIN_TIMINGS or len(tc) < MIN_TIMINGS:
        return MetricChange(NAME, NOT_COMPARED, threshold=limit,
                            note=f"needs at least {MIN_TIMINGS} raw timings per side (timings_ms)")
    ci = bootstrap_median_ratio(np.asarray(tb), np.asarray(tc), t.resamples, t.confidence, t.seed)
    low, high = ci.low - 1, ci.high - 1
    status = REGRESSION if regressed(NAME, low, high, limit) else OK
    return MetricChange(NAME, status, float(np.median(tb)), float(np.median(tc)), ci.estimate - 1, low, high, limit,
                        ci.method)


def same_reference(baseline: dict[str, Any], candidate: dict[str, Any]) -> bool:
    """Whether both builds timed the same fp32 reference file (so its change between them is the machine's)."""
    shas = [(report.get("reference") or {}).get("sha256") for report in (baseline, candidate)]
    return shas[0] is not None and shas[0] == shas[1]


def _relative(b: dict[str, Any], c: dict[str, Any], limit: float | None, loaded: list[str]) -> MetricChange:
    """The change in time relative to each build's own reference: baseline speed-up / candidate speed-up - 1, its
    interval the widest the two speed-up intervals allow (conservative)."""
    were = "builds were" if len(loaded) > 1 else "build was"
    why = (f"the {' and '.join(loaded)} {were} timed while other processes loaded the machine" if loaded else
           "both builds timed the same fp32 reference file, so its change between them is the machine's drift")
    sb, sc = b.get("speedup_vs_reference"), c.get("speedup_vs_reference")
    if b.get("target") == "reference" or sb is None or sc is None:
        return MetricChange(NAME, NOT_COMPARED, threshold=limit, note=(
            f"{why}: absolute times are not comparable (the artifacts are compared by their speed-up over their own "
            "fp32 reference); re-measure both here with --repeat N"))
    (b_low, b_high), (c_low, c_high) = (e.get("speedup_interval") or (s, s) for e, s in ((b, sb), (c, sc)))
    low, high = b_low / c_high - 1, b_high / c_low - 1
    p50 = [(e.get("latency_ms") or {}).get("p50") for e in (b, c)]
    status = REGRESSION if regressed(NAME, low, high, limit) else OK
    return MetricChange(NAME, status, p50[0], p50[1], sb / sc - 1, low, high, limit,
                        "relative to each build's fp32 reference (speed-ups from the interleaved rounds), interval "
                        f"from both speed-up intervals (conservative): {why}")


def _machine(facts: dict[str, Any]) -> str:
    return f"{facts.get('cpu', '?')}, {facts.get('physical_cores', '?')} cores"
