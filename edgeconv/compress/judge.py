"""The judge of int8 candidates: scores a candidate on the evaluation set against the budgets.

A ``Judge`` checks ``budgets.accuracy_drop``, ``min_agreement``, fidelity per output and mAP/mIoU drops, and
times the candidate interleaved with the fp32 reference when it has one, so a search (compress/search.py) never
keeps a candidate slower than the model it replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.metric_table import meets
from edgeconv.spec import DetectionSpec, SegmentationSpec
from edgeconv.spec.budgets import FIDELITY_BUDGETS, Budgets
from edgeconv.verify.budgets import fidelity_checks, task_drop_checks, tolerances
from edgeconv.verify.fidelity import fidelity
from edgeconv.verify.measure import detection_figures, output_rows
from edgeconv.verify.segmentation import segmentation_figures
from edgeconv.verify.timing import ort_session, time_interleaved
from edgeconv.verify.worker import stack_outputs

if TYPE_CHECKING:
    from edgeconv.backends.backend import BuildContext

DETECTION = "__detection__"  # the judge's figures: decoded boxes' mAP beside the per-output fidelity
SEGMENTATION = "__segmentation__"  # and per-pixel classes' mIoU
TASK_FIGURES = (DETECTION, SEGMENTATION)


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
    reference_model: Path | None = None  # the fp32 reference (ONNX), timed interleaved with each candidate
    reference_p50_ms: float | None = None  # from the last ``run``, beside the candidate's p50
    _reference: Any = field(default=None, init=False, repr=False)

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
        return outputs, self.p50_beside_reference(model, lambda example: session.run(None, example))

    def p50_beside_reference(self, model: Path, call: Callable[[dict[str, np.ndarray]], Any]) -> float:
        """The candidate's p50 (``call`` on the first example), timed interleaved with the fp32 reference when the
        judge has one (then ``reference_p50_ms`` holds the reference's)."""
        example = self.evaluation.example(0)
        rows = {model: lambda: call(example)}
        if self.reference_model is not None:
            reference = self._reference_session()
            rows[self.reference_model] = lambda: reference.run(None, example)
        # Five rounds: with three, int8 candidates within 10% of fp32 swapped sides between runs (MiniLM, 128).
        p50 = time_interleaved(rows, rounds=5, runs=10, warmup=5)
        self.reference_p50_ms = p50.get(self.reference_model) if self.reference_model is not None else None
        return p50[model]

    def _reference_session(self) -> Any:
        """The fp32 reference's session, loaded once for all trials (it is timed beside each of them)."""
        if self._reference is None:
            self._reference = ort_session(self.reference_model, self.threads)
        return self._reference

    def passes(self, score: float, agreement: float, outputs: dict[str, dict[str, Any]] | None = None) -> bool:
        # held by the same rule as verification's budget checks (edgeconv.metric_table.meets)
        drop, floor = self.budgets.accuracy_drop, self.budgets.min_agreement
        drop_ok = drop is None or meets("accuracy_drop", self.reference_score - score, drop)
        agree_ok = floor is None or meets("min_agreement", agreement, floor)
        named = {k: v for k, v in (outputs or {}).items() if k not in TASK_FIGURES}
        fidelity_ok = all(check.passed for name, figures in named.items()
                          for check in fidelity_checks(name, figures, self.budgets.for_output(name)))
        tasks = task_drop_checks(self.budgets, (outputs or {}).get(DETECTION), (outputs or {}).get(SEGMENTATION))
        return drop_ok and agree_ok and fidelity_ok and all(check.passed for check in tasks)


class LoadingJudge:
    """The judge of a spec without accuracy budgets: a candidate only has to load and run, so that one the runtime
    refuses is localised and remedied by the search (compress/refusal.py) instead of failing verification."""

    reference_p50_ms: float | None = None

    def __init__(self, example: dict[str, np.ndarray], threads: int) -> None:
        self.example, self.threads = example, threads

    def __call__(self, model: Path) -> tuple[float, float, float, dict[str, dict[str, Any]]]:
        ort_session(model, self.threads).run(None, self.example)
        return float("nan"), float("nan"), float("nan"), {}

    def passes(self, score: float, agreement: float, outputs: dict[str, dict[str, Any]] | None = None) -> bool:
        return True


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
