"""The generation table of a decoder LM build (task: text-generation), shared by report.md and the terminal: each
row's ``generation`` figures (results/generation.py), written by their units in edgeconv.metric_table."""

from __future__ import annotations

from edgeconv.choose import speedup_text
from edgeconv.metric_table import POINTS
from edgeconv.report.format import cell, mb, ms, pct
from edgeconv.results import ArtifactResult, BuildResult

HEADERS = ["target", "precision", "accuracy", "Δ vs fp32", "ppl", "ppl Δ", "KL mean / p99", "token agr.",
           "greedy agr.", "TTFT ms", "prefill tok/s", "decode tok/s", "ITL p50 / p90 ms", "speed-up", "RSS MB", "MB",
           "status"]


def is_generative(result: BuildResult) -> bool:
    return result.evaluation.get("task") == "text-generation"


def _number(value: float | None, digits: int = 1) -> str:
    return cell(lambda v: f"{v:.{digits}f}", value)


def generation_row(a: ArtifactResult) -> list[str]:
    """One row's cells (HEADERS' order); "–" for a figure the row has none of (a skipped or failed artifact)."""
    g = a.measurement.generation if a.measurement is not None else None
    if g is None:
        return [a.target, a.precision, *["–"] * (len(HEADERS) - 4), mb(a.size_bytes), a.status]
    change = None if g.perplexity_change_pct is None else g.perplexity_change_pct / 100
    return [
        a.target, a.precision, pct(g.task_accuracy), cell(POINTS.change, a.accuracy_delta),
        _number(g.perplexity, 2), cell(lambda c: f"{c:+.2%}", change),
        f"{cell(lambda v: f'{v:.4f}', g.kl_mean)} / {cell(lambda v: f'{v:.3f}', g.kl_p99)}", pct(g.token_agreement),
        pct(g.greedy_agreement), ms(g.ttft_ms), _number(g.prefill_tokens_per_s, 0),
        _number(g.decode_tokens_per_s), f"{ms(g.itl_p50_ms)} / {ms(g.itl_p90_ms)}",
        speedup_text(a, cell=True) if a.target != "reference" else "–", _number(g.rss_mb, 0), mb(a.size_bytes),
        a.status,
    ]


def generation_markdown(result: BuildResult) -> list[str]:
    """report.md's generation section: what each figure is, then the table (reference first)."""
    gen = result.evaluation.get("generation") or {}
    first = result.reference.measurement.generation if result.reference.measurement else None
    prompt = f"{first.prompt_tokens}-token" if first and first.prompt_tokens else "the first evaluation"
    lines = [
        "## Generation", "",
        f"Teacher-forced on {result.evaluation.get('examples')} evaluation texts (prompt + gold answer) against the "
        "fp32 reference (transformers, torch): perplexity and its change, KL(reference ‖ artifact) per token, top-1 "
        f"token agreement; greedy answers of at most {gen.get('answer_tokens')} tokens: agreement with the "
        "reference's, token by token, and accuracy of the answers parsed to a label. Speed: one interleaved pass, "
        f"{gen.get('timing_rounds')} rounds in a shuffled order, the {prompt} prompt and {gen.get('new_tokens')} new "
        "tokens per call, medians; the speed-up is decode tokens/s over the reference's (median of per-round "
        "ratios, [min–max]); RSS: memory the artifact added to the measuring process.", "",
        "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS),
    ]
    for a in [result.reference, *result.artifacts]:
        cells = generation_row(a)
        if a is result.reference:
            cells[-1] = "reference"
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]
