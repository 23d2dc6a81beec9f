"""Which inputs each row of the interleaved pass is timed on: the padded evaluation examples (the worst case), or
text examples at their own length (``latency.shape: real``, edgeconv.data.trim) for runtimes that take a dynamic
sequence axis. A runtime with static shapes (LiteRT, TensorRT, an ONNX with a fixed sequence dimension) is timed
padded and labelled so: it runs every input at that length on the device too. A LiteRT model with length buckets
(its runner's ``buckets``) is given the padded examples in the real pass, runs each in the smallest bucket that
holds it (as on the device), and in the padded pass runs the largest bucket: examples whose mask fills it."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.data.trim import MASK, real_length, trim, trims

DYNAMIC_RUNTIMES = ("onnxruntime", "openvino")  # runners known to take any sequence length their graph allows
STATIC = "static shape: padded"


def takes_real_length(runner: Any, examples: list[dict[str, np.ndarray]]) -> bool:
    """Whether ``runner`` runs text at its own length: a dynamic-shape runtime whose graph accepts the shortest of
    ``examples`` trimmed (one call; an ONNX or IR with a fixed sequence dimension refuses it, where an example
    that already fills the padded length would pass unnoticed)."""
    if getattr(runner, "name", None) not in DYNAMIC_RUNTIMES:
        return False
    try:
        runner.infer(trim(min(examples, key=lambda e: real_length(e) or 0)))
    except Exception:  # the graph's sequence dimension is fixed: the runtime names the mismatch; timed padded
        return False
    return True


class Shapes:
    """The examples each row is timed on in the pass that ranks (``timed``) and in the shorter other pass
    (``other``, None when both shapes are the same inputs), and each row's label in the report."""

    def __init__(self, runners: dict[int, Any], padded: list[dict[str, np.ndarray]], shape: str) -> None:
        self.shape = shape
        real = [trim(e) for e in padded]
        self.applies = trims(padded)  # a text set with padding: the two shapes differ
        dynamic = {i: self.applies and takes_real_length(r, padded) for i, r in runners.items()}
        self.buckets = {i: list(r.buckets) for i, r in runners.items() if self.applies and getattr(r, "buckets", None)}
        self.static = {i for i, d in dynamic.items() if self.applies and not d and i not in self.buckets}
        worst = [full_length(e) for e in padded]
        per_row = {"real": {i: real if dynamic[i] else padded for i in runners},
                   "padded": {i: worst if i in self.buckets else padded for i in runners}}
        self.timed_name = "real" if shape == "real" and self.applies else "padded"
        self.other_name = None if not self.applies else ("padded" if self.timed_name == "real" else "real")
        self.timed = per_row[self.timed_name]
        self.other = per_row[self.other_name] if self.other_name else None

    def record(self, i: int, timed: dict[str, Any], other: dict[str, Any] | None,
               speedups: tuple[float, float | None]) -> dict[str, Any] | None:
        """The row's ``timing.shapes``: p50/p90 (and speed-up) at real length and padded, which one ranks, and
        whether the row could run real lengths at all."""
        if not self.applies:
            return None
        figures = {self.timed_name: {**_brief(timed), "speedup": speedups[0]}}
        if self.other_name is not None and other is not None:
            figures[self.other_name] = {**_brief(other), "speedup": speedups[1]}
        note = STATIC if i in self.static else f"buckets {self.buckets[i]}" if i in self.buckets else None
        return {"ranked_on": self.timed_name, **figures, **({"note": note} if note else {})}


def full_length(example: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``example`` with its attention mask filling the padded length: the longest input a bucketed model takes,
    which runs in its largest bucket (the padded worst case)."""
    return {**example, MASK: np.ones_like(example[MASK])} if MASK in example else example


def _brief(latency: dict[str, Any]) -> dict[str, Any]:
    return {k: latency[k] for k in ("p50", "p90") if k in latency}
