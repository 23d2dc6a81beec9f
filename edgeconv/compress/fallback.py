"""Accuracy-aware int8: return the most sensitive nodes to float until the accuracy budgets hold.

Trial 0 quantizes everything the recipe covers. If it misses ``budgets.accuracy_drop``,
``budgets.min_agreement`` or a fidelity budget (``min_cosine``, ``min_snr_db``, ``max_mismatch``, per output)
on the evaluation set, the quantized nodes are ranked by the
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
from edgeconv.spec import DetectionSpec, FallbackSpec, SegmentationSpec
from edgeconv.spec_budgets import FIDELITY_BUDGETS, Budgets
from edgeconv.steps import Task
from edgeconv.verify.budgets import fidelity_checks, task_drop_checks, tolerances
from edgeconv.verify.fidelity import fidelity, worst
from edgeconv.verify.measure import detection_figures, output_rows
from edgeconv.verify.segmentation import segmentation_figures
from edgeconv.verify.timing import ort_session, time_interleaved
from edgeconv.verify.worker import stack_outputs

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
    fidelity: dict[str, float] | None = None  # the worst output's cosine and SNR, when fidelity budgets are set


@dataclass
class Judge:
    """Scores a candidate model against the reference on the evaluation set, in this process."""

    evaluation: FeedSet
    reference_outputs: np.ndarray
    reference_score: float
    metric: Callable[[Any, np.ndarray | None], float]  # (the candidate's outputs, labels) -> the task metric
    budgets: Budgets
    threads: int
    reference_all: dict[str, np.ndarray] | None = None  # every reference output, for per-output fidelity budgets
    detection: DetectionSpec | None = None  # task: detection: map_drop is judged on decoded boxes
    segmentation: SegmentationSpec | None = None  # task: segmentation: miou_drop is judged on per-pixel classes
    generic: bool = False  # task: generic: no classes, so no top-1 agreement

    def __call__(self, model: Path) -> tuple[float, float, float, dict[str, dict[str, Any]]]:
        """(score, top-1 agreement with the reference, p50 ms, per-output fidelity) of one candidate."""
        outputs, p50 = self.run(model)
        first = first_output(outputs)
        score = self.metric(outputs, self.evaluation.labels)
        agreement = (float(np.mean(first.argmax(-1) == self.reference_outputs.argmax(-1)))
                     if self.detection is None and self.segmentation is None and not self.generic
                     else float("nan"))  # top-1: classifiers only
        return score, agreement, p50, self.fidelity_of(outputs)

    def fidelity_of(self, outputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
        """Per-output fidelity when fidelity budgets are set (every output if the runner gave them all)."""
        figures: dict[str, dict[str, Any]] = {}
        first = first_output(outputs)
        if has_fidelity_budgets(self.budgets):  # with the tolerances verification uses (budgets.outputs.*.atol/rtol)
            if isinstance(outputs, dict) and self.reference_all is not None:
                figures = fidelity(outputs, self.reference_all, tolerances(self.budgets, self.reference_all))
            else:
                name = next(iter(self.reference_all)) if self.reference_all else "output"
                figures = fidelity({name: first}, {name: self.reference_outputs}, tolerances(self.budgets, [name]))
        named = outputs if isinstance(outputs, dict) else None
        if self.detection is not None and self.budgets.map_drop is not None:
            figures[DETECTION] = detection_figures(self.detection, named, self.reference_all, first,
                                                   self.evaluation.targets)
        if self.segmentation is not None and self.budgets.miou_drop is not None:
            output = self.segmentation.output
            figures[SEGMENTATION] = segmentation_figures(
                self.segmentation, output_rows(output, named, first),
                output_rows(output, self.reference_all, self.reference_outputs), self.evaluation.targets)
        return figures

    def run(self, model: Path) -> tuple[dict[str, np.ndarray], float]:
        """The candidate's outputs on the evaluation set (every output, by name) and its p50, in ONNX Runtime."""
        session = ort_session(model, self.threads)
        names = [o.name for o in session.get_outputs()]
        rows = [dict(zip(names, session.run(None, b), strict=True)) for b in self.evaluation.batches(1)]
        outputs, _ = stack_outputs(rows)
        example = self.evaluation.example(0)
        p50 = time_interleaved({model: lambda: session.run(None, example)}, rounds=1, runs=30, warmup=10)[model]
        return outputs, p50

    def passes(self, score: float, agreement: float, outputs: dict[str, dict[str, Any]] | None = None) -> bool:
        drop_ok = self.budgets.accuracy_drop is None or self.reference_score - score <= self.budgets.accuracy_drop
        agree_ok = self.budgets.min_agreement is None or agreement >= self.budgets.min_agreement
        named = {k: v for k, v in (outputs or {}).items() if k not in TASK_FIGURES}
        fidelity_ok = all(check.passed for name, figures in named.items()
                          for check in fidelity_checks(name, figures, self.budgets.for_output(name)))
        tasks = task_drop_checks(self.budgets, (outputs or {}).get(DETECTION), (outputs or {}).get(SEGMENTATION))
        return drop_ok and agree_ok and fidelity_ok and all(check.passed for check in tasks)


def first_output(outputs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
    """The first output of a candidate: runners give every output by name (ORT) or the first alone (LiteRT)."""
    return outputs if isinstance(outputs, np.ndarray) else next(iter(outputs.values()))


def has_fidelity_budgets(budgets: Budgets) -> bool:
    own = [budgets, *budgets.outputs.values()]
    return any(getattr(b, name) is not None for b in own for name in FIDELITY_BUDGETS)


def budget_judge(ctx: BuildContext, threads: int, cls: type[Judge] = Judge, **extra: Any) -> Judge | None:
    """A judge (``cls``) of candidates against the spec's accuracy budgets; None when the spec sets none."""
    from edgeconv.verify.custom_metric import evaluate, is_custom, load_metric
    from edgeconv.verify.metrics import classification_metrics

    budgets = ctx.spec.budgets
    if all(b is None for b in (budgets.accuracy_drop, budgets.min_agreement, budgets.map_drop, budgets.miou_drop)) \
            and not has_fidelity_budgets(budgets):
        return None
    metric = ctx.spec.evaluation.metric
    custom = load_metric(metric, ctx.spec._folder) if is_custom(metric) else None

    def score(outputs: Any, truth: Any) -> float:
        """The spec's task metric; NaN (not measured) for a built-in one without labels."""
        if custom is not None:  # a runner that gives only the first output (LiteRT's judge) is named after it
            first_name = next(iter(ctx.reference_all)) if ctx.reference_all else "output"
            named = outputs if isinstance(outputs, dict) else {first_name: outputs}
            reference = ctx.reference_all if isinstance(outputs, dict) and ctx.reference_all else {
                first_name: ctx.reference_outputs}
            return evaluate(custom, named, reference, truth, metric)
        if truth is None:
            return float("nan")
        return classification_metrics(first_output(outputs), truth, [])[metric]

    reference_score = score(ctx.reference_all or ctx.reference_outputs, ctx.evaluation.labels)
    task = ctx.spec.model.task
    detection = ctx.spec.evaluation.detection if task == "detection" else None
    segmentation = ctx.spec.evaluation.segmentation if task == "segmentation" else None
    return cls(ctx.evaluation, ctx.reference_outputs, reference_score, score, budgets, threads, ctx.reference_all,
               detection, segmentation, task == "generic", **extra)


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
    searching = settings.enabled and rank is not None
    progress = Task("quantize-and-evaluate trial", settings.max_trials if searching else 1, at_most=searching)

    def attempt(float_units: list[str]) -> Trial:
        path = work / f"trial{len(trials)}{dst.suffix}"
        record = quantize(path, float_units)
        score, agreement, p50, outputs = judge(path)
        trial = Trial(float_units, score, agreement, p50, judge.passes(score, agreement, outputs),
                      _trial_fidelity(outputs))
        trials.append((trial, path, record))
        progress.advance(_describe(trial))
        return trial

    ranking: list[dict[str, Any]] = []
    first = attempt([])
    if not first.passed and searching and settings.max_trials > 1 and rank is not None:
        ranked = rank(trials[0][1])
        ranking = [asdict(r) for r in ranked[:20]]
        _search([r.name for r in ranked], attempt, settings.max_trials - 1)
    passing = [t for t in trials if t[0].passed]
    best = (min(passing, key=lambda t: len(t[0].float_nodes)) if passing
            else max(trials, key=lambda t: (_or_low(t[0].accuracy), _map(t[0]), t[0].agreement, _snr(t[0]))))
    trial, path, record = best
    shutil.move(str(path), str(dst))
    shutil.rmtree(work, ignore_errors=True)
    return record, {
        "trials": [asdict(t[0]) for t in trials], "chosen_trial": trials.index(best),
        "met_budgets": trial.passed, "sensitivity_top": ranking,
    }


def _describe(trial: Trial) -> str:
    """A trial in one line of progress: float units, the task metric, agreement, verdict."""
    figures = [f"{len(trial.float_nodes)} kept float"]
    if trial.accuracy == trial.accuracy:
        figures.append(f"metric {trial.accuracy:.3f}")
    if trial.agreement == trial.agreement:
        figures.append(f"agreement {trial.agreement:.3f}")
    figures.extend(f"{name} {value:.3g}" for name, value in (trial.fidelity or {}).items() if name != "output")
    return ", ".join(figures) + (": meets the budgets" if trial.passed else ": misses a budget")


DETECTION = "__detection__"  # the judge's figures: decoded boxes' mAP beside the per-output fidelity
SEGMENTATION = "__segmentation__"  # and per-pixel classes' mIoU
TASK_FIGURES = (DETECTION, SEGMENTATION)


def _trial_fidelity(outputs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """What report.json keeps of a trial: the worst output's cosine and SNR, and the mAP when detecting."""
    named = {k: v for k, v in outputs.items() if k not in TASK_FIGURES}
    lowest = worst(named)
    kept: dict[str, Any] = {"output": lowest[0], "cosine": lowest[1]["cosine"], "snr_db": lowest[1]["snr_db"]} \
        if lowest else {}
    for key, figures in ((DETECTION, ("map50_95", "map50_95_vs_reference")),
                         (SEGMENTATION, ("miou", "miou_vs_reference"))):
        kept.update({name: outputs[key][name] for name in figures if name in outputs.get(key, {})})
    return kept or None


def _map(trial: Trial) -> float:
    """A dense task's figure (labelled first) for ranking trials that all failed."""
    figures = trial.fidelity or {}
    for name in ("map50_95", "miou", "map50_95_vs_reference", "miou_vs_reference"):
        if name in figures:
            return figures[name]
    return 0.0


def _snr(trial: Trial) -> float:
    return (trial.fidelity or {}).get("snr_db", 0.0)


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
