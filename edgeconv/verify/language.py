"""Verification of a decoder LM artifact against the fp32 reference, on the spec's evaluation texts.

Teacher-forced (both models see the same token sequence): perplexity of each and its change in %,
per-token KL divergence KL(reference || candidate) (mean and p99), and top-1 agreement (the
candidate's most likely next token equals the reference's). Free-running: greedy-generation
agreement (share of the reference's N generated tokens the candidate reproduces, position by
position, and exact match of whole answers) and the task metric (accuracy of answers parsed to a
label). Logits come from any callable ``tokens -> [len, vocab]``, so torch, ONNX Runtime GenAI and
OpenVINO are measured by the same code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

LogitsFn = Callable[[list[int]], np.ndarray]  # token ids -> [len(ids), vocab] float logits
GenerateFn = Callable[[list[int], int], list[int]]  # prompt ids, max new tokens -> new ids (stop token excluded)


def answer_label(answer: str, labels: Sequence[str]) -> str | None:
    """The one label an answer names (as a whole word, any case); None when it names none or several."""
    words = set(re.findall(r"[a-z0-9_\-]+", answer.lower()))
    named = [label for label in labels if label.lower() in words]
    return named[0] if len(named) == 1 else None


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


@dataclass
class TokenStats:
    """Per-token evidence of one text: the reference's and candidate's NLL of each next token, KL, agreement."""

    ref_nll: np.ndarray
    cand_nll: np.ndarray
    kl: np.ndarray
    top1_agree: np.ndarray


def compare_logits(ref_logits: np.ndarray, cand_logits: np.ndarray, ids: Sequence[int],
                   scored_from: int = 1) -> TokenStats:
    """Per-position statistics for predicting ``ids[scored_from:]`` (row i of the logits predicts token i + 1)."""
    if ref_logits.shape != cand_logits.shape:
        raise ValueError(f"logits shapes differ: reference {ref_logits.shape}, candidate {cand_logits.shape}")
    start = max(1, scored_from)
    ref = log_softmax(ref_logits[start - 1 : len(ids) - 1])
    cand = log_softmax(cand_logits[start - 1 : len(ids) - 1])
    target = np.asarray(ids[start:], dtype=np.int64)
    rows = np.arange(len(target))
    kl = (np.exp(ref) * (ref - cand)).sum(axis=-1)
    return TokenStats(ref_nll=-ref[rows, target], cand_nll=-cand[rows, target], kl=np.maximum(kl, 0.0),
                      top1_agree=ref.argmax(-1) == cand.argmax(-1))


@dataclass
class LanguageFidelity:
    """The teacher-forced figures over a set of texts (every scored token pooled)."""

    tokens: int
    reference_perplexity: float
    perplexity: float
    perplexity_change_pct: float
    kl_mean: float
    kl_p99: float
    token_agreement: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def teacher_forced(reference: LogitsFn, candidate: LogitsFn, sequences: Sequence[Sequence[int]],
                   scored_from: Sequence[int] | None = None,
                   reference_cache: dict[int, np.ndarray] | None = None) -> LanguageFidelity:
    """Perplexity (and its change), KL and top-1 agreement of ``candidate`` against ``reference``.

    ``scored_from[i]`` skips the first tokens of text i (e.g. a chat prompt, to score only the answer).
    ``reference_cache`` keeps the reference's logits by text index, so several candidates pay for it once.
    """
    stats = []
    for i, ids in enumerate(sequences):
        ids = list(ids)
        if reference_cache is not None and i in reference_cache:
            ref = reference_cache[i]
        else:
            ref = np.asarray(reference(ids), dtype=np.float32)
            if reference_cache is not None:
                reference_cache[i] = ref
        cand = np.asarray(candidate(ids), dtype=np.float32)
        stats.append(compare_logits(ref, cand, ids, scored_from[i] if scored_from else 1))
    ref_nll = np.concatenate([s.ref_nll for s in stats])
    cand_nll = np.concatenate([s.cand_nll for s in stats])
    kl = np.concatenate([s.kl for s in stats])
    agree = np.concatenate([s.top1_agree for s in stats])
    if not len(ref_nll):
        raise ValueError("no token to score: every text is shorter than two tokens")
    ref_ppl, ppl = float(np.exp(ref_nll.mean())), float(np.exp(cand_nll.mean()))
    return LanguageFidelity(tokens=len(ref_nll), reference_perplexity=ref_ppl, perplexity=ppl,
                            perplexity_change_pct=100.0 * (ppl / ref_ppl - 1.0), kl_mean=float(kl.mean()),
                            kl_p99=float(np.percentile(kl, 99)), token_agreement=float(agree.mean()))


@dataclass
class GenerationAgreement:
    """Greedy generations of the candidate against the reference's, prompt by prompt."""

    prompts: int
    token_agreement: float  # share of the reference's tokens matched at the same position
    exact_match: float  # share of answers identical to the reference's, token for token

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def generation_agreement(reference: Sequence[Sequence[int]], candidate: Sequence[Sequence[int]]
                         ) -> GenerationAgreement:
    """Position-by-position agreement of greedy generations (a token missing from the candidate counts as wrong)."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference generations but {len(candidate)} candidate ones")
    matched = total = exact = 0
    for ref, cand in zip(reference, candidate, strict=True):
        total += max(len(ref), 1)
        matched += sum(a == b for a, b in zip(ref, cand, strict=False)) if ref else int(not cand)
        exact += list(ref) == list(cand)
    n = len(reference)
    return GenerationAgreement(prompts=n, token_agreement=matched / total if total else 1.0,
                               exact_match=exact / n if n else 1.0)


@dataclass
class TaskAccuracy:
    """Generated answers parsed to labels and scored against the true ones."""

    examples: int
    accuracy: float
    unparsed: int  # answers that named no label (or several): counted wrong

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_accuracy(answers: Sequence[str], truth: Sequence[str], labels: Sequence[str]) -> TaskAccuracy:
    parsed = [answer_label(a, labels) for a in answers]
    hits = sum(p == t for p, t in zip(parsed, truth, strict=True))
    return TaskAccuracy(examples=len(truth), accuracy=hits / len(truth) if truth else 0.0,
                        unparsed=sum(p is None for p in parsed))


def torch_logits(model: Any) -> LogitsFn:
    """Teacher-forced logits of a transformers causal LM (the fp32 reference), one text at a time."""
    import torch

    def run(ids: list[int]) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.tensor([ids])).logits[0].float().numpy()

    return run
