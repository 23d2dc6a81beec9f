"""Speed-ups from one comparison: the reference and every artifact measured here, timed again round-robin in
one process after they are built and scored.

Each artifact's first latency comes from its own worker process, at its own moment: a figure reused from the
stage cache may date from a loaded machine, and two fresh ones can straddle a background job. Measured on a
2-core AMD EPYC, per-process figures called the sample's fp32 ORT artifact 1.65x faster than the (identical)
fp32 reference; interleaved, it was 1.15x. So the table, the speed-ups, the budgets and ``precision: auto``
use this pass, where noise hits every row alike; the worker's figures stay in report.json
(``worker_latency_ms``). Rows measured on a board (``remote``) keep their board's figures.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from edgeconv.data.feeds import FeedSet
from edgeconv.results import ArtifactResult
from edgeconv.spec import LatencySpec
from edgeconv.steps import Task
from edgeconv.verify.metrics import latency_summary
from edgeconv.verify.worker import load_runner, timed_examples

ROUNDS = 5  # each round runs every row; more rounds spread a load burst over all rows
EXAMPLES = 16  # cycled through, as the worker does, so no row is timed on an easier input


def retimable(row: ArtifactResult) -> bool:
    return (row.measurement is not None and row.path is not None and "runner" in row.extra
            and "remote" not in row.extra and row.status != "error")


def retime(rows: list[ArtifactResult], evaluation: FeedSet, latency: LatencySpec) -> None:
    """Replace the latency of every local row (the reference first) with one interleaved pass's figures."""
    local = [r for r in rows if retimable(r)]
    if len(local) < 2 or latency.batch_size != 1:  # batches are the worker's alone
        return
    import psutil

    loaded = sum(r.size_bytes or 0 for r in local)
    if loaded > psutil.virtual_memory().available / 4:  # every row is loaded at once: leave room for the runtimes
        for row in local:
            row.extra["timing"] = {**row.extra.get("timing", {}),
                                   "interleaved": f"skipped: {loaded / 2**20:.0f} MB of artifacts at once would "
                                                  "crowd this machine's memory; figures are per process"}
        return
    indices = timed_examples(evaluation.shapes, len(evaluation))[:EXAMPLES]
    examples = [evaluation.example(i) for i in indices]
    runs = max(4, latency.runs // (2 * ROUNDS))  # about half the worker's calls per row
    with ExitStack() as stack:
        runners: dict[int, Any] = {}
        for i, row in enumerate(local):
            try:
                spec = row.extra["runner"]
                runners[i] = stack.enter_context(load_runner(spec["runner"], {**spec["kwargs"], "path": row.path}))
            except Exception as exc:  # the worker ran it: keep its figures and say why this pass could not
                row.extra["timing"] = {**row.extra.get("timing", {}), "interleaved": f"not loaded: {exc}"[:300]}
        if len(runners) < 2:
            return
        samples = _interleave(runners, examples, runs, min(latency.warmup, 20))
    for i, timings in samples.items():
        row = local[i]
        assert row.measurement is not None
        row.extra.setdefault("worker_latency_ms", row.measurement.latency_ms)  # a sweep re-times the reference
        row.measurement.latency_ms = latency_summary(timings)
        row.measurement.timings_ms = [round(t * 1e3, 4) for t in timings]
        row.extra["timing"] = {**row.extra.get("timing", {}),
                               "interleaved": {"rows": len(runners), "rounds": ROUNDS, "runs_per_round": runs}}


def _interleave(runners: dict[int, Any], examples: list[dict[str, Any]], runs: int, warmup: int
                ) -> dict[int, list[float]]:
    """Round-robin: every round times ``runs`` calls of each runner (its own inference time, as the worker
    reads it), after ``warmup`` untimed calls each."""
    for runner in runners.values():
        for k in range(warmup):
            runner.infer(examples[k % len(examples)])
    samples: dict[int, list[float]] = {i: [] for i in runners}
    progress = Task("interleaved timing: round", ROUNDS)
    for _ in range(ROUNDS):
        for i, runner in runners.items():
            for k in range(runs):
                runner.infer(examples[k % len(examples)])
                samples[i].append(runner.last_inference_s)
        progress.advance(f"{len(runners)} rows x {runs} calls")
    return samples
