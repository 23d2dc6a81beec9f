"""Accuracy-aware int8: return the most sensitive nodes to float until the accuracy budgets hold.

Trial 0 quantizes everything the recipe covers. If it misses ``budgets.accuracy_drop`` or
``budgets.min_agreement`` on the labelled evaluation set, the quantized nodes are ranked by the
error each adds (``sensitivity.rank_nodes``) and the top k are kept in float, k = 1, 2, 4, …
until a trial passes; the remaining trials bisect between the last failing and the first passing
k for the smallest float set. The number of trials is bounded (``quantize.fallback.max_trials``).
The kept artifact is the passing trial with the fewest float nodes, else the most accurate one.
The search (``search_fallback``) is runtime-agnostic: the TFLite backend runs it over module groups.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from edgeconv.compress.quantize import QuantRecord
from edgeconv.compress.sensitivity import rank_nodes
from edgeconv.data.feeds import FeedSet
from edgeconv.spec import Budgets, FallbackSpec
from edgeconv.verify.timing import ort_session, time_interleaved

if TYPE_CHECKING:
    from edgeconv.backends.protocol import BuildContext

Quantize = Callable[[Path, list[str]], QuantRecord]  # (destination, nodes kept in float) -> record
R = TypeVar("R")


@dataclass
class Trial:
    float_nodes: list[str]
    accuracy: float
    agreement: float
    p50_ms: float
    passed: bool


@dataclass
class Judge:
    """Scores a candidate model against the reference on the evaluation set, in this process."""

    evaluation: FeedSet
    reference_outputs: np.ndarray
    reference_score: float
    metric: Callable[[np.ndarray, np.ndarray], float]
    budgets: Budgets
    threads: int

    def __call__(self, model: Path) -> tuple[float, float, float]:
        """(score, top-1 agreement with the reference, p50 ms) of one candidate."""
        outputs, p50 = self.run(model)
        labels = self.evaluation.labels  # unlabelled: judged on agreement alone (accuracy_drop needs labels)
        score = self.metric(outputs, labels) if labels is not None else float("nan")
        agreement = float(np.mean(outputs.argmax(-1) == self.reference_outputs.argmax(-1)))
        return score, agreement, p50

    def run(self, model: Path) -> tuple[np.ndarray, float]:
        """The candidate's outputs on the evaluation set and its p50: here in ONNX Runtime."""
        session = ort_session(model, self.threads)
        outputs = np.concatenate([session.run(None, b)[0] for b in self.evaluation.batches(1)])
        example = self.evaluation.example(0)
        p50 = time_interleaved({model: lambda: session.run(None, example)}, rounds=1, runs=30, warmup=10)[model]
        return outputs, p50

    def passes(self, score: float, agreement: float) -> bool:
        drop_ok = self.budgets.accuracy_drop is None or self.reference_score - score <= self.budgets.accuracy_drop
        agree_ok = self.budgets.min_agreement is None or agreement >= self.budgets.min_agreement
        return drop_ok and agree_ok


def budget_judge(ctx: BuildContext, threads: int, cls: type[Judge] = Judge, **extra: Any) -> Judge | None:
    """A judge (``cls``) of candidates against the spec's accuracy budgets; None when the spec sets none."""
    from edgeconv.verify.metrics import classification_metrics

    budgets = ctx.spec.budgets
    if budgets.accuracy_drop is None and budgets.min_agreement is None:
        return None
    metric = ctx.spec.evaluation.metric

    def score(outputs: Any, truth: Any) -> float:
        return classification_metrics(outputs, truth, [])[metric]

    labels = ctx.evaluation.labels
    reference_score = score(ctx.reference_outputs, labels) if labels is not None else float("nan")
    return cls(ctx.evaluation, ctx.reference_outputs, reference_score, score, budgets, threads, **extra)


def quantize_with_fallback(
    quantize: Quantize, float_graph: Path, dst: Path, judge: Judge, sensitivity_feeds: FeedSet,
    settings: FallbackSpec, nodes: list[str],
) -> QuantRecord:
    """Write the chosen ONNX artifact to ``dst``; its record carries every trial and the ranking used."""

    def rank(first_trial: Path) -> list[Any]:
        return rank_nodes(float_graph, first_trial, nodes, sensitivity_feeds)

    record, fallback = search_fallback(quantize, dst, judge, settings, rank if nodes else None)
    record.fallback = fallback
    return record


def search_fallback(
    quantize: Callable[[Path, list[str]], R], dst: Path, judge: Judge,
    settings: FallbackSpec, rank: Callable[[Path], list[Any]] | None,
) -> tuple[R, dict[str, Any]]:
    """The search, for any runtime: ``quantize(path, float_units)`` writes a candidate; ``judge(path)``
    scores it (a ``Judge``: ORT's here, LiteRT's in backends/tflite_fallback.py); ``rank(first_candidate)``
    orders the units most sensitive first (dataclasses with a ``name``). The chosen candidate is moved
    to ``dst``; returns its record and the
    ``fallback`` entry for report.json."""
    work = dst.parent / ".trials"
    work.mkdir(exist_ok=True)
    trials: list[tuple[Trial, Path, R]] = []

    def attempt(float_units: list[str]) -> Trial:
        path = work / f"trial{len(trials)}{dst.suffix}"
        record = quantize(path, float_units)
        score, agreement, p50 = judge(path)
        trial = Trial(float_units, score, agreement, p50, judge.passes(score, agreement))
        trials.append((trial, path, record))
        return trial

    ranking: list[dict[str, Any]] = []
    first = attempt([])
    if not first.passed and settings.enabled and settings.max_trials > 1 and rank is not None:
        ranked = rank(trials[0][1])
        ranking = [asdict(r) for r in ranked[:20]]
        _search([r.name for r in ranked], attempt, settings.max_trials - 1)
    passing = [t for t in trials if t[0].passed]
    best = (min(passing, key=lambda t: len(t[0].float_nodes)) if passing
            else max(trials, key=lambda t: (_or_low(t[0].accuracy), t[0].agreement)))
    trial, path, record = best
    shutil.move(str(path), str(dst))
    shutil.rmtree(work, ignore_errors=True)
    return record, {
        "trials": [asdict(t[0]) for t in trials], "chosen_trial": trials.index(best),
        "met_budgets": trial.passed, "sensitivity_top": ranking,
    }


def _or_low(value: float) -> float:
    """NaN (accuracy not measured) ranks below every measured value."""
    return float("-inf") if value != value else value


def _search(order: list[str], attempt: Callable[[list[str]], Trial], budget: int) -> None:
    """Doubling k until a trial passes, then bisection for the smallest passing k, within ``budget``."""
    low, k, high = 0, 1, None  # low: largest k known to fail; high: smallest k known to pass
    while budget > 0 and high is None and low < len(order):
        k = min(k, len(order))
        budget -= 1
        if attempt(order[:k]).passed:
            high = k
        else:
            low, k = k, k * 2
    while budget > 0 and high is not None and high - low > 1:
        mid = (low + high) // 2
        budget -= 1
        if attempt(order[:mid]).passed:
            high = mid
        else:
            low = mid
