"""`edgeconv cache ls|clear`, `edgeconv targets` and `edgeconv doctor`: what this machine holds and can run."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from edgeconv.cli.options import json_option, stdout


@click.group()
def cache() -> None:
    """The stage cache shared by all builds ($EDGECONV_CACHE_DIR, else ~/.cache/edgeconv)."""


@cache.command("ls")
@json_option
def cache_ls(as_json: bool) -> None:
    """List cached stage results: stage, key, size, last use."""
    from edgeconv.cache.stages import cache_root
    from edgeconv.cache.store import describe, entries

    rows = [describe(e) for e in entries()]
    if as_json:
        click.echo(json.dumps(rows))
        return
    total = sum(int(r["size_bytes"]) for r in rows)  # type: ignore[call-overload]
    stdout.print(f"{cache_root()}: {len(rows)} entries, {total / 1e6:.1f} MB")
    for r in rows:
        stdout.print(f"  {r['stage']:<40} {str(r['key'])[:12]}  {int(r['size_bytes']) / 1e6:8.1f} MB  "  # type: ignore[call-overload]
                     f"used {r['last_used']}", highlight=False)


@cache.command("clear")
@click.option("--older-than", "older_than", type=float, metavar="DAYS", help="Only entries unused this long.")
def cache_clear(older_than: float | None) -> None:
    """Remove cached stage results (builds then redo those stages)."""
    from edgeconv.cache.store import clear

    removed, freed = clear(older_than_days=older_than)
    stdout.print(f"removed {removed} entries, {freed / 1e6:.1f} MB")


@click.command()
@json_option
def targets(as_json: bool) -> None:
    """List target profiles, what each needs, and whether this machine has it."""
    from rich.table import Table

    from edgeconv.doctor import target_rows

    rows = target_rows()
    if as_json:
        click.echo(json.dumps(rows))
        return
    table = Table(title="edgeconv targets", title_justify="left")
    for column in ("name", "device class (--device)", "backend", "precisions", "needs", "available here"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r.get("device_class") or "–", r["backend"], ", ".join(r["precisions"]),
                      ", ".join(r["requires"]),
                      "[green]yes[/]" if r["available"] else f"[yellow]no[/]: {escape(str(r['reason']))}")
    stdout.print(table)


@click.command()
@json_option
def doctor(as_json: bool) -> None:
    """Report the runtimes, versions and devices edgeconv finds on this machine."""
    from edgeconv.doctor import diagnose

    report = diagnose()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for section, values in report.items():
        stdout.print(f"[bold]{section}[/]")
        for key, value in values.items():
            stdout.print(f"  {escape(str(key))}: {escape(str(value))}", highlight=False)  # '[tflite]' is text
