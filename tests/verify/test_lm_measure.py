"""A build's LM measurements on made-up runners and timings: the speed-up interval rule, and a candidate measured
while the reference's answers came from the stage cache (its logits then computed on demand, once)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.results import GenerationFigures
from edgeconv.verify.generation import Generation
from edgeconv.verify.lm_measure import Answers, LMEvaluation, Timed, measure_candidate, speedup
from edgeconv.verify.timing import median_interval


def _timed(decode: list[float]) -> Timed:
    return Timed(speed={}, gaps_ms=[], decode_per_round=decode)


def test_the_speedup_interval_is_the_classifier_paths_rule_over_the_rounds() -> None:
    ratios = [2.0, 2.1, 1.9, 2.05, 1.95, 2.2, 1.8, 2.0, 5.0, 2.1, 0.5, 2.0]  # one burst each way
    median, interval = speedup(_timed([10.0] * 12), _timed([10.0 * r for r in ratios]))
    assert median == pytest.approx(float(np.median(ratios)))
    assert interval == pytest.approx(list(median_interval(ratios)[1:]))
    assert 0.5 < interval[0] <= median <= interval[1] < 5.0  # a burst widens the range, not the interval
    few = speedup(_timed([10.0, 10.0, 10.0]), _timed([20.0, 30.0, 25.0]))
    assert few == (pytest.approx(2.5), pytest.approx([2.0, 3.0]))  # under six rounds: their range


class _Runner:
    """Logits that favour token (last id + shift) % vocab; greedy answers follow the same rule."""

    def __init__(self, shift: int, vocab: int = 7) -> None:
        self.shift, self.vocab, self.logit_calls = shift, vocab, 0

    def logits(self, ids: list[int]) -> np.ndarray:
        self.logit_calls += 1
        out = np.zeros((len(ids), self.vocab), np.float32)
        for i, t in enumerate(ids):
            out[i, (t + self.shift) % self.vocab] = 5.0
        return out

    def generate(self, ids: list[int], max_new_tokens: int, **_: object) -> Generation:
        tokens = [(ids[-1] + self.shift * (k + 1)) % self.vocab for k in range(max_new_tokens)]
        return Generation(prompt_tokens=len(ids), tokens=tokens, ttft_s=0.01)


def test_a_candidate_computes_the_reference_logits_it_lacks_once() -> None:
    evaluation = LMEvaluation(prompts=[[1, 2], [3, 4]], sequences=[[1, 2, 3, 4], [3, 4, 5, 6]], scored_from=None,
                              truth=None, labels=[], stops=set(), answer_tokens=2, decode=str)
    reference = _Runner(1)
    cached = Answers(tokens=[[3, 4], [5, 6]], figures=GenerationFigures())  # as verification/reference gave it
    same = measure_candidate(_Runner(1), evaluation, cached, reference.logits)
    assert same.figures.kl_mean == pytest.approx(0.0, abs=1e-6) and same.figures.greedy_agreement == 1.0
    other = measure_candidate(_Runner(2), evaluation, cached, reference.logits)
    assert other.figures.kl_mean > 1 and other.figures.token_agreement == 0.0
    assert reference.logit_calls == 2  # once per text, shared by both candidates
