"""Latency on real input lengths vs padded, on a built text sample (docs/verification.md, `latency.shape`).

Takes a build's output folder (its report.json, eval.npz, calibration.npz and ORT artifacts), adds OpenVINO fp32
and int8 IRs made from its fp32 ONNX (int8: `nncf.quantize` on 100 calibration examples), and runs the build's
interleaved pass (verify/retime.py) over the reference, ORT fp32 / int8-dynamic / int8-static and both IRs with
`latency.shape` as given. Before that, it checks on N evaluation examples that each named ORT precision predicts the
same padded and trimmed (accuracy is measured padded). Prints JSON lines; run it with the load average beside it.

    python bench/real_length.py OUT [--shape real|max] [--check fp32,int8-static] [--examples 1000] [--work DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.data.trim import trim
from edgeconv.results import RunnerRecord
from edgeconv.results.report_file import read_report
from edgeconv.spec import LatencySpec
from edgeconv.verify.retime import retime

OPENVINO = "edgeconv.backends.openvino.runner:OpenVINORunner"


def check(out: Path, precision: str, evaluation: FeedSet, count: int) -> dict[str, object]:
    """Logits and predictions of one ORT artifact, padded vs trimmed, on the first ``count`` examples."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(out / "artifacts" / f"x86-cpu-ort-{precision}" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    start, padded, real = time.time(), [], []
    for i in range(count):
        example = evaluation.example(i)
        padded.append(session.run(None, example)[0])
        real.append(session.run(None, trim(example))[0])
    pad, cut = np.concatenate(padded), np.concatenate(real)
    labels = evaluation.labels[:count] if evaluation.labels is not None else pad.argmax(1)
    return {"check": precision, "examples": count, "max_abs_logit_diff": float(np.abs(pad - cut).max()),
            "top1_agreement": float((pad.argmax(1) == cut.argmax(1)).mean()),
            "accuracy_padded": float((pad.argmax(1) == labels).mean()),
            "accuracy_real": float((cut.argmax(1) == labels).mean()), "s": round(time.time() - start, 1)}


def openvino_irs(out: Path, folder: Path) -> dict[str, Path]:
    import openvino as ov

    folder.mkdir(parents=True, exist_ok=True)
    irs = {"fp32": folder / "fp32.xml", "int8": folder / "int8.xml"}
    if not irs["fp32"].exists():
        model = ov.convert_model(str(out / "artifacts" / "x86-cpu-ort-fp32" / "model.onnx"))
        ov.save_model(model, str(irs["fp32"]), compress_to_fp16=False)
    if not irs["int8"].exists():
        import nncf

        calibration = FeedSet.load(out / "data" / "calibration.npz")
        examples = [calibration.example(i) for i in range(min(len(calibration), 100))]
        quantized = nncf.quantize(ov.Core().read_model(str(irs["fp32"])), nncf.Dataset(examples),
                                  model_type=nncf.ModelType.TRANSFORMER, subset_size=len(examples))
        ov.save_model(quantized, str(irs["int8"]))
    return irs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--shape", default="real", choices=["real", "max"])
    parser.add_argument("--check", default="fp32,int8-static", help="ORT precisions to check, or 'none'")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/real-length-openvino"), help="where the IRs go")
    args = parser.parse_args()
    evaluation = FeedSet.load(args.out / "data" / "eval.npz")
    for precision in [] if args.check == "none" else args.check.split(","):
        print(json.dumps(check(args.out, precision, evaluation, min(args.examples, len(evaluation)))), flush=True)
    result = read_report(args.out / "report.json")
    rows = [result.reference] + [a for a in result.artifacts if a.precision in ("fp32", "int8-dynamic", "int8-static")]
    for name, path in openvino_irs(args.out, args.work).items():
        row = copy.deepcopy(rows[1])
        row.target, row.backend, row.precision, row.path, row.sha256 = "x86-cpu-openvino", "openvino", name, \
            str(path), f"openvino-{name}"
        row.runner = RunnerRecord(runner=OPENVINO, kwargs={"threads": 2, "inference_precision": "f32"})
        rows.append(row)
    for row in rows:
        row.timing = None
    record = retime(rows, evaluation, LatencySpec(shape=args.shape))
    print(json.dumps({"pass": record, "load_average": os.getloadavg()}))
    for row in rows:
        print(json.dumps({"row": row.label, "shapes": row.timing.shapes if row.timing else None}))


if __name__ == "__main__":
    main()
