"""LiteRT with length buckets vs one padded signature, in one interleaved pass (docs/tflite.md, `latency.buckets`).

Takes two builds of the same text spec on a TFLite target, one with `latency.buckets: auto` and one with `none`, and
times every TFLite row of both with the build's own interleaved pass (verify/retime.py's ``Pass``: shuffled rounds)
on one seeded sample of the evaluation set, each example as the device gets it (padded to `text.max_length`; the
bucketed runner picks the bucket). Prints one JSON line per row: p50/p90 ms, and the median per-round ratio of the
unbucketed row's time to the bucketed one's. Run it with the load average beside it.

    python bench/buckets.py BUCKETED_OUT UNBUCKETED_OUT [--rounds 12] [--runs 16]
"""

from __future__ import annotations

import argparse
import json
import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.results.report_file import read_report
from edgeconv.verify.metrics import latency_summary
from edgeconv.verify.retime import REAL_EXAMPLES, SEED, Pass
from edgeconv.verify.worker import load_runner


def rows(out: Path) -> list[tuple[str, str, dict]]:
    """(label, runner class, kwargs) of every TFLite row of a build."""
    found = []
    for a in read_report(out / "report.json").artifacts:
        if a.backend == "tflite" and a.runner is not None and a.path:
            found.append((f"{a.precision} {'buckets ' + str(a.built.buckets) if a.built.buckets else 'padded'}",
                          a.runner.runner, {**a.runner.kwargs, "path": a.path}))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bucketed", type=Path)
    parser.add_argument("unbucketed", type=Path)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--runs", type=int, default=16)
    args = parser.parse_args()
    evaluation = FeedSet.load(args.bucketed / "data" / "eval.npz")
    picks = np.random.default_rng(SEED).choice(len(evaluation), min(REAL_EXAMPLES, len(evaluation)), replace=False)
    examples = [evaluation.example(int(i)) for i in sorted(picks)]
    specs = rows(args.bucketed) + rows(args.unbucketed)
    with ExitStack() as stack:
        runners = {i: stack.enter_context(load_runner(cls, kw, in_turns=True)) for i, (_, cls, kw) in enumerate(specs)}
        timing = Pass(runners, dict.fromkeys(runners, examples), args.runs)
        timing.warm_up(20)
        timing.run(args.rounds)
    half = len(specs) // 2
    for i, (label, _, _) in enumerate(specs):
        summary = latency_summary([t for r in timing.samples[i] for t in r])
        line: dict[str, object] = {"row": label, "p50": summary["p50"], "p90": summary["p90"]}
        if i < half:  # the same precision's unbucketed row follows at i + half
            pairs = zip(timing.samples[i], timing.samples[i + half], strict=True)
            ratios = [np.median(u) / np.median(b) for b, u in pairs]
            line["unbucketed_over_bucketed"] = round(float(np.median(ratios)), 2)
        print(json.dumps(line))
    print(json.dumps({"load_average": os.getloadavg(), "examples": len(examples), "rounds": timing.rounds}))


if __name__ == "__main__":
    main()
