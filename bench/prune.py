"""Pruning on the sample, in one run: unpruned fp32/int8 vs pruned (+distilled) fp32/int8, and a sweep.

    PYTHONPATH=. python bench/prune.py [--ratios 0.3,0.5,0.7] [--out /tmp/prune-bench]

Uses samples/tweet-sentiment/pruned.yaml (structured, distilled, int8-dynamic). Prints the sweep
table (markdown, for BENCHMARKS.md) and the issue's goals checked on the spec's own ratio:
pruned int8 file <= 0.6 x the fp32 reference, p50 <= 0.7 x the unpruned int8, accuracy within 1.5 pt.
Timings on a shared machine drift 10-30 % between runs: compare ratios from one run only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeconv.compress.sweep import parse_ratios, run_sweep
from edgeconv.report.prune import render_sweep_markdown
from edgeconv.spec import load_spec

SPEC = Path(__file__).resolve().parents[1] / "samples" / "tweet-sentiment" / "pruned.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratios", default="0.3,0.5,0.7")
    parser.add_argument("--out", type=Path, default=Path("/tmp/prune-bench"))
    args = parser.parse_args()
    spec = load_spec(SPEC)
    assert spec.prune is not None and spec.prune.ratio is not None
    ratios = sorted(set(parse_ratios(args.ratios)) | {spec.prune.ratio})
    result, rows = run_sweep(spec, ratios, ["fp32", "int8-dynamic"], args.out,
                             on_event=lambda stage, event: print(f"{stage}: {event}", flush=True))
    print(render_sweep_markdown(rows, spec.prune.mode))
    reference = result.reference
    assert reference.measurement is not None and reference.size_bytes
    by = {(r.ratio, r.precision): r for r in rows}
    pruned, unpruned_int8 = by[(spec.prune.ratio, "int8-dynamic")], by[(0.0, "int8-dynamic")]
    size_x = pruned.size_bytes / reference.size_bytes
    p50_x = pruned.p50_ms / unpruned_int8.p50_ms
    drop = (reference.measurement.accuracy - pruned.accuracy) * 100
    print(f"reference fp32: {reference.size_bytes / 1e6:.1f} MB, accuracy {reference.measurement.accuracy:.4f}, "
          f"p50 {reference.measurement.latency_ms['p50']:.2f} ms")
    print(f"pruned {spec.prune.ratio:g} + int8: size {size_x:.2f}x reference (goal <= 0.6), p50 {p50_x:.2f}x "
          f"unpruned int8 (goal <= 0.7), accuracy drop {drop:.2f} pt (goal <= 1.5)")


if __name__ == "__main__":
    main()
