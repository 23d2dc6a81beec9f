"""`edgeconv prune SPEC --sweep 0.1,0.2,0.3`: one pruned artifact per ratio, the table, its Pareto rows.

One library call (``edgeconv.api.sweep.sweep``) builds the rows and writes the reports; this module parses the
options and prints the table. Errors are EdgeconvErrors, which the main group maps to their exit codes.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from edgeconv.cli import options

PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-static")


@click.command("prune")
@options.spec_argument
@click.option("--sweep", "sweep", required=True, metavar="R1,R2,...",
              help="Pruning ratios to build, each strictly between 0 and 1, e.g. 0.1,0.2,0.3.")
@click.option("--mode", type=click.Choice(["structured", "unstructured"]), default=None,
              help="Pruning mode (default: the spec's prune.mode, else structured).")
@click.option("--precision", "precisions", multiple=True, type=click.Choice(PRECISIONS),
              help="Precision(s) per ratio (repeatable; default fp32 and int8-dynamic).")
@options.out_option
@options.set_option
@options.no_cache_option
@options.json_option
@options.ray_option("Prune and distil each ratio (building, verification and timing stay here)")
def prune_command(spec: Path, sweep: str, mode: str | None, precisions: tuple[str, ...], out: Path | None,
                  overrides: tuple[str, ...], no_cache: bool, as_json: bool, ray_address: str | None) -> None:
    """Prune SPEC's model at each ratio of --sweep, build and verify each, and mark the Pareto-optimal rows."""
    from edgeconv.api.sweep import parse_ratios
    from edgeconv.api.sweep import sweep as run
    from edgeconv.progress.display import StageProgress
    from edgeconv.report import report_paths
    from edgeconv.report.prune import SWEEP_HEADERS, sweep_cells

    ratios = parse_ratios(sweep)
    loaded = options.load(spec, overrides, out)
    with StageProgress(options.stderr, quiet=as_json) as progress:
        done = run(loaded, ratios, list(precisions) or None, out, mode, use_cache=not no_cache,
                   on_event=progress.event, ray=ray_address)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in done.rows], default=str))
        return
    table = Table(title=f"pruning sweep ({done.mode}), against the unpruned fp32 reference")
    for header in SWEEP_HEADERS:
        table.add_column(header, justify="left" if header in ("ratio", "precision") else "right")
    for row in done.rows:
        table.add_row(*sweep_cells(row), style="bold" if row.pareto else None)
    options.stdout.print(table)
    paths = report_paths(done.result.out_dir)
    options.stdout.print(f"★ Pareto-optimal (accuracy, p50, size). reports: {paths['json']}  {paths['markdown']}")
