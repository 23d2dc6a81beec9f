"""Measure one artifact through the verify stage (here or on a board) and score it against the reference.

A latency figure is only as good as the machine it was taken on: the stage's cache key holds this
machine's fingerprint (CPU model, int8 ISA flags, cores; runtime versions and threads are in the key
already), so a figure cached on another machine is never reused as local, and each result says whether
its timing was measured now or reused, and when.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv import versions
from edgeconv.api.prepare import Prepared
from edgeconv.cache.stages import Stages
from edgeconv.machine import fingerprint
from edgeconv.models.tasks import is_classification
from edgeconv.results import RunnerSpec
from edgeconv.spec import Spec
from edgeconv.spec.targets import TargetProfile
from edgeconv.verify.measure import load_outputs, run_worker, score


def measure_artifact(
    stages: Stages, name: str, runner: RunnerSpec, artifact_sha: str, feeds_file: Path, prepared: Prepared,
    spec: Spec, reference: dict[str, np.ndarray] | None, profile: TargetProfile | None = None,
) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    """Run (or reuse) the verify worker for one artifact, here or on the profile's device, and score it
    against ``reference`` (every output of the fp32 reference; None for the reference itself).

    Returns the measurement, every output (``FIRST`` holds the first in full), and the facts of where it
    ran: ``timing`` (measured now or reused, when, on which machine) and, on a board, the device's.
    """
    device = profile.device if profile is not None else None
    key = {
        "artifact": artifact_sha, "runner": runner.runner,
        "kwargs": {k: v for k, v in runner.kwargs.items() if k != "path"},
        "eval": prepared.eval_sha256,
        "latency": spec.latency.model_dump(exclude={"shape"}),  # the worker times padded whatever the shape
        "versions": versions.all_versions(),
        "device": device.model_dump(mode="json") if device else None,
        "machine": fingerprint() if device is None else None,  # a board is named by "device"
    }
    produced: list[bool] = []

    def produce(tmp: Path) -> dict[str, Any]:
        produced.append(True)
        if device is None:
            measured = run_worker(runner, feeds_file, spec.latency, tmp, name)
        else:
            from edgeconv.remote import verify_remote

            measured = verify_remote(profile, runner, Path(runner.kwargs["path"]), feeds_file, spec.latency, tmp)
        return {**measured, "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}

    folder, result = stages.run(f"verify/{name}", key, produce)
    first, outputs = np.load(folder / "outputs.npy"), load_outputs(folder)
    classes = is_classification(spec.model.task)  # top-1 agreement: classifiers only
    measured = score(result, first, prepared.evaluation.labels, prepared.io.labels,
                     None if reference is None else reference[FIRST], classes=classes,
                     all_outputs=outputs, reference_all=without_first(reference), budgets=spec.budgets,
                     metric=spec.evaluation.metric, custom=prepared.metric,
                     detection=spec.evaluation.detection if spec.model.task == "detection" else None,
                     segmentation=spec.evaluation.segmentation if spec.model.task == "segmentation" else None,
                     targets=prepared.evaluation.targets)
    facts = {k: result[k] for k in ("device", "tegrastats", "remote") if k in result}
    facts["timing"] = {"fresh": bool(produced), "measured_at": result.get("measured_at"),
                       "machine": key["machine"] or {"device": key["device"]}}
    return measured, {**outputs, FIRST: first}, facts


FIRST = "__first__"  # key of the first output, kept whole even when its shape varies between examples


def without_first(outputs: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    return None if outputs is None else {k: v for k, v in outputs.items() if k != FIRST}
