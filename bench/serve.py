"""`edgeconv serve` under load: N concurrent clients on loopback sending the sample's tweets to /infer, the server
without batching (``--max-batch-size 1 --instances 1``: one call at a time) against the same server with
Triton-style dynamic batching, and the artifact called in-process by its runner one request at a time.

Rounds alternate between the paths (interleaved), each timing ``--requests`` calls. The table gives throughput,
per-request p50/p99, and the batched/unbatched ratio; while the servers are loaded a probe polls
/v2/health/ready every 100 ms, and every batched answer is compared with the unbatched server's answer to the
same request. ``--sweep`` times several batch sizes, delays and instance counts instead of one setting (how the
defaults were chosen).

    python bench/serve.py [--out samples/tweet-sentiment/out] [--requests 1000] [--concurrency 32] [--rounds 3]
                          [--batch 8 --delay-ms 2 --instances 1] [--sweep] [--precision P]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeconv.serve.batching import BatchSettings  # noqa: E402
from tests.serve.test_serve import call, server, tensor  # noqa: E402  (the tests' own loopback server harness)

NAMES = ("input_ids", "attention_mask", "token_type_ids")


class ReadyProbe:
    """Polls /v2/health/ready while a load runs: every answer must be 200 and come back promptly."""

    def __init__(self, url: str) -> None:
        self.url, self.answers, self.failures, self.slowest = url, 0, 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            start = time.perf_counter()
            try:
                ok = call(f"{self.url}/v2/health/ready")[0] == 200
            except OSError:
                ok = False
            self.answers += 1
            self.failures += not ok
            self.slowest = max(self.slowest, time.perf_counter() - start)

    def __enter__(self) -> ReadyProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def served(url: str, name: str, bodies: list[dict], concurrency: int) -> tuple[float, list[float], list, ReadyProbe]:
    def one(body: dict) -> tuple[float, list]:
        start = time.perf_counter()
        status, answer = call(f"{url}/v2/models/{name}/infer", body)
        assert status == 200, (status, answer)
        return time.perf_counter() - start, answer["outputs"][0]["data"]

    start = time.perf_counter()
    with ReadyProbe(url) as probe, ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, bodies))
    return time.perf_counter() - start, [r[0] for r in results], [r[1] for r in results], probe


def in_process(model, feeds: list[dict[str, np.ndarray]]) -> tuple[float, list[float]]:
    latencies = []
    start = time.perf_counter()
    for f in feeds:
        t = time.perf_counter()
        model.infer(f)
        latencies.append(time.perf_counter() - t)
    return time.perf_counter() - start, latencies


def settings_to_try(args: argparse.Namespace) -> list[BatchSettings]:
    if not args.sweep:
        return [BatchSettings(args.batch, args.delay_ms / 1e3, args.instances)]
    return [BatchSettings(b, d / 1e3, i) for b, d, i in itertools.product((4, 8, 16, 32), (1, 2, 5), (1, 2))]


def flags(s: BatchSettings) -> list[str]:
    return ["--max-batch-size", str(s.max_batch), "--max-queue-delay-ms", str(s.max_delay_s * 1e3),
            "--instances", str(s.instances)]


def label(s: BatchSettings) -> str:
    return f"batched {s.max_batch} rows, {s.max_delay_s * 1e3:g} ms, {s.instances} instance(s)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "samples" / "tweet-sentiment" / "out")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    defaults = BatchSettings()
    parser.add_argument("--batch", type=int, default=defaults.max_batch)
    parser.add_argument("--delay-ms", type=float, default=defaults.max_delay_s * 1e3)
    parser.add_argument("--instances", type=int, default=defaults.instances)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--precision", help="serve this artifact instead of the build's choice (as serve takes it)")
    args = parser.parse_args()
    from edgeconv.serve.model import load_model

    report = json.loads((args.out / "report.json").read_text())
    data = np.load(args.out / "data" / "eval.npz")
    count = len(data["input_ids"])
    feeds = [{n: data[n][i % count : i % count + 1] for n in NAMES} for i in range(args.requests)]
    bodies = [{"inputs": [tensor(n, f[n], "INT64") for n in NAMES]} for f in feeds]
    model = load_model(args.out, None, args.precision, None)
    chosen = ("--precision", args.precision) if args.precision else ()
    tried = settings_to_try(args)
    paths = ["in-process", "served, unbatched", *map(label, tried)]
    figures: dict[str, list[tuple[float, list[float]]]] = {p: [] for p in paths}
    probes: dict[str, list[ReadyProbe]] = {p: [] for p in paths}
    worst_diff, flips = 0.0, 0
    with contextlib.ExitStack() as stack:
        urls = {"served, unbatched": stack.enter_context(server(args.out, *chosen, "--max-batch-size", "1",
                                                                         "--instances", "1"))}
        for s in tried:
            urls[label(s)] = stack.enter_context(server(args.out, *chosen, *flags(s)))
        for _ in range(args.rounds):
            figures["in-process"].append(in_process(model, feeds))
            wall, lat, reference, probe = served(urls["served, unbatched"], report["name"], bodies, args.concurrency)
            figures["served, unbatched"].append((wall, lat))
            probes["served, unbatched"].append(probe)
            for s in tried:
                wall, lat, answers, probe = served(urls[label(s)], report["name"], bodies, args.concurrency)
                figures[label(s)].append((wall, lat))
                probes[label(s)].append(probe)
                diff = np.abs(np.asarray(answers) - np.asarray(reference))
                worst_diff = max(worst_diff, float(diff.max()))
                flips += int((np.argmax(answers, axis=1) != np.argmax(reference, axis=1)).sum())
    print(f"{report['name']}: {args.requests} requests x {args.rounds} rounds, {args.concurrency} concurrent "
          f"clients on loopback (served) vs one caller (in-process)")
    print("| path | requests/s | × unbatched | p50 ms | p99 ms | ready probes (failed, slowest ms) |")
    print("|---|---|---|---|---|---|")
    rates = {p: float(np.median([args.requests / wall for wall, _ in runs])) for p, runs in figures.items()}
    for path, runs in figures.items():
        latencies = np.concatenate([lat for _, lat in runs]) * 1e3
        ready = (f"{sum(p.answers for p in probes[path])} ({sum(p.failures for p in probes[path])}, "
                 f"{max(p.slowest for p in probes[path]) * 1e3:.0f})" if probes[path] else "—")
        print(f"| {path} | {rates[path]:.1f} | {rates[path] / rates['served, unbatched']:.2f}× | "
              f"{np.percentile(latencies, 50):.2f} | {np.percentile(latencies, 99):.2f} | {ready} |")
    print(f"batched answers vs the unbatched server's, same requests: max |logit difference| {worst_diff:.2e}, "
          f"{flips} top-1 changes")


if __name__ == "__main__":
    main()
