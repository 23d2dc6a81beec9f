"""Run one artifact in a fresh process: every evaluation example once, then timed runs.

Why a separate process: peak memory is then the artifact's own (not the build's torch heap), a
runtime that crashes cannot take the build down, and the very same file runs on a remote device
(it needs only numpy, the runtime, and the runner module named in the request).

    python -m edgeconv.verify.worker request.json

request.json: {"runner": "pkg.module:Class", "kwargs": {...}, "feeds": "eval.npz", "out": "dir",
               "warmup": 20, "runs": 200, "min_time_s": 1.0, "batch_size": 1}
out/: outputs.npz (every output, one row per example), outputs.npy (the first), result.json
      (timings in seconds, memory, runtime facts).
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    """The process's high-water RSS. VmHWM, not ru_maxrss: ru_maxrss survives exec, so a worker
    forked from a large parent would report the parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_runner(target: str, kwargs: dict[str, Any], in_turns: bool = False) -> Any:
    """The runner class ``module:Class`` made with ``kwargs``; ``in_turns``: it will be timed in turns with other
    runners in this process, so it releases the cores between calls (``Runner.share_cores``)."""
    module, _, cls = target.partition(":")
    runner = getattr(importlib.import_module(module), cls)(**kwargs)
    if in_turns:
        runner.share_cores()
    return runner


def run(request: dict[str, Any]) -> dict[str, Any]:
    out = Path(request["out"])
    out.mkdir(parents=True, exist_ok=True)
    with np.load(request["feeds"], allow_pickle=False) as data:
        feeds = {k: data[k] for k in data.files if not k.startswith("__")}
        unbatched = {str(n) for n in data["__unbatched__"]} if "__unbatched__" in data.files else set()
        shapes = {k[len(SHAPE_PREFIX):]: data[k] for k in data.files if k.startswith(SHAPE_PREFIX)}
    count = len(next(iter(feeds.values())))

    def example(i: int, batch: int = 1) -> dict[str, np.ndarray]:
        # edgeconv.data.feeds.FeedSet.example, repeated: the worker imports only numpy and the runtime.
        if shapes:  # inputs of varying shape: one example at its own shape (prepare refuses batch > 1)
            return {k: unpad(v, shapes[k], i)[None] if k in shapes else v[i : i + 1] for k, v in feeds.items()}
        return {k: np.asarray(v[i]) if k in unbatched else v[i : i + batch] for k, v in feeds.items()}

    batch = int(request.get("batch_size", 1))
    runner = load_runner(request["runner"], request.get("kwargs", {}))
    rss_before = _rss_mb()
    start = time.perf_counter()
    with runner:
        load_s = time.perf_counter() - start
        outputs = [runner.infer(example(i)) for i in range(count)]
        ragged = save_outputs(out, outputs)
        before = conditions()
        timed = timed_examples(shapes, count)
        timings, warmup_calls = _time(runner, example, timed, batch, request)
        facts = runner.describe()
    result = {
        "examples": count, "load_s": load_s, "timings_s": timings, "batch_size": batch,
        "warmup": warmup_calls, "peak_rss_mb": _peak_rss_mb(),
        "rss_before_load_mb": rss_before, "runtime": facts,
        "conditions": {"before": before, "after": conditions()}, "ragged_outputs": ragged,
        "timed_examples": len(timed), "timed_shapes": {k: v[0].tolist() for k, v in shapes.items()} or None,
    }
    (out / "result.json").write_text(json.dumps(result))
    return result


SHAPE_SUFFIX = "::shape"  # beside an array padded to a common shape: each example's own shape [N, ndim]
SHAPE_PREFIX = "__shape__::"  # in a feeds file: an input's per-example shapes (edgeconv.data.feeds.SHAPE_PREFIX)


def join_rows(rows: list[np.ndarray]) -> np.ndarray | None:
    """One output over every example: batch-1 rows joined on their batch axis, other rows stacked; None when
    the shape varies between examples."""
    if len({r.shape for r in rows}) > 1:
        return None
    if all(r.ndim and r.shape[0] == 1 for r in rows):
        return np.concatenate(rows)
    return np.stack(rows)


def pad_rows(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows whose shapes differ (a post-NMS detector's K boxes, a map at each image's own size), zero-padded to
    the largest along every axis, and each row's shape; None when their ranks or types differ."""
    if len({(r.ndim, r.dtype) for r in rows}) > 1:
        return None
    if all(r.ndim > 1 and r.shape[0] == 1 for r in rows):  # the runtime's batch axis, as join_rows drops it
        rows = [r[0] for r in rows]
    shapes = np.array([r.shape for r in rows], np.int64).reshape(len(rows), -1)
    padded = np.zeros((len(rows), *shapes.max(axis=0)), rows[0].dtype)
    for i, row in enumerate(rows):
        padded[(i, *(slice(0, n) for n in row.shape))] = row
    return padded, shapes


def unpad(array: np.ndarray, shapes: np.ndarray, i: int) -> np.ndarray:
    """Row ``i`` of an array padded by ``pad_rows``, at its own shape."""
    return array[(i, *(slice(0, int(n)) for n in shapes[i]))]


def stack_outputs(outputs: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every output as one array with a row per example (one whose shape varies padded, with each example's
    shape under ``name + SHAPE_SUFFIX``), and the names of outputs that fit neither form."""
    arrays, left_out = {}, []
    for name in outputs[0]:
        rows = [o[name] for o in outputs]
        joined = join_rows(rows)
        if joined is not None:
            arrays[name] = joined
            continue
        padded = pad_rows(rows)
        if padded is None:
            left_out.append(name)
        else:
            arrays[name], arrays[name + SHAPE_SUFFIX] = padded
    return arrays, left_out


def save_outputs(out: Path, outputs: list[dict[str, np.ndarray]]) -> list[str]:
    """outputs.npz: every output, one row per example (``stack_outputs``); outputs.npy: the first output alone
    (what classification metrics read). Returns the names of outputs left out of outputs.npz."""
    names = list(outputs[0])
    arrays, ragged = stack_outputs(outputs)
    np.savez(out / "outputs.npz", **arrays)
    first = [o[names[0]] for o in outputs]
    np.save(out / "outputs.npy", arrays[names[0]] if names[0] in arrays else np.concatenate(first))
    return ragged


def timed_examples(shapes: dict[str, np.ndarray], count: int) -> list[int]:
    """The examples latency is measured on: all of them, or where inputs vary in shape, those at the first
    example's shapes (one shape is timed, the one the set lists first)."""
    if not shapes:
        return list(range(count))
    return [i for i in range(count) if all(np.array_equal(s[i], s[0]) for s in shapes.values())]


def _time(
    runner: Any, example: Callable[[int, int], dict[str, np.ndarray]], timed: list[int], batch: int,
    request: dict[str, Any],
) -> tuple[list[float], int]:
    """Warm up until stable, then time at least ``runs`` calls and ``min_time_s``, cycling through ``timed``.

    Warm-up runs ``warmup`` calls, then goes on (up to 10x as many) until the median of the last
    ten calls is within 5 % of the ten before: caches, allocators and clocks have settled.
    Returns the timings and the warm-up calls made.
    """
    starts = timed[: max(len(timed) - batch + 1, 1)]

    def call(i: int) -> float:
        j = starts[i % len(starts)]
        runner.infer(example(j, batch))
        return runner.last_inference_s

    warmup = int(request.get("warmup", 20))
    seen = [call(i) for i in range(warmup)]
    while len(seen) < 10 * max(warmup, 2) and len(seen) >= 20:
        last, before = np.median(seen[-10:]), np.median(seen[-20:-10])
        if abs(last - before) <= 0.05 * before:
            break
        seen.append(call(len(seen)))
    timings: list[float] = []
    runs, min_time = int(request.get("runs", 200)), float(request.get("min_time_s", 1.0))
    begin = time.perf_counter()
    while len(timings) < runs or time.perf_counter() - begin < min_time:
        timings.append(call(len(timings)))
        if len(timings) >= 100 * runs:  # a bound on a very fast model with a long min_time_s
            break
    return timings, len(seen)


def conditions() -> dict[str, Any]:
    """What the machine was doing: latency is only comparable under like conditions."""
    import os

    facts: dict[str, Any] = {"load_average": list(os.getloadavg()), "cpus": os.cpu_count()}
    for name, path in (("governor", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
                       ("cpu0_khz", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")):
        try:
            with open(path) as f:
                facts[name] = f.read().strip()
        except OSError:
            facts[name] = None  # not exposed (VMs, containers)
    return facts


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m edgeconv.verify.worker request.json", file=sys.stderr)
        return 2
    try:
        run(json.loads(Path(argv[0]).read_text()))
    except Exception as exc:  # the traceback for the parent's log, then one last line; the parent decides the status
        import traceback

        traceback.print_exc(file=sys.stderr)
        print(f"{type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
