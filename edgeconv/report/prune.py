"""Pruning in the reports: the sweep table (with Pareto-optimal rows) and each pruned artifact's facts."""

from __future__ import annotations

from typing import Any

from edgeconv.choose import speed_text
from edgeconv.compress.prune import NO_SPEEDUP_NOTE
from edgeconv.report.format import delta_points, mb, ms, pct
from edgeconv.results import BuildResult

SWEEP_HEADERS = ["ratio", "precision", "params", "size MB", "gzip MB", "accuracy", "Δ acc", "agreement",
                 "p50 ms", "speed-up", "Pareto"]


def sweep_cells(row: Any) -> list[str]:
    """One sweep row as table cells (shared by the markdown and the terminal table), in the report's units."""
    return [
        "unpruned" if row.ratio == 0 else f"{row.ratio:g}", row.precision,
        "–" if not row.params else f"{row.params / 1e6:.2f}M",
        mb(row.size_bytes or None), mb(row.size_gzip_bytes or None),
        pct(row.accuracy), delta_points(row.accuracy_delta), pct(row.agreement), ms(row.p50_ms),
        speed_text(row.speedup or None, None, None, cell=True), "★" if row.pareto else "",
    ]


def render_sweep_markdown(rows: list[Any], mode: str | None = None, drop_blocks: int = 0) -> str:
    """The sweep table for report.md; ★ marks rows no other row beats on accuracy, latency and size at once."""
    lines = ["## Pruning sweep", "",
             "Each ratio is a pruned model built and verified like any artifact, against the unpruned fp32 "
             "reference; speed-up is the reference's p50 over the row's. ★: Pareto-optimal (accuracy, p50, size).", ""]
    if drop_blocks:
        lines += [f"Every pruned row first removes {drop_blocks} whole block(s) (prune.drop_blocks); the ratio then "
                  "prunes the remaining blocks' heads and neurons.", ""]
    if mode == "unstructured":
        lines += [f"Note: {NO_SPEEDUP_NOTE}.", ""]
    lines += ["| " + " | ".join(SWEEP_HEADERS) + " |", "|" + "---|" * len(SWEEP_HEADERS)]
    lines += ["| " + " | ".join(sweep_cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def render_prune_markdown(result: BuildResult) -> str:
    """What pruning did to each pruned artifact (params, raw and gzip size), for report.md; '' if nothing was pruned."""
    pruned = [a for a in result.artifacts if a.prune is not None]
    if not pruned:
        return ""
    first = pruned[0].prune
    assert first is not None
    lines = ["## Pruning", "",
             f"Mode {first.mode}, ratio {first.ratio}; parameters {first.params_before:,} → "
             f"{first.params_after:,}. Every pruned artifact is compared with the unpruned fp32 reference "
             f"({first.reference_size_bytes:,} bytes, {first.reference_size_gzip_bytes:,} gzip).", ""]
    if first.mode == "unstructured":
        lines += [f"**Note:** {NO_SPEEDUP_NOTE}.", ""]
    if first.dropped_blocks:
        lines += [f"Blocks of `{first.block_stack}`: {first.blocks_before} → {first.blocks_after}; removed "
                  f"(original index, KL from the unpruned output left by each removal): "
                  + ", ".join(f"{i} ({kl:.4f})" for i, kl in zip(first.dropped_blocks, first.block_influence or [],
                                                                  strict=True)) + ".", ""]
    recover = first.recover
    if recover:
        lines += [f"Recovered by distillation: {recover['steps']} steps in {recover['seconds']:.0f} s "
                  f"(stopped by {recover['stopped_by']}), student-teacher KL {recover['gap_before']:.4f} → "
                  f"{recover['gap_after']:.4f}.", ""]
    # parameters: what each artifact was built from, counted on it (a runtime handed the unpruned model shows it)
    lines += ["| artifact | parameters | size bytes | gzip bytes | 2:4 weights |", "|---|---|---|---|---|"]
    for a in pruned:
        facts = a.prune
        assert facts is not None
        pattern = facts.pattern_2_4
        held = f"{pattern['weights_2_4']}/{pattern['weights_checked']}" if pattern else "–"
        params = "–" if a.parameters is None else f"{a.parameters:,}"
        lines.append(f"| {a.label} | {params} | {facts.size_bytes:,} | {facts.size_gzip_bytes:,} | {held} |")
    return "\n".join(lines) + "\n"
