"""`edgeconv bundle OUT_DIR` (one archive per target) and `edgeconv bundle verify FILE` (exit 2 on mismatch)."""

from __future__ import annotations

from pathlib import Path

import click

from edgeconv.bundle.make import make_bundle, targets_of, verify_bundle
from edgeconv.compare.load import read_report
from edgeconv.errors import SpecError


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
@click.option("--dest", type=click.Path(path_type=Path, file_okay=False), help="Folder for the archives "
              "(default: OUT_DIR/bundles).")
@click.option("--spec", "spec_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="The build's edgeconv.yaml, to record preprocessing in the bundle.")
@click.option("--include-failed", is_flag=True, help="Also bundle artifacts that failed a budget.")
def make_command(out_dir: Path, targets: tuple[str, ...], dest: Path | None, spec_file: Path | None,
                 include_failed: bool) -> None:
    """Write OUT_DIR's passing artifacts as <name>-<target>.tar.gz, one per target, and print their paths."""
    spec = None
    if spec_file is not None:
        from edgeconv.spec import load_spec

        spec = load_spec(spec_file)
    names = list(targets) or targets_of(read_report(out_dir / "report.json"))
    made = []
    for target in names:
        try:
            made.append(make_bundle(out_dir, target, dest or out_dir / "bundles", include_failed, spec))
        except SpecError as exc:
            if targets or "passed its budgets" not in exc.message:
                raise
            click.echo(f"skipped {target}: {exc.message}", err=True)
    if not made:
        raise SpecError(f"no target of '{out_dir}' has an artifact that passed its budgets",
                        fix="fix the build, or pass --include-failed")
    for path in made:
        click.echo(str(path))


@bundle_group.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
def verify_command(file: Path) -> None:
    """Check every file of bundle FILE against its manifest's sha256; exit 2 if any does not match."""
    manifest = verify_bundle(file)
    click.echo(f"ok: {file} ({len(manifest['files'])} files match the manifest of {manifest.get('bundle')})")
