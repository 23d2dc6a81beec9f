"""TFLite benchmark: PyTorch eager fp32, the ONNX Runtime artifacts and every TFLite artifact, one run.

One process, the same example, the same thread count for every row, rows interleaved round by round
so machine noise hits them alike; p50 at batch 1, ratio to eager, size, agreement and accuracy from
the build's own verification (the whole evaluation set), then the conversion route table.

    python bench/tflite.py [--rounds 5] [--runs 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_timing_args, build_feeds, ort_session, session_call, time_interleaved

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "samples" / "tweet-sentiment" / "edgeconv.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(parser, runs=100)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "tflite")
    args = parser.parse_args()

    import torch

    from edgeconv.api import build
    from edgeconv.backends.tflite.runner import TFLiteRunner
    from edgeconv.models import load_model
    from edgeconv.spec import TargetRef, load_spec

    spec = load_spec(SPEC)
    spec.targets = [TargetRef(name="x86-cpu-ort", precisions=["int8-dynamic"], threads=args.threads),
                    TargetRef(name="arm64-tflite", threads=args.threads)]
    report = build(spec, out=args.out).to_dict()  # reuses cached stages on a re-run
    example = {n: v[:1] for n, v in build_feeds(args.out).items()}

    torch.set_num_threads(args.threads)
    loaded = load_model(spec.model)
    args_t = tuple(torch.from_numpy(example[t.name]) for t in loaded.inputs)

    def eager() -> None:
        with torch.inference_mode():
            loaded.module(*args_t)

    rows = {"PyTorch eager fp32": eager}
    entries: dict[str, dict] = {}
    runners = []
    for entry in [report["reference"], *report["artifacts"]]:
        if entry.get("status") == "error":
            print(f"skipped {entry['target']} {entry['precision']}: {entry['reason']}")
            continue
        if entry["backend"] == "onnxruntime":
            label = "ORT fp32 (plain export)" if entry["target"] == "reference" else f"ORT {entry['precision']}"
            rows[label] = session_call(ort_session(entry["path"], args.threads), example)
        else:
            label = f"TFLite {entry['precision']}"
            runner = TFLiteRunner(entry["path"], threads=args.threads, input_names=[t.name for t in loaded.inputs])
            runner.activate()
            runners.append(runner)
            rows[label] = (lambda r: lambda: r.infer(example))(runner)
        entries[label] = entry

    p50s = time_interleaved(rows, args.rounds, args.runs)
    eager_p50 = p50s["PyTorch eager fp32"]
    seq = spec.model.text.max_length
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads, batch 1, sequence {seq}, "
          f"{args.rounds}x{args.runs} runs per row, interleaved")
    print("| artifact | p50 ms | ratio to eager | accuracy | agreement | size MB |")
    print("|---|---|---|---|---|---|")
    summary = {}
    ref = report["reference"]
    for label, p50 in p50s.items():
        entry = entries.get(label)
        acc = f"{entry['accuracy']:.3f}" if entry else f"{ref['accuracy']:.3f} (same weights)"
        agree = f"{entry['agreement']:.3f}" if entry and entry is not ref else "–"
        size = f"{entry['size_bytes'] / 1e6:.1f}" if entry else "–"
        print(f"| {label} | {p50:.2f} | {p50 / eager_p50:.2f} | {acc} | {agree} | {size} |")
        summary[label] = {"p50_ms": p50, "ratio_to_eager": p50 / eager_p50}

    print("\nRoute comparison (PyTorch -> TFLite):")
    print("| route | artifact | conversion s | quantization s | size MB | agreement |")
    print("|---|---|---|---|---|---|")
    for label, entry in entries.items():
        if not label.startswith("TFLite"):
            continue
        extra, quant = entry, entry.get("quantization") or {}  # the backend's extra sits at the top level
        print(f"| litert-torch + ai-edge-quantizer | {entry['precision']} | {extra.get('convert_seconds', '–')} | "
              f"{quant.get('seconds', '–')} | {entry['size_bytes'] / 1e6:.1f} | {entry['agreement']:.3f} |")
    print("| onnx2tf (ONNX -> TFLite) | – | not measured: needs its own 2.6 GB venv (numpy 1.26, onnx 1.19, "
          "tensorflow 2.19) | – | – | – |")
    for runner in runners:
        runner.deactivate()
    (args.out / "bench.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
