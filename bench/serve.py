"""`edgeconv serve` under load: N concurrent clients on loopback sending the sample's tweets to /infer, against
the same artifact called in-process by its runner (the ceiling: what HTTP, JSON and the server cost on top).

Rounds alternate between the two (interleaved), each round timing ``--requests`` calls; the table gives
throughput and per-request p50/p99 and the served/in-process ratio.

    python bench/serve.py [--out samples/tweet-sentiment/out] [--requests 1000] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serve.test_serve import call, server, tensor  # noqa: E402  (the tests' own loopback server harness)

NAMES = ("input_ids", "attention_mask", "token_type_ids")


def served(url: str, name: str, bodies: list[dict], concurrency: int) -> tuple[float, list[float]]:
    def one(body: dict) -> float:
        start = time.perf_counter()
        status, _ = call(f"{url}/v2/models/{name}/infer", body)
        assert status == 200, status
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one, bodies))
    return time.perf_counter() - start, latencies


def in_process(model, feeds: list[dict[str, np.ndarray]]) -> tuple[float, list[float]]:
    latencies = []
    start = time.perf_counter()
    for f in feeds:
        t = time.perf_counter()
        model.infer(f)
        latencies.append(time.perf_counter() - t)
    return time.perf_counter() - start, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "samples" / "tweet-sentiment" / "out")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from edgeconv.serve.model import load_model

    report = json.loads((args.out / "report.json").read_text())
    data = np.load(args.out / "data" / "eval.npz")
    count = len(data["input_ids"])
    feeds = [{n: data[n][i % count : i % count + 1] for n in NAMES} for i in range(args.requests)]
    bodies = [{"inputs": [tensor(n, f[n], "INT64") for n in NAMES]} for f in feeds]
    model = load_model(args.out, None, None, None)
    figures: dict[str, list[tuple[float, list[float]]]] = {"in-process": [], "served": []}
    with server(args.out) as url:
        for _ in range(args.rounds):
            figures["in-process"].append(in_process(model, feeds))
            figures["served"].append(served(url, report["name"], bodies, args.concurrency))
    print(f"{report['name']}: {args.requests} requests x {args.rounds} rounds, {args.concurrency} concurrent "
          f"clients on loopback (served) vs one caller (in-process)")
    print("| path | requests/s | p50 ms | p99 ms |\n|---|---|---|---|")
    rates = {}
    for path, runs in figures.items():
        rates[path] = np.median([args.requests / wall for wall, _ in runs])
        latencies = np.concatenate([lat for _, lat in runs]) * 1e3
        print(f"| {path} | {rates[path]:.1f} | {np.percentile(latencies, 50):.2f} | "
              f"{np.percentile(latencies, 99):.2f} |")
    print(f"served / in-process throughput: {rates['served'] / rates['in-process']:.2f}x")


if __name__ == "__main__":
    main()
