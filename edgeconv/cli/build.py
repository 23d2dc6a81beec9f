"""`edgeconv build`, `export`, `verify` and `quantize`: each parses its options, makes one ``edgeconv.api`` call and
prints; the reports, the ``--baseline`` gate and the exit code are the library's (``edgeconv.api.outcome``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeconv.cli.options import (
    json_option,
    library_prints_to_stderr,
    load,
    no_cache_option,
    out_option,
    ray_option,
    set_option,
    spec_argument,
    stderr,
    stdout,
)
from edgeconv.cli.show import exit_with, print_build, print_gate


@click.command()
@spec_argument
@out_option
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Build only these targets (repeatable).")
@click.option("--device", metavar="CLASS", help="Build every target profile of this device class (x86-64, arm64, "
              "nvidia-gpu, ...) this machine can build, in every precision, and choose one across them.")
@click.option("--shard", metavar="I/N", help="Build only shard I of N of the target x precision matrix; join the "
              "shards with `edgeconv merge` (see `edgeconv ci matrix`).")
@ray_option("Run the searches' independent trials")
@set_option
@no_cache_option
@click.option("--baseline", type=click.Path(path_type=Path, exists=True),
              help="A previous report.json or build folder: exit 1 if this build regresses against it.")
@json_option
def build(spec: Path, out: Path | None, targets: tuple[str, ...], device: str | None, shard: str | None,
          ray_address: str | None, overrides: tuple[str, ...], no_cache: bool, baseline: Path | None,
          as_json: bool) -> None:
    """Build and verify every target of SPEC; exit 0 only if every budget is met (and, with --baseline,
    nothing regressed beyond noise)."""
    from edgeconv.api import build as run_build
    from edgeconv.api.shard import Shard
    from edgeconv.progress.display import StageProgress

    loaded = load(spec, overrides, out)
    with StageProgress(stderr, quiet=as_json) as progress, library_prints_to_stderr():
        result = run_build(loaded, out=out, targets=list(targets) or None, use_cache=not no_cache,
                           on_event=progress.event, device=device, shard=None if shard is None else Shard.parse(shard),
                           baseline=baseline, ray=ray_address)
    print_build(result, as_json)
    if baseline is not None:
        print_gate(result, baseline, as_json)
    exit_with(result)


@click.command()
@spec_argument
@out_option
@set_option
@json_option
def export(spec: Path, out: Path | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Export SPEC's model to the fp32 ONNX reference and check it against torch."""
    from edgeconv.api import export_only
    from edgeconv.progress.display import StageProgress

    loaded = load(spec, overrides, out)
    with StageProgress(stderr, quiet=as_json) as progress, library_prints_to_stderr():
        path, meta = export_only(loaded, out, on_event=progress.event)
    if as_json:
        click.echo(json.dumps({"path": str(path), **meta}))
        return
    from edgeconv.export.parity import parity_text

    parity = meta.get("parity")
    stdout.print(f"reference ONNX: {path}")
    if parity:
        stdout.print(f"parity vs {parity.get('against', 'torch')} on {parity['samples']} examples: "
                     f"{parity_text(parity)}", highlight=False)


@click.command()
@spec_argument
@click.argument("artifact", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--target", default="x86-cpu-ort", show_default=True, help="Target profile to run it on.")
@click.option("--precision", default="fp32", show_default=True, help="Label for the artifact's precision.")
@out_option
@set_option
@json_option
def verify(spec: Path, artifact: Path, target: str, precision: str, out: Path | None, overrides: tuple[str, ...],
           as_json: bool) -> None:
    """Verify an existing ARTIFACT against SPEC's evaluation set, reference and budgets."""
    from edgeconv.api import verify_artifact
    from edgeconv.progress.display import StageProgress

    loaded = load(spec, overrides, out)
    with StageProgress(stderr, quiet=as_json) as progress, library_prints_to_stderr():
        result = verify_artifact(loaded, artifact, target, precision, out, on_event=progress.event)
    print_build(result, as_json, table_only=True)
    exit_with(result)


@click.command()
@spec_argument
@click.option("--precision", type=click.Choice(["int8-dynamic", "int8-static"]), default="int8-static",
              show_default=True)
@click.option("--sensitivity", is_flag=True, help="Rank the quantized nodes by the error each adds; build nothing.")
@click.option("--top", default=15, show_default=True, help="How many nodes to show.")
@out_option
@set_option
@json_option
@click.pass_context
def quantize(ctx: click.Context, spec: Path, precision: str, sensitivity: bool, top: int, out: Path | None,
             overrides: tuple[str, ...], as_json: bool) -> None:
    """Quantize SPEC's model; with --sensitivity, print its most quantization-sensitive nodes instead."""
    from dataclasses import asdict

    from rich.table import Table

    from edgeconv.api.sensitivity import only_precision
    from edgeconv.api.sensitivity import sensitivity as rank
    from edgeconv.progress.display import StageProgress

    if not sensitivity:
        ctx.invoke(build, spec=spec, out=out, targets=(), overrides=(*overrides, only_precision(precision)),
                   no_cache=False, as_json=as_json)
        return
    loaded = load(spec, overrides, out)
    with StageProgress(stderr, quiet=as_json) as progress:
        ranking = rank(loaded, precision, out, on_event=progress.event)[:top]
    if as_json:
        click.echo(json.dumps([asdict(r) for r in ranking]))
        return
    table = Table(title=f"most sensitive nodes ({precision}): relative output error each adds", title_justify="left")
    for column in ("#", "node", "op", "error added", "output error"):
        table.add_column(column, justify="right" if column in ("#", "error added", "output error") else "left")
    for i, r in enumerate(ranking, start=1):
        figures = (f"{r.score:.4f}", f"{r.output_error:.4f}") if r.measured else ("–", "not compared")
        table.add_row(str(i), r.name, r.op_type, *figures)
    stdout.print(table)
