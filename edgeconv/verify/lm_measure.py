"""How a decoder LM artifact is measured in a build (task: text-generation): its fidelity to the fp32 reference
on the spec's evaluation texts, its answers, and speed from one interleaved pass over every runner.

Every runner is a ``GenerationRunner`` (verify/generation.py), so torch, ONNX Runtime GenAI and OpenVINO GenAI go
through the same code. Speed is never compared across passes: ``time_interleaved`` runs every runner once per
round, in a shuffled order, and a speed-up is the median of the per-round paired ratios with the classifier
path's interval rule.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeconv.results import GenerationFigures
from edgeconv.verify.generation import GenerationRunner
from edgeconv.verify.language import generation_agreement, task_accuracy, teacher_forced
from edgeconv.verify.timing import median_interval


@dataclass
class LMEvaluation:
    """The evaluation texts as token ids: each prompt, its gold answer (if labelled) and what is scored."""

    prompts: list[list[int]]  # chat prompts (generation input)
    sequences: list[list[int]]  # prompt + gold answer + stop token (teacher-forced); the prompt alone unlabelled
    scored_from: list[int] | None  # score only the answer tokens (generation.score_answers_only)
    truth: list[str] | None  # the labels, for the task metric
    labels: list[str]  # the label words an answer is parsed to
    stops: set[int]  # tokens that end an answer
    answer_tokens: int
    decode: Any  # token ids -> text (the reference's tokenizer)
    reference_cache: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class Answers:
    """One runner's greedy answers (stop tokens cut) and its fidelity figures so far."""

    tokens: list[list[int]]
    figures: GenerationFigures


def answers_of(runner: GenerationRunner, evaluation: LMEvaluation) -> list[list[int]]:
    """Greedy answers, each cut at its first stop token."""
    out = []
    for prompt in evaluation.prompts:
        tokens = runner.generate(prompt, evaluation.answer_tokens).tokens
        cut = next((i for i, t in enumerate(tokens) if t in evaluation.stops), len(tokens))
        out.append(list(tokens[:cut]))
    return out


def _task(evaluation: LMEvaluation, answers: list[list[int]]) -> dict[str, Any]:
    if evaluation.truth is None:
        return {}
    scored = task_accuracy([evaluation.decode(a) for a in answers], evaluation.truth, evaluation.labels)
    return {"task_accuracy": scored.accuracy, "unparsed": scored.unparsed}


def measure_reference(reference: GenerationRunner, evaluation: LMEvaluation) -> Answers:
    """The reference's own figures: its perplexity (and the logits every candidate is compared with), answers."""
    fidelity = teacher_forced(reference.logits, reference.logits, evaluation.sequences, evaluation.scored_from,
                              reference_cache=evaluation.reference_cache)
    answers = answers_of(reference, evaluation)
    figures = GenerationFigures(
        texts=len(evaluation.sequences), tokens=fidelity.tokens, reference_perplexity=fidelity.reference_perplexity,
        perplexity=fidelity.reference_perplexity, perplexity_change_pct=0.0, kl_mean=0.0, kl_p99=0.0,
        token_agreement=1.0, greedy_agreement=1.0, exact_match=1.0, **_task(evaluation, answers))
    return Answers(answers, figures)


def measure_candidate(candidate: GenerationRunner, evaluation: LMEvaluation, reference: Answers,
                      reference_logits: Callable[[list[int]], np.ndarray]) -> Answers:
    """An artifact against the reference: teacher-forced fidelity, greedy agreement, the task metric.
    ``reference_logits`` fills ``evaluation.reference_cache`` where it lacks a text (the reference's answers may
    come from the stage cache while this artifact's figures do not), so candidates pay for it once."""
    candidate.generate(evaluation.prompts[0], 2)  # the first call compiles / allocates: not part of any figure
    fidelity = teacher_forced(reference_logits, candidate.logits, evaluation.sequences, evaluation.scored_from,
                              reference_cache=evaluation.reference_cache)
    answers = answers_of(candidate, evaluation)
    agreement = generation_agreement(reference.tokens, answers)
    figures = GenerationFigures(
        texts=len(evaluation.sequences), tokens=fidelity.tokens, reference_perplexity=fidelity.reference_perplexity,
        perplexity=fidelity.perplexity, perplexity_change_pct=fidelity.perplexity_change_pct,
        kl_mean=fidelity.kl_mean, kl_p99=fidelity.kl_p99, token_agreement=fidelity.token_agreement,
        greedy_agreement=agreement.token_agreement, exact_match=agreement.exact_match, **_task(evaluation, answers))
    return Answers(answers, figures)


@dataclass
class Timed:
    """One runner's speed over the interleaved rounds: medians, every inter-token gap, and each round's decode."""

    speed: dict[str, float]
    gaps_ms: list[float]
    decode_per_round: list[float]


def time_interleaved(runners: Sequence[GenerationRunner], prompt: Sequence[int], new_tokens: int, rounds: int,
                     seed: int = 0) -> list[Timed]:
    """Each runner generates exactly ``new_tokens`` from ``prompt`` once per round, rows shuffled each round."""
    order = list(range(len(runners)))
    rng = random.Random(seed)
    for runner in runners:  # warm-up at the timed length: allocations of the longest KV cache are not timed
        runner.generate(list(prompt), new_tokens, min_new_tokens=new_tokens)
    runs: list[list[Any]] = [[] for _ in runners]
    for _ in range(rounds):
        rng.shuffle(order)
        for i in order:
            runs[i].append(runners[i].generate(list(prompt), new_tokens, min_new_tokens=new_tokens))
    timed = []
    for generations in runs:
        speeds = [g.speed() for g in generations]
        medians = {k: float(np.median([s[k] for s in speeds])) for k in speeds[0]
                   if all(s[k] is not None for s in speeds)}
        gaps = [float(d) * 1e3 for g in generations for d in np.diff(np.asarray(g.token_times_s))]
        timed.append(Timed(medians, gaps, [s["decode_tokens_per_s"] or 0.0 for s in speeds]))
    return timed


def latency_of(timed: Timed) -> dict[str, Any]:
    """The row's ``latency_ms``: inter-token latency (per generated token) percentiles over every timed round."""
    gaps = np.asarray(timed.gaps_ms or [float("nan")])
    return {"p50": float(np.median(gaps)), "p90": float(np.percentile(gaps, 90)),
            "p99": float(np.percentile(gaps, 99)), "mean": float(gaps.mean()), "std": float(gaps.std()),
            "min": float(gaps.min()), "max": float(gaps.max()), "runs": len(timed.gaps_ms), "outliers": 0}


def speedup(reference: Timed, candidate: Timed) -> tuple[float, list[float]]:
    """Decode speed-up over the reference: the median of the per-round paired ratios and its distribution-free
    95% interval (``verify.timing.median_interval``, the classifier path's rule: under six rounds no such
    interval exists, and it is their [min, max])."""
    ratios = [c / r for c, r in zip(candidate.decode_per_round, reference.decode_per_round, strict=True) if r > 0]
    if not ratios:
        return float("nan"), [float("nan"), float("nan")]
    median, low, high = median_interval(ratios)
    return median, [low, high]


def with_speed(figures: GenerationFigures, timed: Timed, prompt_tokens: int, new_tokens: int, rounds: int,
               load_s: float | None, rss_mb: float | None) -> GenerationFigures:
    """``figures`` with the interleaved pass's speed, load time and memory."""
    s = timed.speed
    return figures.model_copy(update={
        "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "rounds": rounds, "ttft_ms": s.get("ttft_ms"),
        "prefill_tokens_per_s": s.get("prefill_tokens_per_s"), "decode_tokens_per_s": s.get("decode_tokens_per_s"),
        "itl_p50_ms": s.get("itl_median_ms"), "itl_p90_ms": s.get("itl_p90_ms"), "load_s": load_s,
        "rss_mb": rss_mb})
