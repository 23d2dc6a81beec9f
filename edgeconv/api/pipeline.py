"""The library entry point: ``build(spec)`` runs every stage, writes its reports and returns what it measured.

The CLI is a thin layer over this module; nothing here prints (progress goes through ``on_event``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.api.device_class import device_targets
from edgeconv.api.measure import measure_artifact
from edgeconv.api.outcome import finish, within_ray
from edgeconv.api.prepare import prepare
from edgeconv.api.session import (
    Event,
    Session,
    artifact_files,
    artifact_size,
    export_reference,
    open_session,
    stages_for,
)
from edgeconv.api.shard import Shard, take
from edgeconv.backends import BuiltArtifact, get_backend
from edgeconv.choose import oversubscribed, selections_of, slower_than_reference
from edgeconv.errors import NothingToDo, RuntimeUnavailable, SpecError
from edgeconv.errors.failures import contained
from edgeconv.fsutil import sha256_file, sha256_json, sha256_tree
from edgeconv.machine import physical_cores, report_facts
from edgeconv.results import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    ArtifactResult,
    BackendFacts,
    BuildResult,
    PruneFacts,
    RemoteFacts,
    RunnerRecord,
    RunnerSpec,
    Timing,
    row_label,
)
from edgeconv.spec import AUTO, Spec, TargetRef
from edgeconv.spec.targets import CALIBRATED, TargetProfile, get_profile
from edgeconv.verify.budgets import check_budgets
from edgeconv.verify.measure import verify_stage
from edgeconv.verify.retime import retime


def select_targets(spec: Spec, names: list[str] | None) -> list[tuple[TargetProfile, list[str]]]:
    """The (profile, precisions) pairs to build; unknown names fail here, before any work."""
    refs = spec.targets
    if names:
        by_name = {t.name: t for t in spec.targets}
        refs = [by_name.get(n, TargetRef(name=n)) for n in names]
    return [get_profile(ref.name).for_build(ref) for ref in refs]


def build(
    spec: Spec, out: Path | None = None, targets: list[str] | None = None, use_cache: bool = True,
    on_event: Event | None = None, device: str | None = None, shard: Shard | None = None,
    baseline: Path | None = None, ray: str | None = None,
) -> BuildResult:
    """Build and verify ``targets`` (default: the spec's); ``device``: every profile of that device class this
    machine can build, every precision each builds, and one choice across them all; ``shard``: only this
    shard's cells, the choices left to `edgeconv merge`.

    Writes every report into ``out``, as `edgeconv build` does; ``baseline`` (an earlier report.json or build
    folder): then the gate against it (``result.gate``, compare.md). ``ray``: the searches' trials on Ray at this
    address ("local": a Ray started here). ``outcome.exit_code(result)`` is the command's exit code.
    """
    if device and targets:
        raise SpecError("--device and --target both choose the targets", fix="give one of them")
    if spec.model.task == "text-generation":  # decoder LMs: their own stages and measurements (api/generative)
        from edgeconv.api.generative import build_generative

        if shard is not None:
            raise SpecError("--shard does not cover task text-generation yet", fix="build without --shard")
        matrix = plan(spec, targets, device)
        return finish(build_generative(spec, Path(out or spec.output), matrix.selected, matrix.auto_targets,
                                       matrix.device, matrix.left_out, use_cache, on_event), spec, baseline)
    with within_ray(ray):
        return finish(_build(spec, Path(out or spec.output), targets, use_cache, on_event, device, shard),
                      spec, baseline)


def _build(spec: Spec, out: Path, targets: list[str] | None, use_cache: bool, on_event: Event | None,
           device: str | None, shard: Shard | None) -> BuildResult:
    matrix = plan(spec, targets, device)
    selected, device, left_out, auto_targets = matrix.selected, matrix.device, matrix.left_out, matrix.auto_targets
    shard_record = None
    if shard is not None:
        selected, shard_record = take(selected, shard)
    prepared = prepare(spec)
    session = open_session(spec, prepared, stages_for(spec, out, use_cache, on_event))
    rows = build_artifacts(session, selected, judge=False)
    pruned: dict[str, Any] = {}
    if spec.prune is not None and spec.prune.auto is not None:
        from edgeconv.api.prune_levels import pruned_candidates

        more, pruned["prune_candidates"] = pruned_candidates(
            session, selected, lambda level, chosen: build_artifacts(level, chosen, judge=False))
        rows += more
    artifacts = _judge_all(session, rows)
    result = _result(spec, out, session, artifacts)
    if shard_record is not None:  # the choices need every shard's rows: `edgeconv merge` makes them
        result.shard = {**shard_record, "device": device, "auto_targets": auto_targets, "left_out": left_out,
                        **pruned}
        return result
    result.selections = selections_of(artifacts, device, auto_targets, left_out, pruned)
    return result


@dataclass
class Plan:
    """What a build will build: (profile, precisions) pairs, and the choices it makes over them."""

    selected: list[tuple[TargetProfile, list[str]]]
    device: str | None  # a device build: one choice across every runtime of this class
    left_out: list[str]  # the device class's profiles this machine cannot build, and why
    auto_targets: list[str]  # the targets with `precision: auto`


def plan(spec: Spec, targets: list[str] | None = None, device: str | None = None) -> Plan:
    """The build's matrix, before any work: unknown targets or device classes fail here."""
    left_out: list[str] = []
    if device is None and not targets:
        device = spec.device_class
    if device is not None:
        wanted = spec.targets[0].precisions if spec.device_class == device else None
        refs, left_out = device_targets(device, spec.calibration is not None, wanted,
                                        generative=spec.model.task == "text-generation")
        selected = [get_profile(ref.name).for_build(ref) for ref in refs]
    else:
        selected = select_targets(spec, targets)
    auto = {t.name for t in spec.targets if AUTO in (t.precisions or []) and (not targets or t.name in targets)}
    return Plan(selected, device, left_out, [p.name for p, _ in selected if p.name in auto])


def build_artifacts(session: Session, selected: list[tuple[TargetProfile, list[str]]],
                    judge: bool = True) -> list[ArtifactResult]:
    """Build and verify every (target, precision) of ``selected`` in ``session`` (one row per board of a pool);
    ``judge``: then time them interleaved with the reference and hold them to the budgets."""
    rows = [
        row for profile, precisions in selected for precision in precisions
        for row in _build_one(session, profile, precision)
    ]
    return _judge_all(session, rows) if judge else rows


def _judge_all(session: Session, rows: list[ArtifactResult]) -> list[ArtifactResult]:
    """Time the reference and the local rows again in one interleaved pass, then hold each to the budgets."""
    session.timing = retime([session.reference, *rows], session.prepared.evaluation,
                            session.spec.latency) or session.timing
    for row in rows:
        if row.measurement is not None and row.status != ERROR:
            _judge(session, row)
    return rows


def result_of(spec: Spec, out: Path, session: Session, artifacts: list[ArtifactResult]) -> BuildResult:
    """The BuildResult (reports, manifest) of artifacts built in ``session``."""
    return _result(spec, out, session, artifacts)


def _result(spec: Spec, out: Path, session: Session, artifacts: list[ArtifactResult]) -> BuildResult:
    prepared, reference = session.prepared, session.reference
    manifest = {
        "spec_sha256": sha256_json(spec.model_dump(mode="json")),
        "versions": versions.all_versions(),
        "model": prepared.io.source_sha256,
        "evaluation": _data_manifest(spec.evaluation.path, prepared.eval_sha256, len(prepared.evaluation)),
        "calibration": None if spec.calibration is None or prepared.calibration is None else _data_manifest(
            spec.calibration.path, prepared.calib_sha256, len(prepared.calibration)),
        "reference": {"path": reference.path, "sha256": reference.sha256},
        "artifacts": {a.label: {"path": a.path, "sha256": a.sha256} for a in artifacts if a.path},
    }
    evaluation = {"examples": len(prepared.evaluation), "metric": spec.evaluation.metric, "labels": prepared.io.labels,
                  "labelled": prepared.evaluation.labels is not None or prepared.evaluation.targets is not None,
                  "task": spec.model.task,
                  "outputs": prepared.io.output_names, **spec.evaluation.dense_settings(spec.model.task)}
    export = {k: v for k, v in session.export_meta.items() if k in ("parity", "import")}  # import: ONNX repairs
    machine = report_facts()
    return BuildResult(spec.name, str(out), reference, artifacts, export,
                       manifest, evaluation, timing=session.timing, machine=machine)


def _data_manifest(path: Path, feeds_sha: str | None, examples: int) -> dict[str, Any]:
    digest = sha256_tree(path) if Path(path).is_dir() else sha256_file(path)  # an image folder, or one file
    return {"path": str(path), "sha256": digest, "feeds_sha256": feeds_sha, "examples": examples}


def _build_one(session: Session, profile: TargetProfile, precision: str) -> list[ArtifactResult]:
    """Build one artifact and verify it: here, on the profile's device, or on each board of its pool."""
    backend = get_backend(profile.backend)
    reason = None if (profile.device or profile.devices) else backend.unavailable_reason(profile)
    if precision in CALIBRATED and session.prepared.calibration is None:  # `auto` or a profile's defaults
        return [ArtifactResult(target=profile.name, backend=backend.name, precision=precision, status=SKIPPED,
                               reason=f"{precision} needs a calibration set: add calibration.path to the spec")]
    if reason:
        if profile.required:
            raise RuntimeUnavailable(f"required target '{profile.name}' cannot run here: {reason}")
        return [ArtifactResult(target=profile.name, backend=backend.name, precision=precision, status=SKIPPED,
                               reason=reason)]
    try:
        built = backend.build(session.ctx, profile, precision)
        runner = backend.runner_spec(built, profile)
    except NothingToDo as exc:
        return [ArtifactResult(target=profile.name, backend=backend.name, precision=precision, status=SKIPPED,
                               reason=str(exc))]
    except Exception as exc:  # contained: this artifact is an error row, the others still build
        error = contained(f"build {profile.name}-{precision}", exc, session.stages.out)
        return [ArtifactResult(target=profile.name, backend=backend.name, precision=precision, status=ERROR,
                               reason=str(error))]
    if not profile.devices:
        return [_measure_built(session, profile, precision, built, runner)]
    from concurrent.futures import ThreadPoolExecutor

    boards = [(profile.model_copy(update={"device": d, "devices": []}), d.name or f"{d.user}@{d.host}:{d.port}")
              for d in profile.devices]
    with ThreadPoolExecutor(max_workers=len(boards)) as pool:  # boards measure in parallel, each on its own
        return list(pool.map(lambda b: _measure_built(session, b[0], precision, built, runner, b[1]), boards))


def _measure_built(
    session: Session, profile: TargetProfile, precision: str, built: BuiltArtifact, runner: RunnerSpec,
    board: str | None = None,
) -> ArtifactResult:
    """Verify a built artifact on its runtime; it is judged against the reference and the budgets later, with
    the others, after their interleaved re-timing (``_judge_all``).

    ``board`` names a pool member: its rows are ``<target>@<board>``.
    """
    result = ArtifactResult(
        target=row_label(profile.name, board), backend=profile.backend, precision=precision,
        path=str(built.path), sha256=sha256_file(built.path), size_bytes=artifact_size(built.path),
        parameters=built.parameters or session.ctx.parameters,
        quantization=built.quantization, built=BackendFacts.model_validate(built.extra),
    )
    stage = verify_stage(result.target, precision)
    if session.prune is not None:
        from edgeconv.api.prune_stage import artifact_prune_facts

        result.prune = PruneFacts.model_validate(
            artifact_prune_facts(session.prune, artifact_files(built.path), Path(session.reference.path or "")))
    try:
        measurement, _, facts = measure_artifact(
            session.stages, stage, runner, result.sha256 or "", session.feeds_file,
            session.prepared, session.spec, session.reference_outputs, profile,
        )
    except Exception as exc:  # contained: a runtime refusing the graph, a killed worker, NaN outputs
        result.status, result.reason = ERROR, str(contained(f"verify {stage}", exc, session.stages.out))
        if hasattr(exc, "status"):  # a device fault (edgeconv.remote.RemoteError): its own status and facts
            result.remote = RemoteFacts.model_validate(exc.to_dict())  # type: ignore[attr-defined]
        return result
    result.timing = Timing.model_validate(facts.pop("timing"))
    if facts:
        result.remote = RemoteFacts.model_validate(facts)
    # What a bundle's run.py loads the artifact with: the runner verification used, and its arguments.
    result.runner = RunnerRecord.of(runner)
    result.measurement = measurement
    return result


def _judge(session: Session, result: ArtifactResult) -> ArtifactResult:
    """Compare a measured artifact with the reference and hold it to the spec's budgets."""
    ref, measurement = session.reference.measurement, result.measurement
    assert ref is not None and measurement is not None
    value, reference_value = measurement.metric_value, ref.metric_value
    result.accuracy_delta = None if value is None or reference_value is None else value - reference_value
    if result.speedup_interval is None:  # no interleaved pass (a board's figures, batches): the ratio of p50s
        result.speedup_vs_reference = ref.latency_ms["p50"] / measurement.latency_ms["p50"]
    for warning in (slower_than_reference(result), oversubscribed(result, physical_cores())):
        if warning:
            result.warnings.append(warning)
    result.budgets = check_budgets(session.spec.budgets, {
        "accuracy_drop": None if result.accuracy_delta is None else max(0.0, -result.accuracy_delta),
        "agreement": measurement.agreement, "latency_ms": measurement.latency_ms, "size_bytes": result.size_bytes,
        "outputs": measurement.outputs, "detection": measurement.detection,
        "segmentation": measurement.segmentation,
    })
    result.status = PASSED if all(b.passed for b in result.budgets) else FAILED
    return result


def export_only(spec: Spec, out: Path | None = None, on_event: Event | None = None) -> tuple[Path, dict[str, Any]]:
    """Run the stages up to the fp32 ONNX reference (for `edgeconv export`)."""
    prepared = prepare(spec)
    return export_reference(spec, prepared, stages_for(spec, Path(out or spec.output), True, on_event))


def verify_artifact(
    spec: Spec, artifact: Path, target: str, precision: str, out: Path | None = None, on_event: Event | None = None,
) -> BuildResult:
    """Verify a given artifact (built elsewhere) on a target, against the spec's reference and budgets; writes
    the reports into ``out`` as `edgeconv verify` does."""
    profile = get_profile(target)
    backend = get_backend(profile.backend)
    reason = backend.unavailable_reason(profile)
    if reason:
        raise RuntimeUnavailable(f"target '{target}' cannot run here: {reason}")
    out = Path(out or spec.output)
    prepared = prepare(spec)
    stages = stages_for(spec, out, True, on_event)
    session = open_session(spec, prepared, stages)
    built = BuiltArtifact(Path(artifact).resolve())
    result = _measure_built(session, profile, precision, built, backend.runner_spec(built, profile))
    return finish(_result(spec, out, session, _judge_all(session, [result])), spec)
