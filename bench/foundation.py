"""Foundation benchmark: PyTorch eager fp32 vs the ONNX Runtime artifacts edgeconv builds for the sample.

One run, one process, the same input and thread count for every row, interleaved round by round;
prints p50 at batch 1 and each row's ratio to eager.

    python bench/foundation.py [--rounds 5] [--runs 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    add_timing_args,
    build_feeds,
    eager_model,
    markdown_table,
    ort_session,
    session_call,
    time_interleaved,
)

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "samples" / "tweet-sentiment" / "edgeconv.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(parser, runs=60)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "foundation")
    args = parser.parse_args()

    import torch

    from edgeconv.api import build
    from edgeconv.spec import load_spec

    spec = load_spec(SPEC)
    report = build(spec, out=args.out, targets=["x86-cpu-ort"]).to_dict()  # cached stages are reused
    example = {k: v[:1] for k, v in build_feeds(args.out).items()}

    torch.set_num_threads(args.threads)
    model = eager_model(spec)
    tensors = {k: torch.from_numpy(v) for k, v in example.items()}

    def eager() -> None:
        with torch.inference_mode():
            model(**tensors)

    rows = {"PyTorch eager fp32": eager}
    entries = {"ORT fp32 (plain export, the reference)": report["reference"]}
    entries.update({f"edgeconv {a['precision']}": a for a in report["artifacts"] if a["path"]})
    rows.update({label: session_call(ort_session(e["path"], args.threads), example) for label, e in entries.items()})
    p50 = time_interleaved(rows, args.rounds, args.runs)

    base = p50["PyTorch eager fp32"]
    table = [["PyTorch eager fp32", f"{base:.2f}", "1.00", "–", "–", "–"]]
    for label, e in entries.items():
        table.append([label, f"{p50[label]:.2f}", f"{p50[label] / base:.2f}", f"{e['accuracy']:.3f}",
                      f"{e['agreement']:.3f}", f"{e['size_bytes'] / 1e6:.1f}"])
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, batch 1, sequence "
          f"{spec.model.text.max_length}, {args.rounds}x{args.runs} interleaved runs per row")
    print(markdown_table(["artifact", "p50 ms", "× eager", "accuracy", "agreement", "MB"], table))
    (args.out / "bench.json").write_text(json.dumps(p50, indent=2))


if __name__ == "__main__":
    main()
