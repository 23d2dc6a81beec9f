"""The gate as one library call: `edgeconv compare` is ``compare``, `build --baseline` goes through
``compare_paths``; ``exit_code`` is the command's exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.compare.core import Comparison, compare_sides
from edgeconv.compare.evidence import Metric
from edgeconv.compare.load import Side, load_side
from edgeconv.compare.metrics import Thresholds
from edgeconv.errors import ExitCode


def compare(baseline: Path, candidate: Path, *, spec: Path | None = None, limits: dict[str, float] | None = None,
            repeat: int | None = None, **flags: Any) -> Comparison:
    """`edgeconv compare BASELINE CANDIDATE` as one call: the limits from ``spec``'s budgets (an edgeconv.yaml),
    then ``flags`` (``max_accuracy_drop=``…, ``confidence=``, ``resamples=``, ``seed=``; None: not given), then
    ``limits`` by metric or family name; the spec's custom metric recomputed per example when it trusts that code."""
    budgets, metric = None, None
    if spec is not None:
        from edgeconv.spec import load_spec

        budgets, metric = spec_facts(load_spec(spec))
    thresholds = Thresholds.from_budgets(budgets, limits=dict(limits or {}), **flags)
    return compare_paths(baseline, candidate, thresholds, repeat=repeat, metric=metric)


def exit_code(comparison: Comparison) -> ExitCode:
    """1 when a regression's whole interval clears its limit, else 0 (bad input raised SpecError before: 2)."""
    return ExitCode.BUDGET_FAILED if comparison.regressed else ExitCode.OK


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
