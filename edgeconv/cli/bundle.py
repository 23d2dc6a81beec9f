"""`edgeconv bundle OUT_DIR` (one archive per target) and `edgeconv bundle verify FILE` (exit 2 on mismatch)."""

from __future__ import annotations

from pathlib import Path

import click

from edgeconv.bundle.every import make_bundles
from edgeconv.bundle.make import verify_bundle


class BundleGroup(click.Group):
    """`bundle OUT_DIR` is short for `bundle make OUT_DIR`; `bundle verify FILE` is the subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["make", *args]
        return super().parse_args(ctx, args)


@click.group("bundle", cls=BundleGroup)
def bundle_group() -> None:
    """Pack a build into one reproducible archive per target, or verify one before flashing."""


@bundle_group.command("make")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Bundle only this target (repeatable).")
@click.option("--precision", "precisions", multiple=True, metavar="P",
              help="Bundle this precision (repeatable; default: the build's choice for each target).")
@click.option("--all", "every", is_flag=True, help="Bundle every artifact of the target that passed.")
@click.option("--dest", type=click.Path(path_type=Path, file_okay=False), help="Folder for the archives "
              "(default: OUT_DIR/bundles).")
@click.option("--include-failed", is_flag=True, help="Also bundle artifacts that failed a budget.")
def make_command(out_dir: Path, targets: tuple[str, ...], precisions: tuple[str, ...], every: bool,
                 dest: Path | None, include_failed: bool) -> None:
    """Write OUT_DIR's chosen artifact per target, with run.py, its requirements, the preprocessing files and
    a golden set, as <name>-<target>.tar.gz; print each path (and its size on stderr)."""
    done = make_bundles(out_dir, list(targets) or None, dest, include_failed, list(precisions) or None, every)
    for target, why in done.skipped:
        click.echo(f"skipped {target}: {why}", err=True)
    done.check()
    for path in done.made:  # stdout: one path per line, for scripts; the sizes go to stderr
        click.echo(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB", err=True)
        click.echo(str(path))


@bundle_group.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
def verify_command(file: Path) -> None:
    """Check every file of bundle FILE against its manifest's sha256; exit 2 if any does not match."""
    manifest = verify_bundle(file)
    click.echo(f"ok: {file} ({len(manifest['files'])} files match the manifest of {manifest.get('bundle')})")
