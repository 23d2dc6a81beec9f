"""The fp32 torch reference behind the generation-runner interface (the speed baseline and the logits)."""

from __future__ import annotations

import pytest

from tests import llm_shared


def test_reference_runner_streams_its_greedy_tokens_and_times_them(tmp_path_factory: pytest.TempPathFactory) -> None:
    from edgeconv.models.causal_lm import greedy_generate
    from edgeconv.verify.generation import Sampling
    from edgeconv.verify.reference_lm import TorchLMRunner

    ref = llm_shared.reference(tmp_path_factory)
    ids = llm_shared.prompt_ids(ref, llm_shared.PROMPTS[0])
    with TorchLMRunner(ref, threads=2) as run:
        seen: list[int] = []
        generation = run.generate(ids, 12, on_token=seen.append)
        assert generation.tokens == seen == greedy_generate(ref, ids, 12)
        assert generation.stopped  # "The capital of France is Paris." ends before 12 tokens
        forced = run.generate(ids, 10, min_new_tokens=10)
        assert len(forced.tokens) == 10 and forced.speed()["decode_tokens_per_s"] > 0
        assert run.logits(ids).shape == (len(ids), ref.model.config.vocab_size)
        draw = Sampling(temperature=1.5, seed=11)  # transformers' sampler, re-seeded: the same draw twice
        sampled = run.generate(ids, 6, sampling=draw, min_new_tokens=6).tokens
        assert sampled == run.generate(ids, 6, sampling=draw, min_new_tokens=6).tokens
