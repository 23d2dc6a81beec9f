"""``edgeconv device probe|verify``: a board over SSH (docs/remote.md), each one library call
(``edgeconv.api.on_device``) and its JSON printed.

Errors are EdgeconvErrors (RemoteError carries the status), mapped to exit codes by the main group.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeconv.api.on_device import probe_target, verify_on_device


@click.group("device")
def device_group() -> None:
    """Probe a target's device over SSH, or verify an artifact there."""


@device_group.command("probe")
@click.argument("target")
def probe_command(target: str) -> None:
    """Describe TARGET's device (arch, L4T, TensorRT, runtimes, power mode, clocks, disk); check it runs TARGET."""
    probe = probe_target(target)
    click.echo(json.dumps(probe.to_dict(), indent=2))
    probe.check()


@device_group.command("verify")
@click.argument("target")
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--feeds", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Evaluation feeds (.npz, e.g. out/data/eval.npz; labels under __labels__).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("device-verify"),
              show_default=True, help="Folder for outputs.npy, result.json and tegrastats.log.")
@click.option("--runs", type=click.IntRange(11), default=200, show_default=True)
def verify_command(target: str, artifact: Path, feeds: Path, out: Path, runs: int) -> None:
    """Verify ARTIFACT on TARGET's device; prints accuracy (when FEEDS has labels), latency and throttling."""
    click.echo(json.dumps(verify_on_device(target, artifact, feeds, out, runs), indent=2))
