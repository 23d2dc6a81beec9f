"""A decoder LM's verification as cached stages: a re-run or interrupted build reuses what it measured.

Verification is nearly all of an LLM build's time (100 evaluation tweets: ~5 min of teacher-forced logits and
greedy answers on 2 cores), and its figures depend only on what is hashed into the key: the artifact's bytes and
the reference's, the evaluation as token ids (texts, chat template, prompt, count, gold answers and stop tokens
all end up in them), the verification settings, the runner and its settings (its path aside), the libraries'
versions and the machine's fingerprint (an int4 kernel's accumulation differs by ISA). Stage
``verification/reference`` holds the reference's answers and perplexity, ``verification/<target>-<precision>`` an
artifact's figures, answers and the memory it added. The speed pass is never cached: it is the interleaved
timing of every runner in this build (``lm_measure.time_interleaved``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeconv import versions
from edgeconv.cache.stages import Stages
from edgeconv.fsutil import sha256_json
from edgeconv.machine import fingerprint
from edgeconv.results import GenerationFigures
from edgeconv.results.rows import ArtifactResult
from edgeconv.spec import Spec
from edgeconv.verify.generation import GenerationRunner
from edgeconv.verify.lm_measure import Answers, LMEvaluation, measure_candidate, measure_reference

# the libraries a verification runs on besides versions.TRACKED (which holds edgeconv, torch, transformers)
_RUNTIMES = ("onnxruntime-genai", "openvino-genai", "safetensors", "tokenizers")
# generation settings that change the timed call only, not what verification measures
_TIMING_ONLY = ("new_tokens", "timing_rounds")

Measured = tuple[Answers, float | None]


def verification_key(spec: Spec, evaluation: LMEvaluation, reference_sha: str, artifact_sha: str | None = None,
                     runner: str | None = None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an artifact's (or, with no artifact, the reference's) verification figures depend on."""
    gen = spec.generation
    assert gen is not None
    return {
        "reference": reference_sha, "artifact": artifact_sha, "runner": runner,
        "runner_settings": {k: v for k, v in (settings or {}).items() if k != "path"},
        "evaluation": sha256_json({
            "prompts": evaluation.prompts, "sequences": evaluation.sequences, "scored_from": evaluation.scored_from,
            "truth": evaluation.truth, "labels": evaluation.labels, "stops": sorted(evaluation.stops),
            "answer_tokens": evaluation.answer_tokens}),
        "generation": {k: v for k, v in gen.model_dump(mode="json").items() if k not in _TIMING_ONLY},
        "versions": {**versions.all_versions(), **{lib: versions.of(lib) for lib in _RUNTIMES}},
        "machine": fingerprint(),
    }


def cached_verification(stages: Stages, label: str, key: dict[str, Any],
                        measure: Callable[[], Measured]) -> Measured:
    """(answers, memory added in MB) of stage ``verification/<label>``: from the cache, else ``measure()``."""

    def produce(_: Any) -> dict[str, Any]:
        answers, rss_mb = measure()
        return {"tokens": answers.tokens, "figures": answers.figures.model_dump(mode="json"), "rss_mb": rss_mb}

    _, meta = stages.run(f"verification/{label}", key, produce)
    return Answers(meta["tokens"], GenerationFigures.model_validate(meta["figures"])), meta["rss_mb"]


def rss_mb() -> float | None:
    """This process's resident memory in MB (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss / 1e6


class Verifier:
    """One build's verification: the reference's answers (measured once, or from the cache) and each artifact's."""

    def __init__(self, spec: Spec, stages: Stages, evaluation: LMEvaluation, reference_sha: str,
                 reference_runner: GenerationRunner) -> None:
        self.spec, self.stages, self.evaluation, self.reference_sha = spec, stages, evaluation, reference_sha
        self.reference_runner = reference_runner
        self.reference, _ = cached_verification(stages, "reference", verification_key(spec, evaluation, reference_sha),
                                                lambda: (measure_reference(reference_runner, evaluation), None))

    def candidate(self, row: ArtifactResult, runner: GenerationRunner, runner_spec: Any,
                  before_mb: float | None) -> Measured:
        """An artifact's figures (stage ``verification/<label>``); ``before_mb``: this process's memory before its
        runner was loaded, so the memory it added counts the load and the runs."""

        def measure() -> Measured:
            answers = measure_candidate(runner, self.evaluation, self.reference, self.reference_runner.logits)
            after = rss_mb()
            return answers, None if before_mb is None or after is None else after - before_mb

        key = verification_key(self.spec, self.evaluation, self.reference_sha, row.sha256, runner_spec.runner,
                               runner_spec.kwargs)
        return cached_verification(self.stages, f"{row.target}-{row.precision}", key, measure)
