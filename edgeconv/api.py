"""The library entry point: ``build(spec)`` runs every stage and returns what it measured.

The CLI is a thin layer over this module; nothing here prints (progress goes through ``on_event``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv import versions
from edgeconv.backends import BuildContext, RunnerSpec, get_backend
from edgeconv.data import FeedSet, make_feeds
from edgeconv.errors import EdgeconvError, RuntimeUnavailable, SpecError, StageError
from edgeconv.fsutil import sha256_file, sha256_json
from edgeconv.modelio import ModelIO, describe_model
from edgeconv.results import ERROR, FAILED, PASSED, SKIPPED, ArtifactResult, BuildResult
from edgeconv.spec import Spec, TargetRef
from edgeconv.stages import Stages
from edgeconv.targets import TargetProfile, get_profile
from edgeconv.verify.budgets import check_budgets
from edgeconv.verify.measure import run_worker, score

Event = Callable[[str, str], None]
REFERENCE_RUNNER = "edgeconv.backends.onnxruntime:OnnxRuntimeRunner"


@dataclass
class Prepared:
    """The model's description and its data, checked: everything before the first heavy stage."""

    io: ModelIO
    evaluation: FeedSet
    calibration: FeedSet | None
    eval_sha256: str
    calib_sha256: str | None


def select_targets(spec: Spec, names: list[str] | None) -> list[tuple[TargetProfile, list[str]]]:
    """The (profile, precisions) pairs to build; unknown names fail here, before any work."""
    refs = spec.targets
    if names:
        by_name = {t.name: t for t in spec.targets}
        refs = [by_name.get(n, TargetRef(name=n)) for n in names]
    return [get_profile(ref.name).for_build(ref) for ref in refs]


def feeds_sha256(feeds: FeedSet) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(feeds.inputs):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(feeds.inputs[name]).tobytes())
    if feeds.labels is not None:
        digest.update(feeds.labels.tobytes())
    return digest.hexdigest()


def prepare(spec: Spec) -> Prepared:
    """Describe the model and make the evaluation and calibration feeds (fails fast on bad data)."""
    io = describe_model(spec.model)
    evaluation = make_feeds(spec.evaluation, "evaluation", io.inputs, io.labels, spec.text_for(spec.evaluation),
                            io.preprocessor)
    if evaluation.labels is None:
        raise SpecError(f"the evaluation set '{spec.evaluation.path.name}' has no labels "
                        f"(no field '{spec.evaluation.label_field}')", fix="set evaluation.label_field")
    calibration = None
    if spec.calibration is not None:
        calibration = make_feeds(spec.calibration, "calibration", io.inputs, io.labels,
                                 spec.text_for(spec.calibration), io.preprocessor)
    return Prepared(io, evaluation, calibration, feeds_sha256(evaluation),
                    feeds_sha256(calibration) if calibration else None)


def export_reference(spec: Spec, prepared: Prepared, stages: Stages) -> tuple[Path, dict[str, Any]]:
    """The fp32 ONNX reference: exported from torch (with parity) or the given ONNX file."""
    key = {
        "model": spec.model.model_dump(exclude={"text"}, mode="json"), "sources": prepared.io.source_sha256,
        "export": spec.export.model_dump(), "eval": prepared.eval_sha256,
        "versions": {p: versions.of(p) for p in ("torch", "transformers", "peft", "onnx")},
    }

    def produce(folder: Path) -> dict[str, Any]:
        out = folder / "model.onnx"
        if spec.model.source == "onnx":
            from edgeconv.export.onnx_copy import copy_onnx

            copy_onnx(Path(spec.model.path), out)
            return {"file": out.name, "parity": None}
        from edgeconv.export import export_onnx
        from edgeconv.models import load_model

        loaded = load_model(spec.model)
        result = export_onnx(loaded, prepared.evaluation, out, spec.export)
        return {"file": out.name, "parity": result.parity}

    folder, meta = stages.run("export", key, produce)
    return folder / meta["file"], meta


def measure_artifact(
    stages: Stages, name: str, runner: RunnerSpec, artifact_sha: str, feeds_file: Path, prepared: Prepared,
    spec: Spec, reference: np.ndarray | None,
) -> tuple[Any, np.ndarray]:
    """Run (or reuse) the verify worker for one artifact and score it."""
    key = {
        "artifact": artifact_sha, "runner": runner.runner,
        "kwargs": {k: v for k, v in runner.kwargs.items() if k != "path"},
        "eval": prepared.eval_sha256, "latency": spec.latency.model_dump(), "versions": versions.all_versions(),
    }
    folder, result = stages.run(
        f"verify/{name}", key, lambda tmp: run_worker(runner, feeds_file, spec.latency, tmp, name)
    )
    outputs = np.load(folder / "outputs.npy")
    return score(result, outputs, prepared.evaluation.labels, prepared.io.labels, reference), outputs


def build(
    spec: Spec, out: Path | None = None, targets: list[str] | None = None, use_cache: bool = True,
    on_event: Event | None = None,
) -> BuildResult:
    out = Path(out or spec.output)
    selected = select_targets(spec, targets)
    prepared = prepare(spec)
    stages = Stages(out, use_cache=use_cache, on_event=on_event)

    def save_feeds(folder: Path) -> dict[str, Any]:
        prepared.evaluation.save(folder / "eval.npz")
        if prepared.calibration is not None:
            prepared.calibration.save(folder / "calibration.npz")
        return {"eval_sha256": prepared.eval_sha256, "calibration_sha256": prepared.calib_sha256}

    data_folder, _ = stages.run("data", {"eval": prepared.eval_sha256, "calib": prepared.calib_sha256}, save_feeds)
    feeds_file = data_folder / "eval.npz"
    reference_path, export_meta = export_reference(spec, prepared, stages)
    reference_sha = sha256_file(reference_path)

    reference_runner = RunnerSpec(REFERENCE_RUNNER, {"path": str(reference_path), "threads": _physical_cores()})
    ref_measure, ref_outputs = measure_artifact(
        stages, "reference", reference_runner, reference_sha, feeds_file, prepared, spec, None
    )
    reference = ArtifactResult(
        target="reference", backend="onnxruntime", precision="fp32", path=str(reference_path),
        sha256=reference_sha, size_bytes=_size(reference_path), measurement=ref_measure, accuracy_delta=0.0,
        speedup_vs_reference=1.0,
    )
    ctx = BuildContext(spec, stages, reference_path, reference_sha, prepared.io.model_type,
                       prepared.calibration, prepared.calib_sha256)
    artifacts = [
        _build_one(ctx, profile, precision, feeds_file, prepared, reference, ref_outputs)
        for profile, precisions in selected
        for precision in precisions
    ]
    manifest = {
        "spec_sha256": sha256_json(spec.model_dump(mode="json")),
        "versions": versions.all_versions(),
        "model": prepared.io.source_sha256,
        "evaluation": {"path": str(spec.evaluation.path), "sha256": sha256_file(spec.evaluation.path),
                       "feeds_sha256": prepared.eval_sha256, "examples": len(prepared.evaluation)},
        "calibration": None if spec.calibration is None else {
            "path": str(spec.calibration.path), "sha256": sha256_file(spec.calibration.path),
            "feeds_sha256": prepared.calib_sha256, "examples": len(prepared.calibration or [])},
        "reference": {"path": str(reference_path), "sha256": reference_sha},
        "artifacts": {a.label: {"path": a.path, "sha256": a.sha256} for a in artifacts if a.path},
    }
    evaluation = {"examples": len(prepared.evaluation), "metric": spec.evaluation.metric, "labels": prepared.io.labels}
    return BuildResult(spec.name, str(out), reference, artifacts, {"parity": export_meta["parity"]}, manifest,
                       evaluation)


def _build_one(
    ctx: BuildContext, profile: TargetProfile, precision: str, feeds_file: Path, prepared: Prepared,
    reference: ArtifactResult, ref_outputs: np.ndarray,
) -> ArtifactResult:
    backend = get_backend(profile.backend)
    result = ArtifactResult(target=profile.name, backend=backend.name, precision=precision)
    reason = backend.unavailable_reason(profile)
    if reason:
        if profile.required:
            raise RuntimeUnavailable(f"required target '{profile.name}' cannot run here: {reason}")
        result.status, result.reason = SKIPPED, reason
        return result
    try:
        built = backend.build(ctx, profile, precision)
        result.path, result.sha256, result.size_bytes = str(built.path), sha256_file(built.path), _size(built.path)
        result.quantization, result.extra = built.quantization, built.extra
        measurement, _ = measure_artifact(
            ctx.stages, f"{profile.name}-{precision}", backend.runner_spec(built, profile), result.sha256,
            feeds_file, prepared, ctx.spec, ref_outputs,
        )
    except StageError as exc:
        result.status, result.reason = ERROR, str(exc)
        return result
    except EdgeconvError:
        raise
    assert reference.measurement is not None
    ref = reference.measurement
    result.measurement = measurement
    metric = ctx.spec.evaluation.metric
    result.accuracy_delta = getattr(measurement, metric) - getattr(ref, metric)
    result.speedup_vs_reference = ref.latency_ms["p50"] / measurement.latency_ms["p50"]
    result.budgets = check_budgets(ctx.spec.budgets, {
        "accuracy_drop": max(0.0, -result.accuracy_delta), "agreement": measurement.agreement,
        "latency_ms": measurement.latency_ms, "size_bytes": result.size_bytes,
    })
    result.status = PASSED if all(b.passed for b in result.budgets) else FAILED
    return result


def _size(path: Path) -> int:
    """Bytes of an artifact file plus its external-data sidecar, if any."""
    sidecar = path.with_name(path.name + ".data")
    return path.stat().st_size + (sidecar.stat().st_size if sidecar.exists() else 0)


def _physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or 1
