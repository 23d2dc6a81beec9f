"""edgeconv.metric_table: one row per figure serves the budgets, the report and compare alike."""

from __future__ import annotations

import pytest

from edgeconv.compare.metrics import Thresholds
from edgeconv.metric_table import BUDGETS, METRICS, definition, meets, shortfall
from edgeconv.spec.budgets import Budgets

# Spec fields that are tolerances or compare-only limits, not budgets an artifact is checked against.
NOT_CHECKED = {"outputs", "atol", "rtol", "max_latency_increase"}


def test_every_budget_of_the_spec_has_its_row() -> None:
    assert set(Budgets.model_fields) - NOT_CHECKED == set(BUDGETS)


def test_every_compared_limit_is_a_thresholds_field() -> None:
    fields = set(Thresholds.__dataclass_fields__)
    assert {m.limit for m in METRICS.values() if m.limit} <= fields


@pytest.mark.parametrize(("budget", "value", "limit", "passed"), [
    ("accuracy_drop", 0.01, 0.01, True), ("accuracy_drop", 0.02, 0.01, False),
    ("min_agreement", 0.99, 0.98, True), ("min_agreement", 0.97, 0.98, False),
    ("min_snr_db[out].worst", 30.0, 40.0, False), ("max_mismatch[out]", 0.001, 0.01, True),
    ("p90_latency_ms", 12.0, 10.0, False), ("max_size_mb", 9.0, 10.0, True),
])
def test_a_budget_holds_its_metric_in_the_metrics_direction(budget: str, value: float, limit: float,
                                                            passed: bool) -> None:
    assert meets(budget, value, limit) is passed


def test_a_shortfall_is_written_in_its_metrics_unit() -> None:
    assert shortfall("accuracy_drop", 0.02, 0.01) == "accuracy dropped 2.00 pts, 1.00 over the limit"
    assert shortfall("min_snr_db[out].worst", 30.0, 40.0) == "the worst example's SNR 30.0 dB, 10.0 dB under the limit"
    assert shortfall("p90_latency_ms", 12.5, 10.0) == "p90 latency 12.5 ms, 2.5 ms over the limit"
    assert shortfall("max_size_mb", 12.3, 10.0) == "size 12.3 MB, 2.3 MB over the limit"
    assert shortfall("some_new_budget", 3.0, 2.0) == "3, limit 2"


def test_a_custom_metric_and_a_per_output_figure_find_their_family() -> None:
    assert definition("snr_db[logits]").name == "snr_db" and definition("pkg.mod:score").name == "metric"
    assert definition("latency_p50").change(0.1) == "+10.0%" and definition("accuracy").change(-0.012) == "-1.20 pts"
