"""NNCF's accuracy control (``nncf.quantize_with_accuracy_control``) driven by the spec's budgets.

NNCF restores one higher-is-better figure to within ``max_drop`` of the fp32 model's by reverting the ops that
cost the most to float. Which figure, in this order:
- the spec's task metric on labelled data (``budgets.accuracy_drop``);
- fidelity to the reference (``min_cosine`` / ``min_snr_db``, per output): the *budget slack*, 1 at the fp32
  outputs and 0 at the budget, the smallest over outputs and budgets: (cosine - min_cosine) / (1 - min_cosine)
  and 1 - (noise / signal) / 10^(-min_snr_db / 10), with cosine and SNR as verification computes them over
  the set (so max_drop 1 means "within every fidelity budget");
- top-1 agreement with the reference (``budgets.min_agreement``).
The validation function returns per-example values as well, so NNCF ranks ops by them (its metric mode).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgeconv.compress.judge import Judge, first_output, has_fidelity_budgets
from edgeconv.verify.fidelity import example_terms

# (compiled model, validation items (index, feeds)) -> (figure, per-example figures)
Validation = Callable[[Any, Any], tuple[float, list[float]]]


def accuracy_control(judge: Judge, labels: np.ndarray | None, metric_name: str
                     ) -> tuple[str, float, Validation] | None:
    """(what is restored, max_drop, NNCF validation function) from the judge's budgets; None when no budget is a
    figure NNCF can restore (mAP and mIoU budgets are judged, not controlled)."""
    budgets = judge.budgets
    if judge.detection is not None or judge.segmentation is not None:
        return None
    if budgets.accuracy_drop is not None and labels is not None and not judge.generic:
        def task_metric(compiled: Any, data: Any) -> tuple[float, list[float]]:
            rows = list(data)
            outputs = np.concatenate([_first(compiled, feeds) for _, feeds in rows])
            truth = labels[[i for i, _ in rows]]
            each = [judge.metric(outputs[k:k + 1], truth[k:k + 1]) for k in range(len(rows))]
            return judge.metric(outputs, truth), each

        return metric_name, budgets.accuracy_drop, task_metric
    if has_fidelity_budgets(budgets) and judge.reference_all is not None:
        return "fidelity to the reference (budget slack)", 1.0, _fidelity_slack(judge)
    if budgets.min_agreement is not None and not judge.generic:
        reference = np.asarray(judge.reference_outputs)

        def agreement(compiled: Any, data: Any) -> tuple[float, list[float]]:
            hits = [float(_first(compiled, feeds).argmax(-1)[0] == reference[i].argmax(-1)) for i, feeds in data]
            return float(np.mean(hits)), hits

        return "agreement with the reference", 1.0 - budgets.min_agreement, agreement
    return None


def why_no_control(judge: Judge, labels: np.ndarray | None) -> str:
    if judge.detection is not None or judge.segmentation is not None:
        return "its budgets are mAP or mIoU budgets, not one figure NNCF can restore"
    if labels is None:
        return "the evaluation set has no labels and the spec sets no cosine/SNR budget or min_agreement"
    return "the spec sets neither accuracy_drop, a cosine/SNR budget nor min_agreement"


def _fidelity_slack(judge: Judge) -> Validation:
    assert judge.reference_all is not None
    reference = judge.reference_all

    def slack(compiled: Any, data: Any) -> tuple[float, list[float]]:
        rows = list(data)
        index = [i for i, _ in rows]
        named = [{o.get_any_name(): np.asarray(v) for o, v in compiled(feeds).items()} for _, feeds in rows]
        total, each = np.inf, np.full(len(rows), np.inf)
        for name, wanted in reference.items():
            if name not in named[0]:
                continue
            terms = example_terms(np.concatenate([n[name] for n in named]), np.asarray(wanted)[index])
            figure, per_row = budget_slack(terms, judge.budgets.for_output(name))
            total, each = min(total, figure), np.minimum(each, per_row)
        return float(total), [float(v) for v in each]

    return slack


def budget_slack(terms: dict[str, np.ndarray], budgets: Any) -> tuple[float, np.ndarray]:
    """The set's and each example's slack to the cosine and SNR budgets: 1 when exact, 0 at the budget."""
    figure, per_row = np.inf, np.full(len(terms["cosine"]), np.inf)
    if budgets.min_cosine is not None and budgets.min_cosine < 1:
        span = 1.0 - budgets.min_cosine
        figure = min(figure, (float(terms["cosine"].mean()) - budgets.min_cosine) / span)
        per_row = np.minimum(per_row, (terms["cosine"] - budgets.min_cosine) / span)
    if budgets.min_snr_db is not None:
        allowed = 10.0 ** (-budgets.min_snr_db / 10)  # the noise / signal ratio at the budget
        signal = np.maximum(terms["signal"], np.finfo(np.float64).tiny)
        figure = min(figure, 1.0 - float(terms["noise"].sum() / signal.sum()) / allowed)
        per_row = np.minimum(per_row, 1.0 - terms["noise"] / signal / allowed)
    return (1.0 if figure == np.inf else figure), np.where(per_row == np.inf, 1.0, per_row)


def _first(compiled: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(first_output({o.get_any_name(): v for o, v in compiled(feeds).items()}))
