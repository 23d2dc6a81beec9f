"""``generation``: what a decoder LM artifact (task: text-generation) measured, typed, in its report.json row.

Fidelity is teacher-forced against the fp32 reference on the spec's evaluation texts (perplexity and its change,
KL, top-1 token agreement), then free-running (greedy generations compared token by token, the task metric of
the answers); speed comes from the build's interleaved pass over the reference and every artifact (medians over
rounds of one timed prompt). A flat record with one key per figure, so budgets, report.md and ``compare`` name
each figure the same way.
"""

from __future__ import annotations

from edgeconv.results.facts import Facts


class GenerationFigures(Facts):
    """One artifact's (or the reference's) generation figures; None where a figure could not be measured."""

    texts: int | None = None  # evaluation texts scored teacher-forced
    tokens: int | None = None  # tokens scored teacher-forced
    reference_perplexity: float | None = None
    perplexity: float | None = None
    perplexity_change_pct: float | None = None  # (perplexity / reference's - 1) * 100
    kl_mean: float | None = None  # KL(reference || artifact) per token, nats
    kl_p99: float | None = None
    token_agreement: float | None = None  # teacher-forced top-1 agreement
    greedy_agreement: float | None = None  # share of the reference's greedy answer tokens reproduced in place
    exact_match: float | None = None  # share of greedy answers identical to the reference's
    task_accuracy: float | None = None  # greedy answers parsed to a label, against the evaluation labels
    unparsed: int | None = None  # answers that named no label (or several)
    prompt_tokens: int | None = None  # the timed prompt's length
    new_tokens: int | None = None  # tokens generated per timed call
    rounds: int | None = None  # interleaved timing rounds
    ttft_ms: float | None = None
    prefill_tokens_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    itl_p50_ms: float | None = None  # inter-token latency
    itl_p90_ms: float | None = None
    load_s: float | None = None
    rss_mb: float | None = None  # resident memory the artifact added to the measuring process (load + runs)

    @property
    def perplexity_increase(self) -> float | None:
        """The rise of perplexity as a fraction (0 where it fell): what ``max_perplexity_increase`` holds."""
        change = self.perplexity_change_pct
        return None if change is None else max(0.0, change / 100.0)
