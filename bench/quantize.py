"""Quantization benchmark: edgeconv's int8 against what a skilled user makes by hand, in one run.

Rows (batch 1, the sample's sequence length, 2 threads, interleaved): PyTorch eager fp32; ORT fp32
(plain export); `quantize_dynamic` on the plain export; ORT BERT fusions then `quantize_dynamic`
(the best hand-made recipe in MEASURED.md); naive static S8S8 QDQ over all ops; Optimum's
`optimum-cli onnxruntime quantize --avx2` preset (when --optimum-cli is given: Optimum pins
transformers 4.x, so it lives in its own venv); and edgeconv's int8-dynamic and int8-static.

    python bench/quantize.py [--optimum-cli /path/to/venv/bin/optimum-cli]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    add_timing_args,
    build_feeds,
    eager_model,
    markdown_table,
    ort_session,
    score_session,
    session_call,
    time_interleaved,
)

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "samples" / "tweet-sentiment" / "edgeconv.yaml"


def hand_made(reference: Path, calib: dict[str, np.ndarray], folder: Path, optimum_cli: str | None) -> dict[str, Path]:
    """The artifacts a user makes with ONNX Runtime's (and Optimum's) tools directly."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from onnxruntime.transformers.optimizer import optimize_model

    out = {}
    plain = out["hand: quantize_dynamic on the plain export"] = folder / "dyn.onnx"
    quantize_dynamic(str(reference), str(plain), weight_type=QuantType.QInt8)
    fused = folder / "fused.onnx"
    optimize_model(str(reference), model_type="bert", num_heads=12, hidden_size=384).save_model_to_file(str(fused))
    out["hand: ORT BERT fusions + quantize_dynamic"] = folder / "fused_dyn.onnx"
    quantize_dynamic(str(fused), str(out["hand: ORT BERT fusions + quantize_dynamic"]), weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.i = 0

        def get_next(self) -> dict | None:
            n = len(next(iter(calib.values())))
            if self.i >= n:
                return None
            self.i += 1
            return {k: v[self.i - 1 : self.i] for k, v in calib.items()}

    prepped = folder / "prepped.onnx"
    quant_pre_process(str(reference), str(prepped), skip_symbolic_shape=True)
    out["hand: static QDQ S8S8, all ops"] = folder / "s8s8.onnx"
    quantize_static(str(prepped), str(out["hand: static QDQ S8S8, all ops"]), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    if optimum_cli:
        model_dir = folder / "optimum_in"
        model_dir.mkdir()
        (model_dir / "model.onnx").write_bytes(reference.read_bytes())
        subprocess.run([optimum_cli, "onnxruntime", "quantize", "--onnx_model", str(model_dir), "--avx2",
                        "-o", str(folder / "optimum_out")], check=True, capture_output=True)
        out["Optimum `onnxruntime quantize --avx2`"] = next((folder / "optimum_out").glob("*.onnx"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(parser, runs=60)
    parser.add_argument("--optimum-cli", help="optimum-cli of a venv with optimum[onnxruntime]")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "quantize")
    args = parser.parse_args()

    import torch

    from edgeconv.api import build
    from edgeconv.spec import load_spec

    spec = load_spec(SPEC)
    report = build(spec, out=args.out, targets=["x86-cpu-ort"]).to_dict()
    feeds = build_feeds(args.out)
    labels = np.load(args.out / "data" / "eval.npz")["__labels__"]
    calib = build_feeds(args.out, "calibration")
    reference = np.load(args.out / "verify" / "reference" / "outputs.npy")
    example = {k: v[:1] for k, v in feeds.items()}

    torch.set_num_threads(args.threads)
    model = eager_model(spec)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]
    tensors = {n: torch.from_numpy(example[n]) for n in names}

    def eager() -> None:
        with torch.inference_mode():
            model(**tensors)

    paths = {"ORT fp32 (plain export)": Path(report["reference"]["path"])}
    with tempfile.TemporaryDirectory() as tmp:
        paths.update(hand_made(Path(report["reference"]["path"]), calib, Path(tmp), args.optimum_cli))
        for a in report["artifacts"]:
            if a["precision"].startswith("int8") and a["path"]:
                paths[f"edgeconv {a['precision']}"] = Path(a["path"])
        sessions = {label: ort_session(p, args.threads) for label, p in paths.items()}
        scores = {label: score_session(s, feeds, labels, reference) for label, s in sessions.items()}
        sizes = {label: p.stat().st_size / 1e6 for label, p in paths.items()}
        rows = {"PyTorch eager fp32": eager}
        rows.update({label: session_call(s, example) for label, s in sessions.items()})
        p50 = time_interleaved(rows, args.rounds, args.runs)
    eager_accuracy = scores["ORT fp32 (plain export)"]["accuracy"]
    table = [["PyTorch eager fp32", f"{p50['PyTorch eager fp32']:.2f}", "1.00", f"{eager_accuracy:.3f}", "–", "–"]]
    for label in paths:
        table.append([label, f"{p50[label]:.2f}", f"{p50[label] / p50['PyTorch eager fp32']:.2f}",
                      f"{scores[label]['accuracy']:.3f}", f"{scores[label]['agreement']:.3f}", f"{sizes[label]:.1f}"])
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, batch 1, sequence "
          f"{spec.model.text.max_length}, {len(labels)} evaluation tweets, {args.rounds}x{args.runs} interleaved runs")
    print(markdown_table(["artifact", "p50 ms", "× eager", "accuracy", "agreement", "MB"], table))
    (args.out / "bench.json").write_text(json.dumps({"p50_ms": p50, "scores": scores}, indent=2))


if __name__ == "__main__":
    main()
