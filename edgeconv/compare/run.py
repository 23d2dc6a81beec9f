"""The gate as one library call: `edgeconv compare` and `build --baseline` are thin layers over ``compare_paths``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.compare.core import Comparison, compare_sides
from edgeconv.compare.evidence import Metric
from edgeconv.compare.load import Side, load_side
from edgeconv.compare.metrics import Thresholds


def compare_paths(baseline: Path | Side, candidate: Path | Side, thresholds: Thresholds | None = None, *,
                  repeat: int | None = None, metric: Metric | None = None) -> Comparison:
    """Compare CANDIDATE with BASELINE (report.json files or build folders, or loaded sides): every metric with
    its interval and verdict, each selection's chosen artifact, and for two build folders the determinism check.

    ``repeat``: re-measure both builds' artifacts here first, N interleaved rounds (latency from one machine).
    ``metric``: the custom evaluation.metric's function (user code: only from a spec with trust_code), to
    recompute it per example. Raises SpecError on bad input (missing file, not a report, nothing in common).
    """
    base = baseline if isinstance(baseline, Side) else load_side(Path(baseline))
    cand = candidate if isinstance(candidate, Side) else load_side(Path(candidate))
    repeat_notes: list[str] = []
    if repeat:
        from edgeconv.compare.repeat import remeasure_interleaved

        repeat_notes = remeasure_interleaved(base, cand, repeat)
    result = compare_sides(base, cand, thresholds, metric)
    result.notes += repeat_notes
    if base.build_dir is not None and cand.build_dir is not None:
        from edgeconv.compare.determinism import compare_builds

        result.determinism = compare_builds(base.build_dir, cand.build_dir).to_dict()
    return result


def spec_facts(spec: Any) -> tuple[Any, Metric | None]:
    """A loaded spec's budgets (default limits) and its custom metric's function when it trusts that code."""
    from edgeconv.verify.custom_metric import is_custom, load_metric

    evaluation = spec.evaluation
    custom = is_custom(evaluation.metric) and evaluation.trust_code
    return spec.budgets, load_metric(evaluation.metric, spec._folder) if custom else None
