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


def ort_session(path: Path | str, threads: int) -> Any:
    """An ONNX Runtime CPU session with a fixed intra-op thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
