"""Metrics, agreement and budgets on hand-checkable inputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.spec import Budgets
from edgeconv.verify.budgets import check_budgets
from edgeconv.verify.metrics import agreement, classification_metrics, latency_summary


def one_hot_logits(predicted: list[int], classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[predicted]


def test_classification_metrics_match_a_hand_count() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    logits = one_hot_logits([0, 0, 1, 1, 0, 2], 3)
    m = classification_metrics(logits, labels, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    # class a: P 2/3 R 2/3; class b: P 1/2 R 1/2; class c: P 1 R 1
    assert m["per_class"]["a"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["recall"] == pytest.approx(1 / 2)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["per_class"]["c"]["support"] == 1


def test_agreement_and_max_abs_error() -> None:
    ref = np.array([[2.0, 1.0], [0.0, 1.0], [1.0, 3.0]])
    got = np.array([[2.0, 1.5], [1.2, 1.0], [1.0, 3.0]])
    a = agreement(got, ref)
    assert a["agreement"] == pytest.approx(2 / 3)
    assert a["max_abs_error"] == pytest.approx(1.2)
    assert agreement(np.array([[np.nan, 0.0]]), np.array([[1.0, 0.0]]))["max_abs_error"] == float("inf")


def test_latency_summary_in_milliseconds() -> None:
    s = latency_summary([0.001] * 90 + [0.010] * 10)
    assert s["p50"] == pytest.approx(1.0) and s["runs"] == 100
    assert s["p99"] == pytest.approx(10.0)
    assert s["mean"] == pytest.approx(1.9)


def test_budgets_pass_and_fail_with_the_right_values() -> None:
    budgets = Budgets(accuracy_drop=0.01, min_agreement=0.98, p90_latency_ms=5, max_size_mb=10)
    measured = {"accuracy_drop": 0.02, "agreement": 0.99, "latency_ms": {"p90": 6.0}, "size_bytes": 9_000_000}
    checks = {c.name: c for c in check_budgets(budgets, measured)}
    assert not checks["accuracy_drop"].passed and "1.00 over the limit" in checks["accuracy_drop"].shortfall
    assert checks["min_agreement"].passed
    assert not checks["p90_latency_ms"].passed and checks["p90_latency_ms"].value == 6.0
    assert checks["max_size_mb"].passed and checks["max_size_mb"].value == pytest.approx(9.0)
    assert check_budgets(Budgets(), measured) == []
