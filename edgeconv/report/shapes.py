"""report.md's latency at real input length and padded (``timing.shapes``, verify/shapes.py): both figures, and
which one the table, the budgets and ``auto`` use (``latency.shape``)."""

from __future__ import annotations

from typing import Any

from edgeconv.report.format import ms
from edgeconv.results import ArtifactResult


def shapes_markdown(rows: list[ArtifactResult]) -> list[str]:
    """A table of p50/p90 and speed-up at each shape, or nothing when no row was timed at two shapes."""
    shaped = [(a, a.timing.shapes) for a in rows if a.timing is not None and a.timing.shapes]
    if not shaped:
        return []
    ranked = shaped[0][1]["ranked_on"]
    lines = ["## Latency on real inputs and padded", "",
             f"Text examples timed at their own length (attention mask) and at the padded length; the table above, "
             f"the budgets and `auto` use **{ranked}** (`latency.shape: {'real' if ranked == 'real' else 'max'}`). "
             "A runtime with static shapes runs every input padded and is labelled so.", "",
             "| artifact | real p50 ms | real p90 ms | real speed-up | padded p50 ms | padded p90 ms | "
             "padded speed-up | note |", "|---|---|---|---|---|---|---|---|"]
    for a, s in shaped:
        real, padded = s.get("real", {}), s.get("padded", {})
        lines.append(f"| {a.label} | {_cells(real)} | {_cells(padded)} | {s.get('note', '')} |")
    return [*lines, ""]


def _cells(figures: dict[str, Any]) -> str:
    speedup = figures.get("speedup")
    return " | ".join([ms(figures.get("p50")), ms(figures.get("p90")),
                       f"{speedup:.2f}x" if speedup is not None else "–"])
