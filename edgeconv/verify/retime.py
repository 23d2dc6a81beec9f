"""Speed-ups from one comparison: the reference and every artifact measured here, timed again in one process after
they are built and scored, in rounds whose order is shuffled (seeded) every round; each speed-up is the median of
the per-round paired ratios against the reference, with a distribution-free 95% interval over the rounds.

Each artifact's first latency comes from its own worker process, at its own moment: a figure reused from the
stage cache may date from a loaded machine, and two fresh ones can straddle a background job. Measured on a
2-core AMD EPYC, per-process figures called the sample's fp32 ORT artifact 1.65x faster than the (identical)
fp32 reference; interleaved round-robin, 1.15x. With a second build sharing the cores (a Xeon with AMX), a
round-robin pass still read an identical file at 0.74x-1.63x: a burst that lands on one row's turn moves its whole
median. So rows are timed in short rounds, each round in a new order (every runner releasing the cores between
its calls: ``Runner.share_cores``), and a row is compared with the reference round by round: a burst widens the
interval instead of moving the figure, and the table can say when it cannot tell (``speedup_interval`` containing
1). A file identical to the reference (same bytes, same runtime settings) is not timed again: it shares the
reference's figure (``identical_to``). When other processes take the cores the pass runs more rounds (bounded),
with a second session of the reference as an A/A control, and says so once (``BuildResult.timing``). Rows measured
on a board (``remote``) keep their board's figures; the worker's own figures stay in report.json
(``worker_latency_ms``).

Text examples are padded to one length; with ``latency.shape: real`` the pass times each at its own length where
the runtime allows (verify/shapes.py), over a seeded sample of the evaluation set, then runs a shorter padded pass
(the worst case): both land in ``timing.shapes``, and the chosen one in ``latency_ms`` and the speed-up.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.data.trim import trims
from edgeconv.progress.steps import Task
from edgeconv.results import ArtifactResult, Timing
from edgeconv.spec import LatencySpec
from edgeconv.verify.metrics import latency_summary
from edgeconv.verify.shapes import Shapes
from edgeconv.verify.timing import round_medians, round_ratio
from edgeconv.verify.worker import load_runner, timed_examples

ROUNDS = 12  # the interval is over rounds: 12 gives a 95% interval from the 3rd to the 10th of the ratios
LOADED_ROUNDS = 24  # when other processes compete for the cores: twice as many, and no more
EXAMPLES = 16  # cycled through, as the worker does, so no row is timed on an easier input
REAL_EXAMPLES = 64  # text at its own length: a seeded sample of the set, so p50/p90 follow its length distribution
OTHER_ROUNDS = 4  # the shape that does not rank (the padded worst case, or real lengths under shape: max)
SEED = 0  # the rounds' orders: shuffled, and the same in every build
CONTROL = -1  # a loaded pass's A/A control: a second session of the reference's file, in the extra rounds


def retimable(row: ArtifactResult) -> bool:
    return (row.measurement is not None and row.path is not None and row.runner is not None
            and row.remote is None and row.status != "error")


def identity(row: ArtifactResult) -> tuple[Any, ...]:
    """Two rows with the same bytes run by the same runtime with the same settings are the same measurement."""
    runtime = {k: v for k, v in (row.measurement.runtime if row.measurement else {}).items()
               if k not in ("conditions", "warmup_calls")}
    return row.sha256, row.runner.runner if row.runner else None, repr(sorted(runtime.items()))


def retime(rows: list[ArtifactResult], evaluation: FeedSet, latency: LatencySpec) -> dict[str, Any] | None:
    """Replace the latency and speed-up of every local row (``rows[0]``: the reference) with one interleaved
    pass's figures; returns the pass's record (rounds, load), or None when no pass ran."""
    for r in rows:  # rounds of an earlier pass (a row from the stage cache) pair with nothing in this one
        if r.timing is not None:
            r.timing.round_p50_ms = None
    local = [r for r in rows if retimable(r)]
    if len(local) < 2 or local[0] is not rows[0] or latency.batch_size != 1:  # batches are the worker's alone
        return None
    import psutil

    footprint = sum(r.size_bytes or 0 for r in local)
    if footprint > psutil.virtual_memory().available / 4:  # every row is loaded at once: leave room for the runtimes
        _note(local, f"skipped: {footprint / 2**20:.0f} MB of artifacts at once would crowd this machine's memory; "
                     "figures are per process")
        return None
    timed, shares = _deduplicate(local)
    indices = timed_examples(evaluation.shapes, len(evaluation))
    examples = [evaluation.example(i) for i in indices[:EXAMPLES]]
    if trims(examples):  # text padded past its lengths: sample the set's length distribution
        examples = [evaluation.example(i) for i in _sample(indices)]
    runs = max(3, latency.runs // (2 * ROUNDS))  # about half the worker's calls per row, when quiet
    with ExitStack() as stack:
        runners: dict[int, Any] = {}
        for i in timed:
            try:
                runners[i] = stack.enter_context(_runner(local[i]))
            except Exception as exc:  # the worker ran it: keep its figures and say why this pass could not
                _note([local[j] for j in (i, *shares.get(i, []))], f"not loaded: {exc}"[:300])
        if 0 not in runners:  # the reference (alone, when every row is identical to it) sets every figure
            return None
        shapes = Shapes(runners, examples, latency.shape)
        pass_ = Pass(runners, shapes.timed, runs)
        pass_.warm_up(min(latency.warmup, 20))
        with Competition() as competition:
            pass_.run(ROUNDS)
        if competition.loaded:  # other processes took the cores: more rounds, so the interval says how much
            _add_control(pass_, stack, local[0], shapes.timed[0], min(latency.warmup, 20))
            pass_.run(LOADED_ROUNDS - ROUNDS)
        other = None
        if shapes.other is not None:
            other = Pass(runners, shapes.other, runs)
            other.warm_up(min(latency.warmup, 20))
            other.run(OTHER_ROUNDS)
    record = {"rows": len(local), "timed": len(runners), "rounds": pass_.rounds, "runs_per_round": runs,
              "order": f"shuffled, seed {SEED}", **competition.record(),
              **({"shape": shapes.timed_name, "examples": len(examples)} if shapes.applies else {})}
    samples = pass_.samples
    reference = samples[0]
    control = samples.pop(CONTROL, None)
    if control:
        record["control"] = _control_record(reference[-len(control):], control)
    for i, per_round in samples.items():
        for j in [i, *shares.get(i, [])]:
            _apply(local[j], per_round, reference, record, identical_to=None if j == i else local[i])
            _shapes(local[j], shapes, i, other)
    return record


def _add_control(pass_: Pass, stack: ExitStack, reference: ArtifactResult, examples: list[dict[str, Any]],
                 warmup: int) -> None:
    """Time the reference's file a second time, in its own session, for the rest of a loaded pass. Under load
    each session's threads keep their own scheduling regime for seconds (on 2 cores with a busy process per core,
    Magika's rows sat at ~9, ~13.5 or ~16 ms for several rounds each), which pairing by round does not cancel: how
    far this identical copy reads from the reference is how far a true tie can read (``choose.noise_floor``)."""
    try:
        runner = stack.enter_context(_runner(reference))
    except Exception:  # the reference loaded once already: without a control the pass keeps its 99% rule
        return
    pass_.add(CONTROL, runner, examples, warmup)


def _runner(row: ArtifactResult) -> Any:
    """A retimable row's runner, to be timed in turns with the others (it releases the cores between calls)."""
    spec = row.runner
    assert spec is not None  # retimable
    return load_runner(spec.runner, {**spec.kwargs, "path": row.path}, in_turns=True)


def _control_record(reference: list[list[float]], control: list[list[float]]) -> dict[str, Any]:
    """The control's paired ratio to the reference over the rounds it ran, and its ``floor``: the farther end of
    its 95% interval from 1, as a ratio >= 1 (at 99%, 12 rounds give their extremes: MiniLM cut to half its
    layers then read "same" as the full model in 1 loaded run of 3)."""
    ratio, low, high = round_ratio(round_medians(reference), round_medians(control))
    floor = max(high, 1 / low if low > 0 else high, 1.0)
    return {"rounds": len(control), "ratio": round(ratio, 3), "interval": [round(low, 3), round(high, 3)],
            "floor": round(floor, 3)}


def _sample(indices: list[int]) -> list[int]:
    """A seeded sample of REAL_EXAMPLES of ``indices`` (in the set's order): the same in every build."""
    if len(indices) <= REAL_EXAMPLES:
        return indices
    return sorted(np.random.default_rng(SEED).choice(indices, REAL_EXAMPLES, replace=False).tolist())


def _shapes(row: ArtifactResult, shapes: Shapes, i: int, other: Pass | None) -> None:
    """The row's figures at both shapes (``timing.shapes``), when the set is text padded past its lengths."""
    assert row.measurement is not None and row.timing is not None  # _apply ran
    other_latency, other_speedup = None, None
    if other is not None:
        other_latency = latency_summary([t for r in other.samples[i] for t in r])
        other_speedup = _paired(other.samples[0], other.samples[i])
    row.timing.shapes = shapes.record(i, row.measurement.latency_ms, other_latency,
                                      (row.speedup_vs_reference or 1.0, other_speedup))


def _paired(reference: list[list[float]], own: list[list[float]]) -> float:
    return round_ratio(round_medians(reference), round_medians(own))[0]


def _deduplicate(local: list[ArtifactResult]) -> tuple[list[int], dict[int, list[int]]]:
    """The rows to time (the first of each identity) and, for each, the identical rows that share its figure."""
    first: dict[tuple[Any, ...], int] = {}
    shares: dict[int, list[int]] = {}
    for i, row in enumerate(local):
        owner = first.setdefault(identity(row), i)
        if owner != i:
            shares.setdefault(owner, []).append(i)
    return list(first.values()), shares


def _apply(row: ArtifactResult, per_round: list[list[float]], reference: list[list[float]], record: dict[str, Any],
           identical_to: ArtifactResult | None) -> None:
    """A row's latency from its rounds, and its speed-up: the median paired ratio against the reference."""
    assert row.measurement is not None
    timings = [t for r in per_round for t in r]
    if row.worker_latency_ms is None:  # a sweep re-times the reference: keep the worker's own figures
        row.worker_latency_ms = row.measurement.latency_ms
    row.measurement.latency_ms = latency_summary(timings)
    row.measurement.timings_ms = [round(t * 1e3, 4) for t in timings]
    row.identical_to = identical_to.label if identical_to is not None else None
    if row.timing is None:
        row.timing = Timing()
    own = round_medians(per_round)
    row.timing.round_p50_ms = [round(p * 1e3, 4) for p in own]
    if per_round is reference:
        row.speedup_vs_reference, row.speedup_interval = 1.0, [1.0, 1.0]
    else:
        estimate, low, high = round_ratio(round_medians(reference), own)
        row.speedup_vs_reference, row.speedup_interval = estimate, [low, high]
    _interleaved(row, record)


def _note(rows: list[ArtifactResult], why: str) -> None:
    for row in rows:
        _interleaved(row, why)


def _interleaved(row: ArtifactResult, record: dict[str, Any] | str) -> None:
    """The interleaved pass's record (or why it could not time the row) in the row's timing facts."""
    if row.timing is None:
        row.timing = Timing()
    row.timing.interleaved = record


class Pass:
    """Rounds of calls: every round times ``runs`` calls of each runner (its own inference time, as the worker
    reads it) on its ``examples`` (the same inputs in the same order for every row, at each row's shape), the
    runners in a new seeded order each round; ``samples`` holds each row's calls per round."""

    def __init__(self, runners: dict[int, Any], examples: dict[int, list[dict[str, Any]]], runs: int) -> None:
        self.runners, self.examples, self.runs = dict(runners), dict(examples), runs
        self.samples: dict[int, list[list[float]]] = {i: [] for i in runners}
        self.rng = np.random.default_rng(SEED)
        self.rounds = 0

    def warm_up(self, calls: int) -> None:
        for i in self.runners:
            self._warm(i, calls)

    def add(self, key: int, runner: Any, examples: list[dict[str, Any]], warmup: int) -> None:
        """A row that joins from the next round on (its samples hold only the rounds it ran)."""
        self.runners[key], self.examples[key], self.samples[key] = runner, examples, []
        self._warm(key, warmup)

    def _warm(self, i: int, calls: int) -> None:
        # every shape once (a runtime's first call at one is slow), not every example: 64 padded examples
        # share one shape, and re-running them cost each text build's two passes seconds per row
        shapes = list({tuple((k, v.shape) for k, v in e.items()): e for e in self.examples[i]}.values())
        for k in range(max(calls, len(shapes))):
            self.runners[i].infer(shapes[k % len(shapes)])

    def run(self, rounds: int) -> None:
        progress = Task("interleaved timing: round", rounds)
        for _ in range(rounds):
            for i in self.rng.permutation(list(self.runners)):
                runner, examples, calls = self.runners[int(i)], self.examples[int(i)], []
                for k in range(self.runs):  # each round goes on through the examples where the last one stopped
                    runner.infer(examples[(self.rounds * self.runs + k) % len(examples)])
                    calls.append(runner.last_inference_s)
                self.samples[int(i)].append(calls)
            self.rounds += 1
            progress.advance(f"{len(self.runners)} rows x {self.runs} calls")


class Competition:
    """How much of the cores other processes took while the pass ran: the machine's busy CPU time less this
    process's own, over the pass's wall time (the load average lags by a minute; this is the pass itself)."""

    LOADED_SHARE = 0.25  # a quarter of the cores busy with other work moves timings well past the noise

    def __enter__(self) -> Competition:
        import time

        import psutil

        self.cores = psutil.cpu_count(logical=True) or 1
        self.start = (time.perf_counter(), _busy_s(psutil.cpu_times()), _own_s())
        return self

    def __exit__(self, *exc: object) -> None:
        import time

        import psutil

        wall, busy, own = (time.perf_counter(), _busy_s(psutil.cpu_times()), _own_s())
        elapsed = max(wall - self.start[0], 1e-9)
        self.share = max(0.0, (busy - self.start[1]) - (own - self.start[2])) / (elapsed * self.cores)
        self.load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0

    @property
    def loaded(self) -> bool:
        return self.share > self.LOADED_SHARE or self.load > self.cores

    def record(self) -> dict[str, Any]:
        return {"competing_cpu_share": round(self.share, 3), "load_average": round(self.load, 2),
                "cores": self.cores, "loaded": self.loaded}


def _busy_s(times: Any) -> float:
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _own_s() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)
