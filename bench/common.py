"""Shared by the benchmarks: sessions with a fixed thread count, interleaved timing, scoring.

Every row of a benchmark is timed in the same process, on the same input, round-robin (each
round runs every row), so noise on a shared machine hits all rows alike; ratios come from one run.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.data.trim import trim, trims
from edgeconv.verify.shapes import takes_real_length
from edgeconv.verify.timing import ort_session, round_medians, round_ratio, time_interleaved

__all__ = ["add_timing_args", "build_feeds", "eager_model", "markdown_table", "ort_session", "paired_ratio",
           "score_session", "session_call", "shaped_inputs", "time_interleaved"]


def add_timing_args(parser: argparse.ArgumentParser, runs: int) -> None:
    """--rounds / --runs / --threads, the same for every benchmark's interleaved timing."""
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=runs, help="timed calls per row per round")
    parser.add_argument("--threads", type=int, default=2)


def build_feeds(out: Path, name: str = "eval") -> dict[str, np.ndarray]:
    """The model inputs a build saved (out/data/<name>.npz), without the ``__labels__`` entry."""
    data = np.load(out / "data" / f"{name}.npz")
    return {k: data[k] for k in data.files if not k.startswith("__")}


def session_call(session: Any, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
    return lambda: session.run(None, feeds)


def score_session(session: Any, feeds: dict[str, np.ndarray], labels: np.ndarray, reference: np.ndarray) -> dict:
    """Accuracy and top-1 agreement with the reference over every example, at batch 1."""
    count = len(labels)
    outputs = np.concatenate([session.run(None, {k: v[i : i + 1] for k, v in feeds.items()})[0] for i in range(count)])
    return {"accuracy": float(np.mean(outputs.argmax(-1) == labels)),
            "agreement": float(np.mean(outputs.argmax(-1) == reference.argmax(-1)))}


def eager_model(spec: Any) -> Any:
    """The fine-tuned model as a user runs it in PyTorch: transformers' default attention, adapter merged."""
    import transformers
    from peft import PeftModel

    from edgeconv.spec.source import resolve_model_path

    path = resolve_model_path(spec.model.path)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(spec.model.labels))
    if spec.model.adapter:
        model = PeftModel.from_pretrained(model, spec.model.adapter).merge_and_unload()
    return model.eval()


def shaped_inputs(runner: Any, padded: list[dict[str, np.ndarray]], dynamic: bool | None = None,
                  ) -> tuple[str, list[dict[str, np.ndarray]]]:
    """The inputs a row runs on, as a user's device would feed it: each text example at its own length where the
    runtime takes a dynamic sequence axis (verification's own check, asked with the shortest example so a fixed
    axis cannot pass unnoticed; ``dynamic`` overrides it for rows that are not edgeconv runners); padded to a
    runner with length buckets, which runs each in the smallest bucket that holds it, as verification feeds it;
    else padded. Returns ("real" | "buckets" | "padded", the examples)."""
    if not trims(padded):
        return "padded", padded
    if getattr(runner, "buckets", None):
        return "buckets", padded
    if dynamic is None:
        dynamic = takes_real_length(runner, padded)
    return ("real", [trim(e) for e in padded]) if dynamic else ("padded", padded)


def paired_ratio(own: list[list[float]], base: list[list[float]]) -> tuple[float, float, float]:
    """``own``'s time as a share of ``base``'s from one interleaved pass (each a list of rounds of call times):
    the median of the per-round ratios of medians, with its distribution-free 95% interval, so a burst of load
    in one round widens the interval instead of moving the figure."""
    return round_ratio(round_medians(own), round_medians(base))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
