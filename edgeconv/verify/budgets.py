"""Hold each artifact against the spec's budgets; each check records its limit, value and margin."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgeconv.spec import Budgets


@dataclass
class BudgetCheck:
    name: str
    limit: float
    value: float
    passed: bool

    @property
    def shortfall(self) -> str:
        """How far off a failed budget is, in the budget's unit, for report.md."""
        if self.name == "accuracy_drop":
            return f"dropped {self.value * 100:.2f} points, {(self.value - self.limit) * 100:.2f} over the limit"
        if self.name == "min_agreement":
            return f"agreement {self.value:.4f}, {self.limit - self.value:.4f} under the limit"
        if self.name == "p90_latency_ms":
            return f"p90 {self.value:.2f} ms, {self.value - self.limit:.2f} ms over the limit"
        return f"{self.value:.2f} MB, {self.value - self.limit:.2f} MB over the limit"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_budgets(budgets: Budgets, measured: dict[str, Any]) -> list[BudgetCheck]:
    """``measured`` holds accuracy_drop, agreement, latency_ms.p90 and size_bytes of one artifact."""
    checks: list[BudgetCheck] = []
    if budgets.accuracy_drop is not None:
        drop = measured["accuracy_drop"]
        checks.append(BudgetCheck("accuracy_drop", budgets.accuracy_drop, drop, drop <= budgets.accuracy_drop + 1e-12))
    if budgets.min_agreement is not None:
        value = measured["agreement"]
        checks.append(BudgetCheck("min_agreement", budgets.min_agreement, value, value >= budgets.min_agreement))
    if budgets.p90_latency_ms is not None:
        value = measured["latency_ms"]["p90"]
        checks.append(BudgetCheck("p90_latency_ms", budgets.p90_latency_ms, value, value <= budgets.p90_latency_ms))
    if budgets.max_size_mb is not None:
        value = measured["size_bytes"] / 1e6
        checks.append(BudgetCheck("max_size_mb", budgets.max_size_mb, value, value <= budgets.max_size_mb))
    return checks
