"""The `edgeconv` command line: a thin Click layer over edgeconv.api.pipeline.

Errors become one line on stderr and the documented exit code (see edgeconv.errors.ExitCode);
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import click
from rich.console import Console
from rich.markup import escape

from edgeconv import __version__
from edgeconv.errors import EdgeconvError, ExitCode, RuntimeUnavailable, SpecError

stdout = Console(width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True)

spec_argument = click.argument("spec", type=click.Path(path_type=Path))
out_option = click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: the spec's output).")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a spec field, e.g. --set budgets.accuracy_drop=0.005 (repeatable).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


class Group(click.Group):
    """Maps EdgeconvError to its exit code with one readable line; --debug re-raises.

    Commands that live beside the features they drive are imported only when invoked, so
    `edgeconv build` does not import (or need) what `edgeconv device` uses (asyncssh).
    """

    lazy: ClassVar[dict[str, str]] = {
        "compare": "edgeconv.cli.compare:compare_command",
        "bundle": "edgeconv.cli.bundle:bundle_group",
        "ci": "edgeconv.cli.scale:ci_group",
        "merge": "edgeconv.cli.scale:merge_command",
        "device": "edgeconv.cli.device:device_group",
        "init": "edgeconv.cli.init:init_command",
        "prune": "edgeconv.cli.prune:prune_command",
        "serve": "edgeconv.cli.serve:serve_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            import importlib

            module, _, attr = self.lazy[name].partition(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except ImportError as exc:
                extra = {"device": "ssh"}.get(name, "dev")
                raise RuntimeUnavailable(f"`edgeconv {name}` needs {exc.name}",
                                         fix=f"pip install 'edgeconv[{extra}]'") from exc
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeconvError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            stderr.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            stderr.print("interrupted: finished stages are kept and reused by the next run")
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise  # click's own control flow (--help, usage errors)
        except Exception as exc:  # a crash outside any stage: one line and a log file, never a traceback
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from edgeconv.errors.failures import contain

            out = (ctx.obj or {}).get("out") or _fallback_log_root()
            error = contain(f"edgeconv {ctx.invoked_subcommand or 'command'}", exc, out)
            stderr.print(f"[bold red]error:[/] {error}", markup=True, highlight=False, soft_wrap=True)
            ctx.exit(int(error.exit_code))


def _fallback_log_root() -> Path:
    """Where a crash's log goes before a spec named an output folder: the stage cache's folder."""
    from edgeconv.cache.stages import cache_root

    return cache_root()


@click.group(cls=Group)
@click.version_option(__version__, prog_name="edgeconv")
@click.option("--debug", is_flag=True, help="Show tracebacks and library logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Take a fine-tuned model to an edge device, and prove each artifact against your budgets."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if not debug:
        _quiet_libraries()


def _quiet_libraries() -> None:
    import logging
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # converters' and quantizers' bars: edgeconv draws its own progress
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    try:  # ONNX Runtime's C++ warnings (unused initializers in users' files) are not the user's to act on
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
    except ImportError:
        pass


def library_prints_to_stderr() -> Any:
    """Libraries' print() calls (ORT's calibrators, converters' progress) go to stderr while a build runs, so
    stdout holds only edgeconv's results (and --json stays parseable)."""
    import contextlib

    return contextlib.redirect_stdout(sys.stderr)


def _load(spec: Path, overrides: tuple[str, ...], out: Path | None = None) -> Any:
    """The validated spec; its output folder is where a crash's log goes from here on."""
    from edgeconv.spec import load_spec

    loaded = load_spec(spec, list(overrides))
    context = click.get_current_context()
    context.ensure_object(dict)
    context.obj["out"] = Path(out or loaded.output)
    return loaded


@main.command()
@spec_argument
@out_option
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Build only these targets (repeatable).")
@click.option("--device", metavar="CLASS", help="Build every target profile of this device class (x86-64, arm64, "
              "nvidia-gpu, ...) this machine can build, in every precision, and choose one across them.")
@click.option("--shard", metavar="I/N", help="Build only shard I of N of the target x precision matrix; join the "
              "shards with `edgeconv merge` (see `edgeconv ci matrix`).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", metavar="[ADDRESS]",
              help="Run the searches' independent trials as Ray tasks: on the cluster at ADDRESS, or on a Ray "
              "started here (no ADDRESS). Timings stay on this machine. Needs edgeconv[ray].")
@set_option
@click.option("--no-cache", is_flag=True, help="Re-run every stage even if its inputs did not change.")
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
    from edgeconv.compress.trials import on_ray
    from edgeconv.progress.display import StageProgress

    loaded = _load(spec, overrides, out)
    if device and targets:
        raise SpecError("--device and --target both choose the targets", fix="give one of them")
    part = None if shard is None else Shard.parse(shard)
    with (StageProgress(stderr, quiet=as_json) as progress, library_prints_to_stderr(),
          on_ray(ray_address) if ray_address else contextlib.nullcontext() as ray_record):
        result = run_build(loaded, out=out, targets=list(targets) or None, use_cache=not no_cache,
                           on_event=progress.event, device=device, shard=part)
    result.ray = ray_record
    code = print_result(result, as_json)
    if baseline is not None:
        from edgeconv.compare.gate import gate_on_baseline

        comparison = gate_on_baseline(result, baseline, loaded)
        if not as_json:
            verdict = (f"[red]{len(comparison.regressions)} regression(s)[/]: "
                       + ", ".join(f"{a.label} {m.metric}" for a, m in comparison.regressions)
                       if comparison.regressed else "[green]no regression[/]")
            stdout.print(f"against {baseline}: {verdict} (see compare.md)")
        if comparison.regressed and code == ExitCode.OK:
            code = ExitCode.BUDGET_FAILED
    sys.exit(int(code))


def print_result(result: Any, as_json: bool) -> ExitCode:
    """Write the reports, print the table (or the JSON) and return the build's exit code."""
    from edgeconv.report import write_reports
    from edgeconv.report.format import loaded_note
    from edgeconv.report.table import results_table

    paths = write_reports(result, Path(result.out_dir))
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
    else:
        stdout.print(results_table(result))
        for a, b in result.failed_budgets:  # escaped: budget names hold [output] and rich reads [..] as markup
            stdout.print(f"[red]budget failed[/] {escape(f'{a.label}: {b.name} {b.shortfall}')}", highlight=False)
        note = loaded_note(result.timing)
        if note:
            stdout.print(f"[yellow]timing[/] {escape(note)}", highlight=False)
        for a in result.artifacts:
            for warning in a.extra.get("warnings", []):
                stdout.print(f"[yellow]warning[/] {escape(f'{a.label}: {warning}')}", highlight=False)
        for choice in result.selections:
            stdout.print(f"[bold]auto[/] {choice['target']}: {choice['precision'] or 'none'}: {choice['reason']}")
        if result.shard:
            stdout.print(f"shard {result.shard['index']}/{result.shard['count']}: {', '.join(result.shard['cells'])}"
                         " (choices are made by `edgeconv merge` over every shard)", highlight=False)
        stdout.print(f"reports: {paths['json']}  {paths['markdown']}  {paths['junit']}")
    return exit_code_of(result)


def exit_code_of(result: Any) -> ExitCode:
    if any(a.status == "error" for a in result.artifacts):
        return ExitCode.STAGE_FAILED
    return ExitCode.OK if result.passed else ExitCode.BUDGET_FAILED


@main.command()
@spec_argument
@out_option
@set_option
@json_option
def export(spec: Path, out: Path | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Export SPEC's model to the fp32 ONNX reference and check it against torch."""
    from edgeconv.api import export_only
    from edgeconv.progress.display import StageProgress

    loaded = _load(spec, overrides, out)
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


@main.command()
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
    from edgeconv.report import write_reports
    from edgeconv.report.table import results_table

    loaded = _load(spec, overrides, out)
    with StageProgress(stderr, quiet=as_json) as progress, library_prints_to_stderr():
        result = verify_artifact(loaded, artifact, target, precision, out, on_event=progress.event)
    write_reports(result, Path(result.out_dir))
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
    else:
        stdout.print(results_table(result))
    sys.exit(int(exit_code_of(result)))


@main.command()
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

    from edgeconv.api.sensitivity import sensitivity as rank
    from edgeconv.progress.display import StageProgress

    if not sensitivity:
        ctx.invoke(build, spec=spec, out=out, targets=(), overrides=(*overrides, _only(precision)), no_cache=False,
                   as_json=as_json)
        return
    loaded = _load(spec, overrides, out)
    with StageProgress(stderr, quiet=as_json) as progress:
        ranking = rank(loaded, precision, out, on_event=progress.event)[:top]
    if as_json:
        click.echo(json.dumps([asdict(r) for r in ranking]))
        return
    table = Table(title=f"most sensitive nodes ({precision}): relative output error each adds", title_justify="left")
    for column in ("#", "node", "op", "error added", "output error"):
        table.add_column(column, justify="right" if column in ("#", "error added", "output error") else "left")
    for i, r in enumerate(ranking, start=1):
        table.add_row(str(i), r.name, r.op_type, f"{r.score:.4f}", f"{r.output_error:.4f}")
    stdout.print(table)


def _only(precision: str) -> str:
    """A --set override limiting the spec's first target to one precision."""
    return f"targets.0.precisions=[{precision}]"


@main.group()
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


@main.command()
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


@main.command()
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
