"""Hold each artifact against the spec's budgets; each check records its limit, value and margin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from edgeconv.metric_table import meets
from edgeconv.results import BudgetCheck, GenerationFigures
from edgeconv.spec.budgets import Budgets, OutputBudgets, mean_and_worst
from edgeconv.verify.fidelity import DEFAULT_ATOL, DEFAULT_RTOL


def check(budget: str, limit: float, value: float) -> BudgetCheck:
    """One budget's check; whether it passed is the metric table's rule for that budget (edgeconv.metric_table)."""
    return BudgetCheck(budget, limit, value, meets(budget, value, limit))


def check_budgets(budgets: Budgets, measured: dict[str, Any]) -> list[BudgetCheck]:
    """``measured`` holds accuracy_drop, agreement, latency_ms.p90 and size_bytes of one artifact."""
    size = measured.get("size_bytes")
    values = {"accuracy_drop": measured.get("accuracy_drop"), "min_agreement": measured.get("agreement"),
              "p90_latency_ms": (measured.get("latency_ms") or {}).get("p90"),
              "max_size_mb": None if size is None else size / 1e6}
    checks = [check(budget, getattr(budgets, budget), value) for budget, value in values.items()
              if getattr(budgets, budget) is not None and value is not None]
    checks += task_drop_checks(budgets, measured.get("detection"), measured.get("segmentation"))
    checks += generation_checks(budgets, measured.get("generation"))
    for name, figures in (measured.get("outputs") or {}).items():
        checks += fidelity_checks(name, figures, budgets.for_output(name))
    return checks


def task_drop_checks(budgets: Budgets, detected: dict[str, Any] | None,
                     segmented: dict[str, Any] | None) -> list[BudgetCheck]:
    """map_drop and miou_drop: the loss against the labels when the set has them (the reference's figure minus
    the artifact's), else against the reference's own boxes / classes (where the reference scores 1.0)."""
    checks = []
    for budget, figures, key in (("map_drop", detected, "map50_95"), ("miou_drop", segmented, "miou")):
        limit = getattr(budgets, budget)
        if limit is None or figures is None:
            continue
        if key in figures:
            loss = max(0.0, figures[f"reference_{key}"] - figures[key])
        else:
            loss = 1.0 - figures[f"{key}_vs_reference"]
        checks.append(check(budget, limit, loss))
    return checks


def generation_checks(budgets: Budgets, figures: GenerationFigures | None) -> list[BudgetCheck]:
    """task: text-generation: perplexity increase (a fraction), mean KL and teacher-forced token agreement."""
    if figures is None:
        return []
    values = {"max_perplexity_increase": figures.perplexity_increase, "max_kl": figures.kl_mean,
              "min_token_agreement": figures.token_agreement}
    return [check(budget, getattr(budgets, budget), value) for budget, value in values.items()
            if getattr(budgets, budget) is not None and value is not None]


def tolerances(budgets: Budgets, names: Iterable[str]) -> dict[str, tuple[float, float]]:
    """(atol, rtol) per output: its own budgets, else the global ones, else fidelity's defaults."""
    found = {}
    for name in names:
        own = budgets.for_output(name)
        found[name] = (DEFAULT_ATOL if own.atol is None else own.atol, DEFAULT_RTOL if own.rtol is None else own.rtol)
    return found


# Each "at least" fidelity budget: the figure its mean holds and the figure its worst example holds.
HELD = {"min_cosine": ("cosine", "cosine_min"), "min_snr_db": ("snr_db", "snr_db_min")}


def fidelity_checks(output: str, figures: dict[str, Any], budgets: OutputBudgets) -> list[BudgetCheck]:
    """One check per fidelity budget set for this output, named ``<budget>[<output>]`` (the mean: what a plain
    number has always held) and ``<budget>[<output>].worst`` (the worst example)."""
    checks = []
    for budget, keys in HELD.items():
        for limit, key, suffix in zip(mean_and_worst(getattr(budgets, budget)), keys, ("", ".worst"), strict=True):
            if limit is not None:
                checks.append(check(f"{budget}[{output}]{suffix}", limit, figures[key]))
    if budgets.max_mismatch is not None:
        checks.append(check(f"max_mismatch[{output}]", budgets.max_mismatch, 1.0 - figures["within_tolerance"]))
    return checks
