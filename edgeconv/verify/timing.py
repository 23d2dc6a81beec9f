"""In-process latency for quick decisions (fallback trials, fused-or-plain graph) and the benchmarks.

Rows are timed round-robin (each round runs every row), so noise on a shared machine hits all of
them alike. A build's table comes from the same procedure over its runners (``verify/retime.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np

# "slower" also needs the median under 0.95x: a 2% difference is no reason to warn (choose.py, the int8 search)
SLOWER_MARGIN = 0.95

# ONNX Runtime's pool threads go on spinning for tens of ms after a call returns. Timed in turns with other sessions,
# an idle session's spinning pool takes the cores from the row timed next: on 2 cores (AMD EPYC, AVX-512 VNNI)
# Google's Magika (4.2 ms alone) read 9-13 ms in turns with three idle pools, and two identical files 0.74-1.16x of
# each other on a quiet machine; with this entry 4.6-4.9 ms and 0.98-1.02x. It stops the spinning when a run
# returns (threads still spin within a run). bench/turns.py measures it.
ORT_STOP_SPINNING = "session.force_spinning_stop"


def time_interleaved(
    rows: dict[Any, Callable[[], Any]], rounds: int, runs: int, warmup: int = 20
) -> dict[Any, float]:
    """p50 in ms of each row after ``warmup`` untimed calls, ``rounds`` x ``runs`` timed calls each."""
    samples: dict[Hashable, list[float]] = {label: [] for label in rows}
    for fn in rows.values():
        for _ in range(warmup):
            fn()
    for _ in range(rounds):
        for label, fn in rows.items():
            for _ in range(runs):
                start = time.perf_counter()
                fn()
                samples[label].append(time.perf_counter() - start)
    return {label: float(np.median(s)) * 1e3 for label, s in samples.items()}


def round_medians(rounds: list[list[float]]) -> list[float]:
    """Each round's median call time, from an interleaved pass's rounds of call times."""
    return [float(np.median(r)) for r in rounds]


def round_ratio(numerator: list[float], denominator: list[float],
                confidence: float = 0.95) -> tuple[float, float, float]:
    """The median of ``numerator / denominator`` round by round (two rows' per-round medians from one interleaved
    pass), with its ``median_interval``: a loaded round slows both rows, so it cancels instead of moving the figure."""
    return median_interval([n / d for n, d in zip(numerator, denominator, strict=True)], confidence)


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The median and its distribution-free confidence interval (order statistics of the binomial, through
    scipy's ``quantile_test``): no assumption on how noise is distributed, which on a shared machine it is not.
    Under six values no 95% interval exists: it is then the range of the values."""
    from scipy.stats import quantile_test

    data = np.asarray(values, float)
    median = float(np.median(data))
    interval = quantile_test(data, q=median, p=0.5).confidence_interval(confidence)
    low, high = float(interval.low), float(interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        low, high = float(data.min()), float(data.max())
    return median, low, high


def ort_session(path: Path | str, threads: int) -> Any:
    """An ONNX Runtime CPU session with a fixed intra-op thread count, whose threads stop spinning when a call
    returns: every caller times several sessions in turns (``ORT_STOP_SPINNING`` says why)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry(ORT_STOP_SPINNING, "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
