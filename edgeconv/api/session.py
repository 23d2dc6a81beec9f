"""One build's shared start: data, the fp32 reference (exported and verified), and the stages they live in.

Every artifact of a build, a prune level or a sweep point is compared with this session's reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv import versions
from edgeconv.api.device_assets import write_device_assets
from edgeconv.api.measure import FIRST, measure_artifact, without_first
from edgeconv.api.prepare import Prepared, prepare
from edgeconv.backends import BuildContext
from edgeconv.cache.remote import remote_cache
from edgeconv.cache.stages import Stages
from edgeconv.data.feeds import TARGETS_FILE, save_targets, targets_sha256
from edgeconv.export.parity import PARITY_FIGURES
from edgeconv.fsutil import sha256_file
from edgeconv.machine import physical_cores
from edgeconv.results import ArtifactResult, RunnerRecord, RunnerSpec, Timing
from edgeconv.spec import Spec

Event = Callable[[str, str], None]
REFERENCE_RUNNER = "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner"


def export_reference(spec: Spec, prepared: Prepared, stages: Stages) -> tuple[Path, dict[str, Any]]:
    """The fp32 ONNX reference: exported from torch (with parity) or the given ONNX file."""
    key = {
        # Content, not paths: the same model in another clone or folder hits the same cache entry.
        "model": spec.model.model_dump(exclude={"text", "path", "adapter", "preprocessor", "image"}, mode="json"),
        "sources": prepared.io.source_sha256,
        "export": spec.export.model_dump(), "eval": prepared.eval_sha256, "parity": PARITY_FIGURES,
        "versions": {p: versions.of(p) for p in ("edgeconv", "torch", "transformers", "peft", "onnx", "onnxslim")},
    }

    def produce(folder: Path) -> dict[str, Any]:
        out = folder / "model.onnx"
        if spec.model.source == "onnx":
            from edgeconv.export.onnx_import import import_onnx
            from edgeconv.export.parameters import onnx_parameters
            from edgeconv.spec.source import resolve_model_path

            record = import_onnx(Path(resolve_model_path(spec.model.path)), out, prepared.evaluation, spec.model.task)
            return {"file": out.name, "parity": record.pop("parity"), "import": record,
                    "parameters": onnx_parameters(out)}
        from edgeconv.compress.prune import count_params
        from edgeconv.export import export_onnx
        from edgeconv.models import load_model

        loaded = load_model(spec.model)
        result = export_onnx(loaded, prepared.evaluation, out, spec.export, task=spec.model.task)
        return {"file": out.name, "parity": result.parity, "parameters": count_params(loaded.module)}

    folder, meta = stages.run("export", key, produce)
    return folder / meta["file"], meta


@dataclass
class Session:
    """The shared state of one build: stages, feeds, the reference and its outputs."""

    spec: Spec
    prepared: Prepared
    stages: Stages
    feeds_file: Path
    reference: ArtifactResult
    reference_outputs: dict[str, np.ndarray]  # every output of the reference (FIRST: the first, whole)
    export_meta: dict[str, Any]
    ctx: BuildContext
    prune: dict[str, Any] | None = None  # the PruneRecord when the backends build from a pruned model
    timing: dict[str, Any] | None = None  # the last interleaved pass's record (rounds, load)


def open_session(spec: Spec, prepared: Prepared, stages: Stages) -> Session:
    """Data, export and the reference's own verification: what every artifact is compared with."""

    def save_feeds(folder: Path) -> dict[str, Any]:
        prepared.evaluation.save(folder / "eval.npz")
        if prepared.calibration is not None:
            prepared.calibration.save(folder / "calibration.npz")
        if prepared.evaluation.targets:  # the labelled boxes or masks: `compare` scores builds image by image
            save_targets(prepared.evaluation.targets, folder / TARGETS_FILE)
        return {"eval_sha256": prepared.eval_sha256, "calibration_sha256": prepared.calib_sha256}

    key = {"eval": prepared.eval_sha256, "calib": prepared.calib_sha256}
    key.update({"targets": targets_sha256(prepared.evaluation.targets)} if prepared.evaluation.targets else {})
    data_folder, _ = stages.run("data", key, save_feeds)
    write_device_assets(spec, prepared, stages.out)
    feeds_file = data_folder / "eval.npz"
    reference_path, export_meta = export_reference(spec, prepared, stages)
    reference_sha = sha256_file(reference_path)
    parameters = export_meta.get("parameters")  # None from an export cached before exports counted them
    runner = RunnerSpec(REFERENCE_RUNNER, {"path": str(reference_path), "threads": physical_cores()})
    measurement, outputs, facts = measure_artifact(stages, "reference", runner, reference_sha, feeds_file, prepared,
                                                spec, None)
    reference = ArtifactResult(
        target="reference", backend="onnxruntime", precision="fp32", path=str(reference_path),
        sha256=reference_sha, size_bytes=artifact_size(reference_path), measurement=measurement,
        parameters=parameters,
        accuracy_delta=None if measurement.metric_value is None else 0.0,
        speedup_vs_reference=1.0,
        timing=Timing.model_validate(facts["timing"]), runner=RunnerRecord.of(runner),
    )
    ctx = BuildContext(spec, stages, reference_path, reference_sha, prepared.io.family,
                       prepared.calibration, prepared.calib_sha256, prepared.evaluation, prepared.eval_sha256,
                       outputs[FIRST], torch_loader(spec), without_first(outputs), parameters=parameters)
    session = Session(spec, prepared, stages, feeds_file, reference, outputs, export_meta, ctx)
    if spec.prune is None or spec.prune.auto is not None:  # prune.auto: the levels are candidates beside it
        return session
    return with_pruned(session, spec.prune, stages)


def with_pruned(session: Session, prune: Any, stages: Stages) -> Session:
    """The session whose backends build from the pruned model's ONNX; the reference stays the unpruned one.

    ``stages`` is where the pruned model and its artifacts go (a sweep gives each ratio its own folder).
    """
    from edgeconv.api.prune_stage import pruned_reference

    pruned = pruned_reference(session.spec, prune, session.prepared, stages, session.ctx.torch_model)
    # Pruned heads no longer match the config's head count: let ORT's optimizer read them per layer.
    family = replace(session.ctx.family, num_heads=0, hidden_size=0)
    ctx = replace(session.ctx, stages=stages, reference_onnx=pruned.onnx, reference_sha256=pruned.sha256,
                  family=family, torch_model=pruned.torch_model, torch_pruned=pruned.weights_sha256,
                  parameters=pruned.record.get("params_after"))
    return replace(session, stages=stages, ctx=ctx, prune=pruned.record)


def stages_for(spec: Spec, out: Path, use_cache: bool, on_event: Event | None) -> Stages:
    """The build's stages: the local cache, and the spec's (or $EDGECONV_CACHE_URL's) remote cache if any."""
    return Stages(out, use_cache=use_cache, on_event=on_event,
                  remote=remote_cache(spec.cache.url if spec.cache else None))


def reference_session(spec: Spec, out: Path, use_cache: bool = True, on_event: Event | None = None) -> Session:
    """Data, export and the verified reference (and the pruned model if ``spec.prune``): a build's shared start."""
    return open_session(spec, prepare(spec), stages_for(spec, Path(out), use_cache, on_event))


def torch_loader(spec: Spec) -> Callable[[], Any]:
    """Load the torch model once, on first use (cached builds never pay for it; a Ray task builds its own)."""
    from functools import cache

    from edgeconv.models import load_model

    return cache(lambda: load_model(spec.model))


def artifact_files(path: Path) -> list[Path]:
    """An artifact file and its sidecar, if any: ONNX external data, or an OpenVINO IR's weights."""
    sidecar = path.with_suffix(".bin") if path.suffix == ".xml" else path.with_name(path.name + ".data")
    return [path, sidecar] if sidecar.exists() else [path]


def artifact_size(path: Path) -> int:
    """Bytes of an artifact file plus its sidecar, if any."""
    return sum(f.stat().st_size for f in artifact_files(path))
