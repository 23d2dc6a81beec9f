"""Printing a finished build (build, verify, quantize, merge): the table or the JSON, and the exit code it maps to.

The reports are already written and the exit code already decided (``edgeconv.api.outcome``): nothing here
changes a file or a verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.markup import escape

from edgeconv.cli.options import stdout
from edgeconv.results import BuildResult


def print_build(result: BuildResult, as_json: bool, table_only: bool = False) -> None:
    """The results table with budgets missed, timing notes, warnings and choices (or report.json on stdout)."""
    from edgeconv.report import report_paths
    from edgeconv.report.format import loaded_note
    from edgeconv.report.table import results_table

    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
        return
    stdout.print(results_table(result))
    if table_only:
        return
    for a, b in result.failed_budgets:  # escaped: budget names hold [output] and rich reads [..] as markup
        stdout.print(f"[red]budget failed[/] {escape(f'{a.label}: {b.name} {b.shortfall}')}", highlight=False)
    note = loaded_note(result.timing)
    if note:
        stdout.print(f"[yellow]timing[/] {escape(note)}", highlight=False)
    for a in result.artifacts:
        for warning in a.warnings:
            stdout.print(f"[yellow]warning[/] {escape(f'{a.label}: {warning}')}", highlight=False)
    for choice in result.selections:
        stdout.print(f"[bold]auto[/] {choice['target']}: {choice['precision'] or 'none'}: {choice['reason']}")
    if result.shard:
        stdout.print(f"shard {result.shard['index']}/{result.shard['count']}: {', '.join(result.shard['cells'])}"
                     " (choices are made by `edgeconv merge` over every shard)", highlight=False)
    paths = report_paths(result.out_dir)
    stdout.print(f"reports: {paths['json']}  {paths['markdown']}  {paths['junit']}")


def print_gate(result: BuildResult, baseline: Path, as_json: bool) -> None:
    """``build --baseline``'s verdict, one line (none under --json: report.json on stdout stays the only thing)."""
    comparison = result.gate
    if comparison is None or as_json:
        return
    verdict = (f"[red]{len(comparison.regressions)} regression(s)[/]: "
               + ", ".join(f"{a.label} {m.metric}" for a, m in comparison.regressions)
               if comparison.regressed else "[green]no regression[/]")
    stdout.print(f"against {baseline}: {verdict} (see compare.md)")


def exit_with(result: BuildResult) -> NoReturn:
    """Exit with the code the library decided for ``result`` (``api.exit_code``)."""
    from edgeconv.api import exit_code

    sys.exit(int(exit_code(result)))
