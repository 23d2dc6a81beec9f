"""Small build folders made in code, shaped like `edgeconv build` output, for compare/bundle/CI tests.

Real ONNX files and real ORT outputs (tiny model), a report.json built through edgeconv.results,
and timing samples drawn from a seeded lognormal so two "identical" builds still differ in raw latency.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgeconv.fsutil import sha256_file
from edgeconv.results import ArtifactResult, BuildResult, Measurement, RunnerRecord
from edgeconv.verify.metrics import agreement, classification_metrics, latency_summary
from tests.conftest import make_tiny_onnx, tiny_logits

TARGET = "tiny-cpu"
PRECISIONS = ("fp32", "int8-dynamic")
LABELS = ["a", "b", "c"]
EXAMPLES = 1000


def make_build(
    root: Path, timing_seed: int = 0, latency_scale: float = 1.0, flip_fraction: float = 0.0, runs: int = 200,
    weight_seed: int = 0, metric: str = "accuracy",
) -> Path:
    """A build folder under ``root``; ``flip_fraction`` of the int8 artifact's rows get a wrong argmax. ``metric``:
    the evaluation metric (``CUSTOM_METRIC`` runs through edgeconv's custom-metric loader, as a build does)."""
    from edgeconv.verify.custom_metric import evaluate, is_custom, load_metric

    custom = load_metric(metric, None) if is_custom(metric) else None
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(123)  # the evaluation set is the same for every build
    x = rng.normal(size=(EXAMPLES, 8)).astype(np.float32)
    export = root / "export" / "model.onnx"
    export.parent.mkdir(parents=True)
    make_tiny_onnx(export, seed=weight_seed)
    ref_logits = tiny_logits(export, x)
    labels = _labels(root, x)
    noisy = rng.random(EXAMPLES) < 0.1  # a model right ~90 % of the time
    labels[noisy] = (labels[noisy] + 1) % 3
    (root / "data").mkdir()
    np.savez(root / "data" / "eval.npz", x=x, __labels__=labels)

    timing_rng = np.random.default_rng(timing_seed)

    def measure(name: str, logits: np.ndarray, scale: float) -> Measurement:
        folder = root / "verify" / name
        folder.mkdir(parents=True)
        np.save(folder / "outputs.npy", logits)
        np.savez(folder / "outputs.npz", logits=logits)
        timings_s = list(timing_rng.lognormal(np.log(0.005 * scale), 0.15, size=runs))
        task = classification_metrics(logits, labels, LABELS)
        agree = agreement(logits, ref_logits)
        value = evaluate(custom, {"logits": logits}, {"logits": ref_logits}, labels, metric) if custom \
            else task[metric]
        return Measurement(task["accuracy"], task["macro_f1"], task["per_class"], agree["agreement"],
                           agree["max_abs_error"], latency_summary(timings_s), [t * 1e3 for t in timings_s],
                           10.0, 0.01, {"runtime": "onnxruntime", "version": ort.__version__, "threads": 1},
                           metric_value=value)

    reference = ArtifactResult("reference", "onnxruntime", "fp32", str(export), sha256_file(export),
                               export.stat().st_size, measurement=measure("reference", ref_logits, 1.0))
    artifacts = []
    for precision in PRECISIONS:
        folder = root / "artifacts" / f"{TARGET}-{precision}"
        folder.mkdir(parents=True)
        path = folder / "model.onnx"
        quantization = None
        if precision == "fp32":
            shutil.copyfile(export, path)
        else:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(export), str(path), weight_type=QuantType.QInt8)
            quantization = {"precision": precision, "method": "dynamic", "weight_type": "int8"}
        (folder / "stage.json").write_text(json.dumps({"key": "k", "meta": {"file": "model.onnx"}}))
        logits = tiny_logits(path, x)
        if precision != "fp32" and flip_fraction:
            rows = np.random.default_rng(7).choice(EXAMPLES, int(EXAMPLES * flip_fraction), replace=False)
            correct_rows = rows[logits[rows].argmax(-1) == labels[rows]]
            logits[correct_rows] = np.roll(logits[correct_rows], 1, axis=-1)  # argmax moves to another class
        m = measure(f"{TARGET}-{precision}", logits, latency_scale)
        artifacts.append(ArtifactResult(TARGET, "onnxruntime", precision, str(path), sha256_file(path),
                                        path.stat().st_size, measurement=m,
                                        accuracy_delta=m.metric_value - reference.measurement.metric_value,
                                        quantization=quantization, runner=RunnerRecord(**RUNNER)))
    result = BuildResult(
        "tiny", str(root), reference, artifacts, {"parity": None},
        {"versions": {"edgeconv": "test"}, "spec_sha256": "0" * 64},
        {"examples": EXAMPLES, "metric": metric, "labels": LABELS},
    )
    (root / "report.json").write_text(json.dumps(result.to_dict(), indent=2))
    _device_assets(root)
    return root


RUNNER = {"runner": "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner", "kwargs": {"threads": 1}}


def _device_assets(root: Path) -> None:
    """out/device/ as edgeconv.api.device_assets writes it for an .npz evaluation set."""
    device = root / "device"
    device.mkdir()
    tolerance = {"atol": 1e-3, "rtol": 1e-3, "max_mismatch": 0.0}
    (device / "preprocessing.json").write_text(json.dumps({
        "task": "classification", "labels": LABELS, "unbatched": [],
        "inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 8]}], "tolerances": {"logits": tolerance},
        "kind": "feeds", "why": "the evaluation set is npz feeds",
    }))
    (device / "golden.json").write_text(json.dumps({"count": 16, "raw": []}))


def _labels(root: Path, x: np.ndarray) -> np.ndarray:
    """Labels come from a fixed model (seed 0), so builds with other weights are scored on the same truth."""
    path = root / ".labels.onnx"
    make_tiny_onnx(path, seed=0)
    labels = tiny_logits(path, x).argmax(-1).astype(np.int64)
    path.unlink()
    return labels


def report_of(build: Path) -> dict:
    return json.loads((build / "report.json").read_text())


CUSTOM_METRIC = "tests.fakebuild:recall_of_a"


def recall_of_a(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], labels: np.ndarray | None) -> float:
    """A user's metric (``evaluation.metric: module:function``): the recall of class "a"."""
    assert labels is not None
    mine = labels == 0
    return float(np.mean(outputs["logits"][mine].argmax(-1) == 0))


CUSTOM_MEAN_METRIC = "tests.fakebuild:top1_match"


def top1_match(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], labels: np.ndarray | None) -> float:
    """A user's metric that is a mean over examples: the share whose top class is the fp32 model's."""
    return float(np.mean(outputs["logits"].argmax(-1) == reference["logits"].argmax(-1)))
