"""`compare --repeat N`: re-measure both builds' artifacts here, interleaved, before comparing latency.

Timings taken hours apart on a shared runner differ for reasons that have nothing to do with the
change; running baseline and candidate alternately (B, C, B, C, …) in the same minutes puts the
same noise on both, so the interval of their ratio reflects the change.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from edgeconv.compare.load import Key, Side, entries
from edgeconv.results import RunnerSpec
from edgeconv.spec import LatencySpec
from edgeconv.verify.measure import run_worker

RUNNERS = {
    "onnxruntime": "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner",
    "tflite": "edgeconv.backends.tflite.runner:TFLiteRunner",
    "tensorrt": "edgeconv.backends.tensorrt.runner:TensorRTRunner",
}


def _runner(entry: dict[str, Any]) -> RunnerSpec | None:
    runtime = entry.get("runtime") or {}
    target = RUNNERS.get(str(entry.get("backend")))
    if target is None or not entry.get("path") or not Path(entry["path"]).is_file():
        return None
    kwargs: dict[str, Any] = {"path": entry["path"]}
    if runtime.get("threads"):
        kwargs["threads"] = runtime["threads"]
    if entry.get("backend") == "onnxruntime" and runtime.get("providers"):
        kwargs["providers"] = runtime["providers"]
    return RunnerSpec(target, kwargs)


def remeasure_interleaved(baseline: Side, candidate: Side, rounds: int, runs_per_round: int = 50) -> list[str]:
    """Replace both sides' ``timings_ms`` with ``rounds`` interleaved runs each; returns notes."""
    notes: list[str] = []
    if baseline.build_dir is None or candidate.build_dir is None:
        return ["--repeat needs two build folders (their artifacts and evaluation feeds); kept stored timings"]
    base_entries, cand_entries = entries(baseline.report), entries(candidate.report)
    latency = LatencySpec(warmup=10, runs=max(runs_per_round, 11), min_time_s=0)
    for key in sorted(set(base_entries) & set(cand_entries)):
        pair = [(side, side_entries[key]) for side, side_entries in
                ((baseline, base_entries), (candidate, cand_entries))]
        runners = [_runner(entry) for _, entry in pair]
        if any(r is None for r in runners):
            notes.append(f"{'/'.join(key)}: not re-measured (artifact file missing or runtime unknown)")
            continue
        samples: list[list[float]] = [[], []]
        with tempfile.TemporaryDirectory(prefix="edgeconv-repeat-") as tmp:
            for round_ in range(rounds):
                for i, ((side, _), runner) in enumerate(zip(pair, runners, strict=True)):
                    feeds = Path(side.build_dir) / "data" / "eval.npz"  # type: ignore[arg-type]
                    result = run_worker(runner, feeds, latency, Path(tmp) / f"{i}-{round_}", _label(key))  # type: ignore[arg-type]
                    samples[i] += [t * 1e3 for t in result["timings_s"]]
        for (_, entry), timings in zip(pair, samples, strict=True):
            entry["timings_ms"], entry["remeasured"] = timings, True  # timed here: one machine, interleaved
        notes.append(f"{'/'.join(key)}: re-measured here, {rounds} interleaved rounds of {latency.runs} runs each")
    return notes


def _label(key: Key) -> str:
    return "/".join(key)
