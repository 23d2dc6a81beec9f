"""The language-model verification figures on logits whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.verify.language import (
    answer_label,
    compare_logits,
    generation_agreement,
    task_accuracy,
    teacher_forced,
)


def _logits(seed: int, length: int = 6, vocab: int = 11) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(length, vocab)).astype(np.float32)


def test_identical_candidate_has_no_change() -> None:
    texts = [[1, 4, 2, 7, 3, 9], [5, 5, 1, 0]]
    fid = teacher_forced(lambda ids: _logits(len(ids), len(ids)), lambda ids: _logits(len(ids), len(ids)), texts)
    assert fid.tokens == 5 + 3
    assert fid.perplexity == pytest.approx(fid.reference_perplexity)
    assert fid.perplexity_change_pct == pytest.approx(0.0, abs=1e-9)
    assert fid.kl_mean == pytest.approx(0.0, abs=1e-9) and fid.token_agreement == 1.0


def test_perplexity_kl_and_agreement_by_hand() -> None:
    ids = [0, 1]
    ref = np.log(np.array([[0.5, 0.5, 1e-12], [1, 1, 1]], dtype=np.float64)).astype(np.float32)
    cand = np.log(np.array([[0.25, 0.75, 1e-12], [1, 1, 1]], dtype=np.float64)).astype(np.float32)
    stats = compare_logits(ref, cand, ids)
    assert stats.ref_nll[0] == pytest.approx(np.log(2), rel=1e-5)
    assert stats.cand_nll[0] == pytest.approx(-np.log(0.75), rel=1e-5)
    assert stats.kl[0] == pytest.approx(0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75), rel=1e-4)
    assert not stats.top1_agree[0]  # the reference's argmax is token 0 (a tie broken low), the candidate's token 1
    fid = teacher_forced(lambda _: ref, lambda _: cand, [ids])
    assert fid.perplexity_change_pct == pytest.approx(100 * ((1 / 0.75) / 2 - 1), rel=1e-4)  # the candidate is surer


def test_scored_from_skips_the_prompt_and_the_cache_is_used() -> None:
    calls: list[int] = []

    def ref(ids: list[int]) -> np.ndarray:
        calls.append(len(ids))
        return _logits(1, len(ids))

    cache: dict[int, np.ndarray] = {}
    fid = teacher_forced(ref, lambda ids: _logits(2, len(ids)), [[1, 2, 3, 4, 5, 6]], scored_from=[4],
                         reference_cache=cache)
    teacher_forced(ref, lambda ids: _logits(3, len(ids)), [[1, 2, 3, 4, 5, 6]], scored_from=[4], reference_cache=cache)
    assert fid.tokens == 2 and calls == [6]


def test_generation_agreement_and_exact_match() -> None:
    agreement = generation_agreement([[1, 2, 3, 4], [5, 6], []], [[1, 2, 9, 4], [5, 6], []])
    assert agreement.token_agreement == pytest.approx((3 + 2 + 1) / (4 + 2 + 1))
    assert agreement.exact_match == pytest.approx(2 / 3)
    assert generation_agreement([[1, 2, 3]], [[1, 2]]).token_agreement == pytest.approx(2 / 3)


def test_answers_parsed_to_labels() -> None:
    labels = ["negative", "positive"]
    assert answer_label("Negative.", labels) == "negative"
    assert answer_label("The sentiment is positive", labels) == "positive"
    assert answer_label("positive or negative", labels) is None and answer_label("neutral", labels) is None
    result = task_accuracy(["negative", "Positive!", "unsure"], ["negative", "negative", "positive"], labels)
    assert result.accuracy == pytest.approx(1 / 3) and result.unparsed == 1
