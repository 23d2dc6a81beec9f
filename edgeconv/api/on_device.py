"""`edgeconv device probe|verify` as library calls: a target's board over SSH (docs/remote.md).

Here rather than in ``remote/`` because the runner an artifact needs comes from its backend, a layer above the
SSH link; the accuracy is ``verify.metrics``' own, so a board's figure is the build's figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.backends import BuiltArtifact, get_backend
from edgeconv.data.feeds import LABELS_KEY
from edgeconv.spec import LatencySpec
from edgeconv.spec.targets import get_profile


@dataclass
class Probe:
    """What a target's device is, and what it lacks to run the target."""

    target: str
    device: str
    facts: dict[str, Any]
    gaps: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "facts": self.facts, "gaps": self.gaps}

    def check(self) -> None:
        """Raise RemoteError (unmet requirements) when the device cannot run the target."""
        from edgeconv.remote.errors import UNMET_REQUIREMENTS, RemoteError

        if self.gaps:
            raise RemoteError(UNMET_REQUIREMENTS, f"{self.device} cannot run {self.target}: {'; '.join(self.gaps)}")


def probe_target(target: str) -> Probe:
    """Connect to ``target``'s device and describe it (arch, L4T, TensorRT, runtimes, power mode, clocks, disk)."""
    from edgeconv.remote.probe import unmet_requirements
    from edgeconv.remote.verify import device_of, probe_device

    profile = get_profile(target)
    config = device_of(profile)
    facts = probe_device(config)
    return Probe(target, config.label, facts,
                 unmet_requirements(facts, config, profile.backend, list(profile.requires)))


def verify_on_device(target: str, artifact: Path, feeds: Path, out: Path, runs: int = 200) -> dict[str, Any]:
    """Run ``artifact`` on ``target``'s device over ``feeds`` (an eval.npz; labels under ``__labels__``): outputs.npy,
    result.json and tegrastats.log in ``out``; returns the device, latency, peak memory, throttling, and the
    accuracy when the feeds are labelled."""
    from edgeconv.remote.verify import verify_remote
    from edgeconv.verify.metrics import classification_metrics, latency_summary

    profile = get_profile(target)
    runner = get_backend(profile.backend).runner_spec(BuiltArtifact(Path(artifact)), profile)
    result = verify_remote(profile, runner, Path(artifact), Path(feeds), LatencySpec(runs=runs), Path(out))
    summary = {"device": result["remote"]["device"], "latency_ms": latency_summary(result["timings_s"]),
               "peak_memory_mb": round(result["peak_rss_mb"], 1), "tegrastats": result["tegrastats"]}
    with np.load(feeds) as data:
        if LABELS_KEY in data.files:
            outputs = np.load(Path(out) / "outputs.npy")
            summary["accuracy"] = classification_metrics(outputs, data[LABELS_KEY], [])["accuracy"]
    return summary
