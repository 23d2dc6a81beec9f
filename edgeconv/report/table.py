"""The final terminal table (rich): target × precision × accuracy × agreement × latency × size × status."""

from __future__ import annotations

from rich.table import Table

from edgeconv.report.format import headers, row
from edgeconv.report.generation import HEADERS, generation_row, is_generative
from edgeconv.results import BuildResult

STYLES = {"passed": "green", "failed": "bold red", "skipped": "yellow", "error": "bold red"}


def results_table(result: BuildResult) -> Table:
    table = Table(title=f"edgeconv build: {result.spec_name}", title_justify="left")
    if is_generative(result):
        return _generation_table(table, result)
    metric = result.evaluation.get("metric", "accuracy")
    for header in headers(metric):
        table.add_column(header, justify="left" if header in ("target", "precision", "status") else "right")
    reference = row(result.reference, metric)
    reference[-1] = "reference"
    table.add_row(*reference, style="dim")
    for artifact in result.artifacts:
        cells = row(artifact, metric)
        cells[-1] = f"[{STYLES.get(artifact.status, '')}]{artifact.status}[/]"
        table.add_row(*cells)
    return table


def _generation_table(table: Table, result: BuildResult) -> Table:
    """A decoder LM build: fidelity, answers and tokens/s per row (report/generation.py)."""
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("target", "precision", "status") else "right")
    reference = generation_row(result.reference)
    reference[-1] = "reference"
    table.add_row(*reference, style="dim")
    for artifact in result.artifacts:
        cells = generation_row(artifact)
        cells[-1] = f"[{STYLES.get(artifact.status, '')}]{artifact.status}[/]"
        table.add_row(*cells)
    return table
