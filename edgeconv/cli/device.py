"""``edgeconv device probe|verify``: a board over SSH (docs/remote.md).

Errors are EdgeconvErrors (RemoteError carries the status), mapped to exit codes by the main group.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from edgeconv.backends import BuiltArtifact, get_backend
from edgeconv.remote.errors import UNMET_REQUIREMENTS, RemoteError
from edgeconv.remote.probe import unmet_requirements
from edgeconv.remote.verify import device_of, probe_device, verify_remote
from edgeconv.spec import LatencySpec
from edgeconv.spec.targets import get_profile


@click.group("device")
def device_group() -> None:
    """Probe a target's device over SSH, or verify an artifact there."""


@device_group.command("probe")
@click.argument("target")
def probe_command(target: str) -> None:
    """Describe TARGET's device (arch, L4T, TensorRT, runtimes, power mode, clocks, disk); check it runs TARGET."""
    profile = get_profile(target)
    config = device_of(profile)
    facts = probe_device(config)
    gaps = unmet_requirements(facts, config, profile.backend, list(profile.requires))
    click.echo(json.dumps({"device": config.label, "facts": facts, "gaps": gaps}, indent=2))
    if gaps:
        raise RemoteError(UNMET_REQUIREMENTS, f"{config.label} cannot run {target}: {'; '.join(gaps)}")


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
    from edgeconv.verify.metrics import latency_summary

    profile = get_profile(target)
    runner = get_backend(profile.backend).runner_spec(BuiltArtifact(artifact), profile)
    result = verify_remote(profile, runner, artifact, feeds, LatencySpec(runs=runs), out)
    summary = {"device": result["remote"]["device"], "latency_ms": latency_summary(result["timings_s"]),
               "peak_memory_mb": round(result["peak_rss_mb"], 1), "tegrastats": result["tegrastats"]}
    with np.load(feeds) as data:
        if "__labels__" in data.files:
            outputs = np.load(out / "outputs.npy")
            summary["accuracy"] = float((outputs.argmax(-1) == data["__labels__"]).mean())
    click.echo(json.dumps(summary, indent=2))
