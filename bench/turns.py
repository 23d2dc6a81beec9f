"""Several ONNX Runtime sessions timed in turns in one process, as a build's interleaved pass does: with ORT's
defaults (each idle session's pool goes on spinning after its call) and with the entry edgeconv sets
(``verify.timing.ORT_STOP_SPINNING``), against the model timed alone in its own process, as its users run it.

Each pass runs in its own process (an earlier pass's idle pools would spin through a later one), alternated over
``--repeats``; every pass times ``--rows`` copies of the same file, so their paired ratio should read 1.00.

    python bench/turns.py                      # Google's Magika, as the magika wheel ships it
    python bench/turns.py --model path/to/model.onnx --rows 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROUNDS, RUNS = 24, 3  # the build's loaded pass: 24 rounds of 3 calls per row


def magika_model() -> Path:
    import magika

    return Path(magika.__file__).parent / "models/standard_v3_3/model.onnx"


def session(path: str, threads: int, stop: bool) -> Any:  # an onnxruntime.InferenceSession
    import onnxruntime as ort

    from edgeconv.verify.timing import ORT_STOP_SPINNING

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if stop:
        options.add_session_config_entry(ORT_STOP_SPINNING, "1")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def feeds(s: Any) -> dict[str, np.ndarray]:
    """Seeded inputs at the model's shape (symbolic dims as 1)."""
    rng, out = np.random.default_rng(0), {}
    for i in s.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        dtype = {"tensor(int32)": np.int32, "tensor(int64)": np.int64}.get(i.type, np.float32)
        out[i.name] = rng.integers(0, 256, shape).astype(dtype)
    return out


def one_pass(mode: str, path: str, rows: int, threads: int) -> dict:
    """``alone``: one session, ROUNDS x RUNS calls in a row; ``default``/``stop``: ``rows`` sessions in turns, each
    round in a new seeded order. p50 (ms) of every row and the paired ratio of row 1 to row 0 with its 99% interval."""
    from edgeconv.verify.timing import round_ratio

    sessions = [session(path, threads, mode == "stop") for _ in range(1 if mode == "alone" else rows)]
    feed = feeds(sessions[0])
    for s in sessions:
        for _ in range(10):
            s.run(None, feed)
    rounds: list[list[float]] = [[] for _ in sessions]
    rng = np.random.default_rng(0)
    for _ in range(ROUNDS):
        for i in rng.permutation(len(sessions)):
            calls = []
            for _ in range(RUNS):
                start = time.perf_counter()
                sessions[i].run(None, feed)
                calls.append(time.perf_counter() - start)
            rounds[i].append(float(np.median(calls)) * 1e3)
    result = {"p50_ms": [float(np.median(r)) for r in rounds]}
    if len(sessions) > 1:
        result["identical_ratio"] = round_ratio(rounds[0], rounds[1], 0.99)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, rows, threads = args.child
        print(json.dumps(one_pass(mode, path, int(rows), int(threads))))
        return
    path = str(args.model or magika_model())
    print(f"{path}: {args.rows} copies in turns, {args.threads} threads, {ROUNDS} rounds x {RUNS} calls\n")
    print("| repeat | alone p50 ms | ORT defaults in turns: p50 ms | x alone | identical 99% | "
          "edgeconv (threads stop spinning): p50 ms | x alone | identical 99% |")
    print("|---|---|---|---|---|---|---|---|")
    for k in range(args.repeats):
        got = {}
        for mode in ("alone", "default", "stop"):  # alternated: the machine's drift hits every mode alike
            out = subprocess.run([sys.executable, __file__, "--child", mode, path, str(args.rows), str(args.threads)],
                                 check=True, capture_output=True, text=True).stdout
            got[mode] = json.loads(out.strip().splitlines()[-1])
        alone = got["alone"]["p50_ms"][0]
        cells = [f"{k + 1}", f"{alone:.2f}"]
        for mode in ("default", "stop"):
            p50 = float(np.median(got[mode]["p50_ms"]))
            m, low, high = got[mode]["identical_ratio"]
            cells += [f"{p50:.2f}", f"{p50 / alone:.2f}", f"{m:.2f} ({low:.2f}-{high:.2f})"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
