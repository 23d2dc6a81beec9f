"""`edgeconv merge` and `edgeconv ci matrix`: the CLI side of sharded builds (scale/shard.py, scale/merge.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeconv.cli.options import json_option, load, set_option, spec_argument
from edgeconv.cli.show import exit_with, print_build


@click.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder of the merged reports.")
@json_option
def merge_command(shards: tuple[Path, ...], out: Path, as_json: bool) -> None:
    """Join the output folders of `edgeconv build --shard I/N` (every I of one N) into one report; exit codes as
    `edgeconv build` (1: a budget missed in some shard)."""
    from edgeconv.scale.merge import merge

    click.get_current_context().obj["out"] = out
    result = merge(list(shards), out)
    print_build(result, as_json)
    exit_with(result)


@click.group("ci")
def ci_group() -> None:
    """Helpers for CI pipelines."""


@ci_group.command("matrix")
@spec_argument
@click.option("--shards", type=int, help="How many shards (default: one per target x precision cell).")
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Only these targets (repeatable).")
@click.option("--device", metavar="CLASS", help="Every profile of this device class, as `build --device`.")
@set_option
def matrix_command(spec: Path, shards: int | None, targets: tuple[str, ...], device: str | None,
                   overrides: tuple[str, ...]) -> None:
    """Print the build's shards as a CI job matrix (JSON, one line: GitHub Actions' `fromJSON`), each entry
    `{"shard": "I/N", "cells": [...]}` for `edgeconv build SPEC --shard I/N`."""
    from edgeconv.api import plan
    from edgeconv.api.shard import ci_matrix

    loaded = load(spec, overrides)
    click.echo(json.dumps(ci_matrix(plan(loaded, list(targets) or None, device).selected, shards)))
