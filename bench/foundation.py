"""Foundation benchmark: PyTorch eager fp32 vs the ONNX Runtime artifacts edgeconv builds for the sample.

One run, one process, the same inputs and thread count for every row, rows interleaved round by
round so machine noise hits them alike; prints p50 at batch 1 and each row's ratio to eager.

    python bench/foundation.py [--rounds 5] [--runs 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "samples" / "tweet-sentiment" / "edgeconv.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100, help="timed calls per row per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "foundation")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    from edgeconv.api import build
    from edgeconv.models import load_model
    from edgeconv.spec import load_spec

    spec = load_spec(SPEC)
    result = build(spec, out=args.out)  # reuses cached stages on a re-run
    report = result.to_dict()
    feeds = np.load(args.out / "data" / "eval.npz")
    names = [n for n in feeds.files if not n.startswith("__")]
    example = {n: feeds[n][:1] for n in names}

    torch.set_num_threads(args.threads)
    loaded = load_model(spec.model)
    args_t = tuple(torch.from_numpy(example[t.name]) for t in loaded.inputs)

    def eager() -> None:
        with torch.inference_mode():
            loaded.module(*args_t)

    rows: dict[str, object] = {"PyTorch eager fp32": eager}
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    for entry in [report["reference"], *report["artifacts"]]:
        label = "ORT fp32 (plain export)" if entry["target"] == "reference" else f"edgeconv {entry['precision']}"
        session = ort.InferenceSession(entry["path"], options, providers=["CPUExecutionProvider"])
        rows[label] = (lambda s: lambda: s.run(None, example))(session)

    timings: dict[str, list[float]] = {label: [] for label in rows}
    for fn in rows.values():
        for _ in range(20):
            fn()  # warm-up
    for _ in range(args.rounds):
        for label, fn in rows.items():
            for _ in range(args.runs):
                start = time.perf_counter()
                fn()
                timings[label].append(time.perf_counter() - start)

    accuracy = {"ORT fp32 (plain export)": report["reference"]}
    accuracy.update({f"edgeconv {a['precision']}": a for a in report["artifacts"]})
    eager_p50 = float(np.median(timings["PyTorch eager fp32"])) * 1e3
    seq = spec.model.text.max_length
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads, batch 1, sequence {seq}, "
          f"{args.rounds}x{args.runs} runs per row, interleaved")
    print("| artifact | p50 ms | ratio to eager | accuracy | agreement | size MB |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for label, samples in timings.items():
        p50 = float(np.median(samples)) * 1e3
        entry = accuracy.get(label)
        acc = f"{entry['accuracy']:.3f}" if entry else f"{report['reference']['accuracy']:.3f} (same weights)"
        agree = f"{entry['agreement']:.3f}" if entry else "–"
        size = f"{entry['size_bytes'] / 1e6:.1f}" if entry else "–"
        print(f"| {label} | {p50:.2f} | {p50 / eager_p50:.2f} | {acc} | {agree} | {size} |")
        summary[label] = {"p50_ms": p50, "ratio_to_eager": p50 / eager_p50}
    (args.out / "bench.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
