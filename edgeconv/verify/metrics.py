"""Task metrics on labelled data and agreement with the fp32 reference.

Written with numpy rather than scikit-learn: a confusion matrix and three ratios do not justify a
100 MB dependency in an edge toolchain.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(logits: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, Any]:
    predicted = logits.argmax(-1)
    classes = max(len(names), int(labels.max()) + 1, logits.shape[-1])
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_pos = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(true_pos / confusion.sum(axis=0))
        recall = np.nan_to_num(true_pos / support)
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    present = support > 0
    label_names = [names[i] if i < len(names) else str(i) for i in range(classes)]
    return {
        "accuracy": float(true_pos.sum() / len(labels)),
        "macro_f1": float(f1[present].mean()),
        "per_class": {
            label_names[i]: {
                "precision": float(precision[i]), "recall": float(recall[i]),
                "f1": float(f1[i]), "support": int(support[i]),
            }
            for i in range(classes) if present[i]
        },
    }


def agreement(logits: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and max abs error of an artifact's outputs against the reference's."""
    diff = np.abs(logits.astype(np.float64) - reference.astype(np.float64))
    return {
        "agreement": float(np.mean(logits.argmax(-1) == reference.argmax(-1))),
        "max_abs_error": float(np.max(diff)) if np.all(np.isfinite(diff)) else float("inf"),
    }


def latency_summary(timings_s: list[float]) -> dict[str, float]:
    """Percentiles over every run; outliers (beyond Q3 + 3 IQR) are counted and shown, never dropped."""
    ms = np.asarray(timings_s) * 1e3
    q1, q3 = np.percentile(ms, [25, 75])
    return {
        "p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()), "std": float(ms.std()),
        "min": float(ms.min()), "max": float(ms.max()), "runs": len(ms),
        "outliers": int(np.sum(ms > q3 + 3 * (q3 - q1))),
    }
