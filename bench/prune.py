"""Pruning on the sample, in one run: unpruned fp32/int8 vs pruned (+distilled) fp32/int8, and a sweep.

    PYTHONPATH=. python bench/prune.py [--ratios 0.3,0.5,0.7] [--out /tmp/prune-bench]

Uses samples/tweet-sentiment/pruned.yaml (2 layers dropped, then heads/FFN neurons pruned to the
ratio; distilled; int8-dynamic); every swept ratio drops the same layers. Prints the sweep
table (markdown, for BENCHMARKS.md) and the issue's goals checked on the spec's own ratio:
pruned int8 file <= 0.6 x the fp32 reference, p50 <= 0.7 x the unpruned int8, accuracy within 1.5 pt.
The sweep's p50 column is each artifact's own verification, which the stage cache may have kept
from an earlier run; so every row is then timed again here, interleaved round by round in this one
process on the same example and threads, and the goal's latency ratio uses those timings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeconv.api.sweep import parse_ratios, run_sweep
from edgeconv.report.prune import render_sweep_markdown
from edgeconv.spec import load_spec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_timing_args, build_feeds, ort_session, session_call, time_interleaved

SPEC = Path(__file__).resolve().parents[1] / "samples" / "tweet-sentiment" / "pruned.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratios", default="0.3,0.5,0.7")
    parser.add_argument("--out", type=Path, default=Path("/tmp/prune-bench"))
    add_timing_args(parser, runs=100)
    args = parser.parse_args()
    spec = load_spec(SPEC)
    assert spec.prune is not None and spec.prune.ratio is not None
    ratios = sorted(set(parse_ratios(args.ratios)) | {spec.prune.ratio})
    result, rows = run_sweep(spec, ratios, ["fp32", "int8-dynamic"], args.out,
                             on_event=lambda stage, event: print(f"{stage}: {event}", flush=True))
    print(render_sweep_markdown(rows, spec.prune.mode, spec.prune.drop_blocks))
    reference = result.reference
    assert reference.measurement is not None and reference.size_bytes
    by = {(r.ratio, r.precision): r for r in rows}
    pruned = by[(spec.prune.ratio, "int8-dynamic")]
    size_x = pruned.size_bytes / reference.size_bytes
    p50s = interleaved_p50(rows, args.out, args.threads, args.rounds, args.runs)
    print("\n| ratio | precision | interleaved p50 ms | × unpruned int8 |\n|---|---|---|---|")
    for (ratio, precision), p50 in p50s.items():
        print(f"| {ratio or 'unpruned'} | {precision} | {p50:.2f} | {p50 / p50s[(0.0, 'int8-dynamic')]:.2f} |")
    p50_x = p50s[(spec.prune.ratio, "int8-dynamic")] / p50s[(0.0, "int8-dynamic")]
    drop = (reference.measurement.accuracy - pruned.accuracy) * 100
    print(f"reference fp32: {reference.size_bytes / 1e6:.1f} MB, accuracy {reference.measurement.accuracy:.4f}, "
          f"p50 {reference.measurement.latency_ms['p50']:.2f} ms")
    blocks = f"{spec.prune.drop_blocks} blocks + " if spec.prune.drop_blocks else ""
    print(f"pruned {blocks}{spec.prune.ratio:g} + int8: size {size_x:.2f}x reference (goal <= 0.6), p50 {p50_x:.2f}x "
          f"unpruned int8 (goal <= 0.7), accuracy drop {drop:.2f} pt (goal <= 1.5)")


def interleaved_p50(rows: list, out: Path, threads: int, rounds: int, runs: int) -> dict[tuple[float, str], float]:
    """Every row's ONNX artifact timed round-robin in this process, batch 1, the first evaluation example."""
    example = {n: v[:1] for n, v in build_feeds(out).items()}
    calls = {(r.ratio, r.precision): session_call(ort_session(r.path, threads), example) for r in rows if r.path}
    return time_interleaved(calls, rounds, runs)


if __name__ == "__main__":
    main()
