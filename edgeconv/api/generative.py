"""``edgeconv build`` for decoder language models (task: text-generation), dispatched from ``api.pipeline.build``.

The flow mirrors the classifier build's with its own stages: the merged fp32 reference folder (stage
``reference``), one artifact per (target, precision) from it (stage ``artifacts/<target>-<precision>``, keyed by
the folder's content, the recipe and the converter's version), then verification here against the fp32 torch
reference on the evaluation texts, one interleaved timing pass over the reference and every artifact, the
budgets (metric_table's rules), ``precision: auto``'s choice, and every report.

Verification runs in this process, not the worker process the classifier path uses: every runner stays loaded
for the interleaved pass and the reference's logits are computed once for all. ``rss_mb`` is therefore the
memory each artifact added to this process, not a process of its own. The verification figures are cached
stages (``api/generative_verify``); the interleaved pass is always live. Bad input fails before any stage
(``api/generative_checks``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.api.generative_checks import before_weights, preflight
from edgeconv.api.generative_data import lm_calibration, lm_evaluation, reference_folder
from edgeconv.api.generative_verify import Verifier, rss_mb
from edgeconv.api.lm_device_assets import write_lm_device_assets
from edgeconv.api.session import Event, stages_for
from edgeconv.backends import get_backend
from edgeconv.backends.decoder_lm import LMCalibration
from edgeconv.cache.stages import Stages
from edgeconv.choose import selections_of
from edgeconv.errors import NothingToDo, RuntimeUnavailable, SpecError
from edgeconv.errors.failures import contained
from edgeconv.fsutil import sha256_json, sha256_tree
from edgeconv.machine import physical_cores, report_facts
from edgeconv.results.facts import BackendFacts, RunnerRecord
from edgeconv.results.report_file import BuildResult
from edgeconv.results.rows import ERROR, FAILED, PASSED, SKIPPED, ArtifactResult, Measurement
from edgeconv.spec import Spec
from edgeconv.spec.targets import TargetProfile
from edgeconv.verify.budgets import check_budgets
from edgeconv.verify.generation import GenerationRunner
from edgeconv.verify.lm_measure import (
    Answers,
    LMEvaluation,
    latency_of,
    speedup,
    time_interleaved,
    with_speed,
)
from edgeconv.verify.worker import load_runner


def folder_size(path: Path) -> int:
    """Bytes of an artifact folder (a GenAI model: graph, weights, tokenizer, genai_config.json) or one file."""
    path = Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


class _Candidate:
    """One built artifact being verified: its row, its loaded runner, what it measured, its memory."""

    def __init__(self, row: ArtifactResult, runner: GenerationRunner, answers: Answers, rss_mb: float | None):
        self.row, self.runner, self.answers, self.rss_mb = row, runner, answers, rss_mb


def build_generative(spec: Spec, out: Path, selected: list[tuple[TargetProfile, list[str]]],
                     auto_targets: list[str], device: str | None = None, left_out: list[str] | None = None,
                     use_cache: bool = True, on_event: Event | None = None) -> BuildResult:
    """Build, verify, time and judge every (target, precision) of ``selected`` (``api.pipeline.plan``'s matrix)
    for a decoder LM; ``auto_targets``: the targets whose precision the build chooses; ``device``: one choice
    across every runtime instead (its profiles ``left_out`` and why), from the same interleaved pass."""
    for profile, _ in selected:  # before any work: a classifier target cannot take a decoder LM
        if not hasattr(get_backend(profile.backend), "build_generative"):
            raise SpecError(f"target '{profile.name}' ({profile.backend}) does not build decoder language models",
                            fix="use a text-generation target such as x86-cpu-ort-genai (`edgeconv targets`)")
    preflight(spec, selected)  # bad input: one line and exit 2 in seconds, before any stage (api/generative_checks)
    stages = stages_for(spec, out, use_cache, on_event)
    fresh = not out.exists()
    from edgeconv.models.causal_lm import load_causal_lm
    from edgeconv.verify.reference_lm import TorchLMRunner

    try:
        hf, hf_sha = reference_folder(spec, stages, before_weights(spec))
        start = time.perf_counter()
        lm = load_causal_lm(str(hf))
        evaluation = lm_evaluation(spec, lm)  # needs the reference's tokenizer, so it follows its stage
        calibration = lm_calibration(spec, lm.tokenizer)
    except SpecError:
        if fresh:  # bad input leaves nothing behind (the reference stays in the cache for the next try)
            shutil.rmtree(out, ignore_errors=True)
        raise
    write_lm_device_assets(spec, lm.tokenizer, evaluation, out)  # what `edgeconv bundle` prompts a board with
    reference_runner = TorchLMRunner(lm, threads=physical_cores())
    reference_runner.activate()
    reference_runner.load_s = time.perf_counter() - start  # the saved fp32 folder, as a user loads it
    verifier = Verifier(spec, stages, evaluation, hf_sha, reference_runner)  # cached stages verification/*
    reference_answers = verifier.reference
    rows: list[ArtifactResult] = []
    candidates: list[_Candidate] = []
    for profile, precisions in selected:
        for precision in precisions:
            row, candidate = _build_and_verify(stages, hf, hf_sha, profile, precision, verifier, calibration)
            rows.append(row)
            if candidate is not None:
                candidates.append(candidate)
    reference_row = _reference_row(hf, hf_sha, reference_runner)
    _time_and_judge(spec, reference_row, reference_runner, reference_answers, candidates, evaluation)
    result = _result(spec, out, reference_row, rows, hf_sha, evaluation, calibration)
    result.selections = selections_of(rows, device, auto_targets, left_out or [], {})
    for selection in result.selections:
        for row in rows:
            row.selected = row.selected or (row.target, row.precision) == (selection.get("target"),
                                                                           selection.get("precision"))
    return result


def _build_and_verify(stages: Stages, hf: Path, hf_sha: str, profile: TargetProfile, precision: str,
                      verifier: Verifier, calibration: LMCalibration | None,
                      ) -> tuple[ArtifactResult, _Candidate | None]:
    backend = get_backend(profile.backend)
    row = ArtifactResult(target=profile.name, backend=backend.name, precision=precision)
    reason = backend.unavailable_reason(profile)
    if reason:
        if profile.required:
            raise RuntimeUnavailable(f"required target '{profile.name}' cannot run here: {reason}")
        row.status, row.reason = SKIPPED, reason
        return row, None
    try:
        # the texts go only where the recipe calibrates: every other artifact's stage key stays as it was
        wants = backend.needs_calibration(profile, precision)  # type: ignore[attr-defined]
        given = {"calibration": calibration} if wants else {}
        built = backend.build_generative(stages, hf, hf_sha, profile, precision, **given)  # type: ignore[attr-defined]
        runner_spec = backend.runner_spec(built, profile)
    except NothingToDo as exc:
        row.status, row.reason = SKIPPED, str(exc)
        return row, None
    except Exception as exc:  # contained: this artifact is an error row, the others still build
        row.status, row.reason = ERROR, str(contained(f"build {profile.name}-{precision}", exc, stages.out))
        return row, None
    row.path, row.sha256, row.size_bytes = str(built.path), sha256_tree(built.path), folder_size(built.path)
    row.quantization, row.built = built.quantization, BackendFacts.model_validate(built.extra)
    row.runner = RunnerRecord.of(runner_spec)
    try:
        before = rss_mb()
        runner = load_runner(runner_spec.runner, runner_spec.kwargs)
        runner.activate()
        answers, added_mb = verifier.candidate(row, runner, runner_spec, before)
    except Exception as exc:  # contained: a runtime refusing the model, NaN logits
        row.status, row.reason = ERROR, str(contained(f"verify {profile.name}-{precision}", exc, stages.out))
        return row, None
    return row, _Candidate(row, runner, answers, added_mb)


def _reference_row(hf: Path, hf_sha: str, runner: GenerationRunner) -> ArtifactResult:
    """The fp32 torch reference's row (transformers ``generate`` with its KV cache: the baseline users know)."""
    return ArtifactResult(target="reference", backend="torch", precision="fp32", path=str(hf), sha256=hf_sha,
                          size_bytes=folder_size(hf), runner=RunnerRecord(
                              runner="edgeconv.verify.reference_lm:TorchLMRunner", kwargs={"threads": runner.threads}))


def _measurement(answers: Answers, runner: GenerationRunner, latency: dict[str, Any], rss: float | None,
                 timed: Any, spec: Spec, prompt_tokens: int) -> Measurement:
    gen = spec.generation
    assert gen is not None
    figures = with_speed(answers.figures, timed, prompt_tokens, gen.new_tokens, gen.timing_rounds, runner.load_s,
                         rss)
    return Measurement(
        accuracy=figures.task_accuracy, macro_f1=None, per_class={}, agreement=figures.token_agreement,
        max_abs_error=float("nan"), latency_ms=latency, timings_ms=[], peak_memory_mb=float("nan"),
        load_s=float("nan") if runner.load_s is None else runner.load_s,
        runtime={**runner.describe(), "warmup_calls": 1, "latency": "inter-token latency of greedy decoding"},
        metric_value=figures.task_accuracy, generation=figures)


def _time_and_judge(spec: Spec, reference: ArtifactResult, reference_runner: GenerationRunner,
                    reference_answers: Answers, candidates: list[_Candidate], evaluation: LMEvaluation) -> None:
    """One interleaved pass over the reference and every verified artifact; then each row against the budgets."""
    gen = spec.generation
    assert gen is not None
    prompt = evaluation.prompts[0]
    timed = time_interleaved([reference_runner, *(c.runner for c in candidates)], prompt, gen.new_tokens,
                             gen.timing_rounds)
    reference.measurement = _measurement(reference_answers, reference_runner, latency_of(timed[0]), None,
                                         timed[0], spec, len(prompt))
    ref_m = reference.measurement
    for candidate, own in zip(candidates, timed[1:], strict=True):
        row = candidate.row
        row.measurement = m = _measurement(candidate.answers, candidate.runner, latency_of(own), candidate.rss_mb,
                                           own, spec, len(prompt))
        row.speedup_vs_reference, row.speedup_interval = speedup(timed[0], own)
        if m.accuracy is not None and ref_m.accuracy is not None:
            row.accuracy_delta = m.accuracy - ref_m.accuracy
        row.budgets = check_budgets(spec.budgets, {
            "accuracy_drop": None if row.accuracy_delta is None else max(0.0, -row.accuracy_delta),
            "latency_ms": m.latency_ms, "size_bytes": row.size_bytes, "generation": m.generation})
        row.status = PASSED if all(b.passed for b in row.budgets) else FAILED
        candidate.runner.deactivate()


def _result(spec: Spec, out: Path, reference: ArtifactResult, rows: list[ArtifactResult], hf_sha: str,
            evaluation: LMEvaluation, calibration: LMCalibration | None) -> BuildResult:
    manifest = {
        "spec_sha256": sha256_json(spec.model_dump(mode="json")), "versions": versions.all_versions(),
        "model": hf_sha, "evaluation": {"path": str(spec.evaluation.path), "examples": len(evaluation.prompts)},
        "calibration": None if calibration is None else {"path": calibration.path, "sha256": calibration.sha256,
                                                         "examples": len(calibration.ids)},
        "reference": {"path": reference.path, "sha256": reference.sha256},
        "artifacts": {a.label: {"path": a.path, "sha256": a.sha256} for a in rows if a.path},
    }
    gen = spec.generation
    assert gen is not None
    ev = {"examples": len(evaluation.prompts), "metric": "accuracy", "labels": evaluation.labels or None,
          "labelled": evaluation.truth is not None, "task": spec.model.task, "outputs": ["logits"],
          "generation": gen.model_dump(mode="json")}
    machine = report_facts()
    return BuildResult(spec.name, str(out), reference, rows, {}, manifest, ev, machine=machine)
