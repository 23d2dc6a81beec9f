"""`edgeconv prune SPEC --sweep 0.1,0.2,0.3`: one pruned artifact per ratio, the table, its Pareto rows.

A Click command of its own (the lead registers it: ``main.add_command(prune_command)``); errors are
EdgeconvErrors, which the main group maps to their exit codes.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-static")


@click.command("prune")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--sweep", "sweep", required=True, metavar="R1,R2,...",
              help="Pruning ratios to build, each strictly between 0 and 1, e.g. 0.1,0.2,0.3.")
@click.option("--mode", type=click.Choice(["structured", "unstructured"]), default=None,
              help="Pruning mode (default: the spec's prune.mode, else structured).")
@click.option("--precision", "precisions", multiple=True, type=click.Choice(PRECISIONS),
              help="Precision(s) per ratio (repeatable; default fp32 and int8-dynamic).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: the spec's output).")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="Override a spec field.")
@click.option("--no-cache", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep rows as JSON on stdout.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", metavar="[ADDRESS]",
              help="Prune and distil each ratio as a Ray task (a cluster at ADDRESS, or a Ray started here); "
              "building, verification and timing stay here. Needs edgeconv[ray].")
def prune_command(spec: Path, sweep: str, mode: str | None, precisions: tuple[str, ...], out: Path | None,
                  overrides: tuple[str, ...], no_cache: bool, as_json: bool, ray_address: str | None) -> None:
    """Prune SPEC's model at each ratio of --sweep, build and verify each, and mark the Pareto-optimal rows."""
    from edgeconv.api.sweep import parse_ratios, run_sweep
    from edgeconv.compress.trials import on_ray
    from edgeconv.fsutil import write_text
    from edgeconv.progress.display import StageProgress
    from edgeconv.report import render_html, write_reports
    from edgeconv.report.prune import SWEEP_HEADERS, render_sweep_markdown, sweep_cells
    from edgeconv.spec import load_spec

    ratios = parse_ratios(sweep)
    loaded = load_spec(spec, list(overrides))
    folder = Path(out or loaded.output)
    stdout, stderr = Console(width=None if sys.stdout.isatty() else 160), Console(stderr=True)
    with (StageProgress(stderr, quiet=as_json) as progress,
          on_ray(ray_address) if ray_address else contextlib.nullcontext() as ray_record):
        result, rows = run_sweep(loaded, ratios, list(precisions) or ["fp32", "int8-dynamic"], folder, mode,
                                 use_cache=not no_cache, on_event=progress.event)
    result.ray = ray_record
    paths = write_reports(result, folder)
    chosen_mode = mode or (loaded.prune.mode if loaded.prune else "structured")
    markdown = paths["markdown"].read_text(encoding="utf-8")
    write_text(paths["markdown"], markdown.rstrip() + "\n\n" + render_sweep_markdown(
        rows, chosen_mode, loaded.prune.drop_blocks if loaded.prune and chosen_mode == "structured" else 0))
    write_text(paths["html"], render_html(result.to_dict(), sweep=[r.to_dict() for r in rows]))
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], default=str))
        return
    table = Table(title=f"pruning sweep ({chosen_mode}), against the unpruned fp32 reference")
    for header in SWEEP_HEADERS:
        table.add_column(header, justify="left" if header in ("ratio", "precision") else "right")
    for row in rows:
        table.add_row(*sweep_cells(row), style="bold" if row.pareto else None)
    stdout.print(table)
    stdout.print(f"★ Pareto-optimal (accuracy, p50, size). reports: {paths['json']}  {paths['markdown']}")
