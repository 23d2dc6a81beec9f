"""Run the verify worker on one artifact (in a fresh process) and turn its output into a Measurement."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import StageError
from edgeconv.results import Measurement, RunnerSpec
from edgeconv.spec import DetectionSpec, LatencySpec, SegmentationSpec
from edgeconv.spec.budgets import Budgets
from edgeconv.verify.budgets import tolerances
from edgeconv.verify.custom_metric import Metric, evaluate
from edgeconv.verify.fidelity import fidelity
from edgeconv.verify.metrics import agreement, classification_metrics, latency_summary
from edgeconv.verify.segmentation import segmentation_figures
from edgeconv.verify.worker import SHAPE_SUFFIX, unpad

WORKER_TIMEOUT_S = 1800


def worker_request(runner: RunnerSpec, feeds: str, latency: LatencySpec, out: str) -> dict[str, Any]:
    """The worker's request.json (shared with edgeconv.remote, which runs the same worker on a device)."""
    return {
        "runner": runner.runner, "kwargs": runner.kwargs, "feeds": feeds, "out": out,
        "warmup": latency.warmup, "runs": latency.runs, "min_time_s": latency.min_time_s,
        "batch_size": latency.batch_size,
    }


def run_worker(runner: RunnerSpec, feeds: Path, latency: LatencySpec, folder: Path, label: str) -> dict[str, Any]:
    """Run ``edgeconv.verify.worker`` in a subprocess writing into ``folder``; return its result.json."""
    request = worker_request(runner, str(feeds), latency, str(folder))
    request_file = folder / "request.json"
    folder.mkdir(parents=True, exist_ok=True)
    request_file.write_text(json.dumps(request))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edgeconv.verify.worker", str(request_file)],
            capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StageError(f"verifying {label} took over {WORKER_TIMEOUT_S} s and was stopped") from exc
    if proc.returncode != 0:
        error = StageError(f"verifying {label} failed in the runtime: {worker_failure(proc.returncode, proc.stderr)}")
        error.details = f"worker exit status {proc.returncode}\n{proc.stderr}"  # type: ignore[attr-defined]  # for the log
        raise error
    return json.loads((folder / "result.json").read_text())


def worker_failure(returncode: int, stderr: str) -> str:
    """Why the worker process ended: a signal (SIGKILL is most often the out-of-memory killer), else its last line."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = f"the worker process was killed by {name}"
        return why + (" (most often the out-of-memory killer: the artifact needs more memory than is free)"
                      if name == "SIGKILL" else "")
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else f"exit code {returncode}"


def score(
    result: dict[str, Any], outputs: np.ndarray, labels: np.ndarray | None, names: list[str],
    reference: np.ndarray | None, *, classes: bool = True, all_outputs: dict[str, np.ndarray] | None = None,
    reference_all: dict[str, np.ndarray] | None = None, budgets: Budgets | None = None,
    metric: str = "accuracy", custom: Metric | None = None, detection: DetectionSpec | None = None,
    segmentation: SegmentationSpec | None = None, targets: list[dict[str, Any]] | None = None,
) -> Measurement:
    """Score one artifact's outputs: classification metrics on the first output when ``classes`` (and the
    labels) allow, top-1 agreement for classifiers, and the numeric fidelity of every output against
    ``reference_all`` (with the tolerances ``budgets`` sets per output)."""
    for name, array in (all_outputs or {"output": outputs}).items():
        if not np.all(np.isfinite(array)):
            raise StageError(f"the artifact produced NaN or infinite values in output '{name}'",
                             fix="exclude the offending layers from quantization, or use a wider precision")
    task: dict[str, Any] = {"accuracy": None, "macro_f1": None, "per_class": {}}
    if classes and labels is not None:
        task = classification_metrics(outputs, labels, names)
    agree: dict[str, Any] = {"agreement": 1.0 if classes else None, "max_abs_error": 0.0}
    if reference is not None:
        agree = agreement(outputs, reference)
        agree["agreement"] = agree["agreement"] if classes else None
    outputs_fidelity: dict[str, dict[str, Any]] = {}
    if all_outputs is not None and reference_all is not None:
        try:
            outputs_fidelity = fidelity(all_outputs, reference_all, tolerances(budgets or Budgets(), reference_all))
        except ValueError as exc:
            raise StageError(f"the artifact's outputs do not match the reference's: {exc}") from exc
    detected = detection_figures(detection, all_outputs, reference_all, outputs, targets) if detection else None
    segmented = None
    if segmentation is not None:
        segmented = segmentation_figures(segmentation, output_rows(segmentation.output, all_outputs, outputs),
                                         None if reference_all is None else
                                         output_rows(segmentation.output, reference_all, None), targets)
    if custom is not None:
        mine = all_outputs if all_outputs is not None else {"output": outputs}
        value: float | None = evaluate(custom, mine, reference_all if reference_all is not None else mine, labels,
                                       metric)
    else:
        value = task.get(metric)
    return Measurement(
        accuracy=task["accuracy"], macro_f1=task["macro_f1"], per_class=task["per_class"],
        agreement=agree["agreement"], max_abs_error=agree["max_abs_error"],
        latency_ms=latency_summary(result["timings_s"]),
        timings_ms=[round(t * 1e3, 4) for t in result["timings_s"]],
        peak_memory_mb=round(result["peak_rss_mb"], 1), load_s=result["load_s"],
        runtime={**result["runtime"], "warmup_calls": result.get("warmup"), "conditions": result.get("conditions"),
                 **({"timed_shapes": result["timed_shapes"], "timed_examples": result["timed_examples"]}
                    if result.get("timed_shapes") else {})},
        outputs=outputs_fidelity, metric_value=value, detection=detected, segmentation=segmented,
    )


def named_output(name: str | None, outputs: dict[str, np.ndarray] | None, first: np.ndarray | None) -> np.ndarray:
    """The named output when the runtime kept its name, else ``first`` (or the first of ``outputs``): TFLite
    renames outputs."""
    if outputs and name in outputs:
        return outputs[name]
    return first if first is not None or not outputs else next(iter(outputs.values()))


def detection_figures(spec: DetectionSpec, outputs: dict[str, np.ndarray] | None,
                      reference: dict[str, np.ndarray] | None, first: np.ndarray,
                      targets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Boxes per image and mAP against the reference's own detections (1.0 for the reference itself); with
    labelled boxes, the mAP of the artifact and of the reference against them."""
    from edgeconv.verify.detection import Detections, coco_map

    def decode(source: dict[str, np.ndarray] | None, default: np.ndarray | None, threshold: float) -> list[Any]:
        return decode_detections(spec, source, default, threshold)

    kept = decode(outputs, first, spec.score_threshold)
    # The truth: the reference's boxes a deployment keeps. What is scored: every box down to
    # map_score_threshold, as COCO evaluation ranks them (a box at 0.24 against a 0.25 cut is not lost).
    truth = kept if reference is None else decode(reference, None, spec.score_threshold)
    ranked = decode(outputs, first, spec.map_score_threshold)
    figures = coco_map(truth, kept if reference is None else ranked)
    found = {"map50_95_vs_reference": figures["map50_95"], "map50_vs_reference": figures["map50"],
             "boxes": int(sum(len(d.boxes) for d in kept)), "reference_boxes": figures["truth_boxes"]}
    if targets is not None:
        labelled = [Detections(t["boxes"], np.ones(len(t["boxes"])), t["classes"]) for t in targets]
        against = coco_map(labelled, ranked)
        reference_map = against if reference is None else coco_map(labelled,
                                                                    decode(reference, None, spec.map_score_threshold))
        found.update(map50_95=against["map50_95"], map50=against["map50"], labelled_boxes=against["truth_boxes"],
                     reference_map50_95=reference_map["map50_95"])
    return found


def decode_detections(spec: DetectionSpec, outputs: dict[str, np.ndarray] | None, first: np.ndarray | None,
                      threshold: float) -> list[Any]:
    """Each image's Detections from a model's outputs, as ``spec`` reads them (raw YOLO / YOLOX heads through NMS,
    or a post-NMS model's boxes), down to ``threshold``."""
    from edgeconv.verify.detection import decode_yolo, from_boxes, yolox_as_yolo

    if spec.layout == "boxes":
        o = spec.outputs
        rows = zip(example_rows(outputs, o.boxes), example_rows(outputs, o.scores), example_rows(outputs, o.classes),
                   strict=True)
        return [from_boxes(b, s, c, o.box_format, threshold, spec.max_detections) for b, s, c in rows]
    heads = output_rows(spec.output, outputs, first)
    if spec.layout == "yolox":
        heads = [yolox_as_yolo(h, spec.strides) for h in heads]
    return [decode_yolo(h, threshold, spec.iou_threshold, spec.max_detections) for h in heads]


def output_rows(name: str | None, outputs: dict[str, np.ndarray] | None,
                first: np.ndarray | None) -> np.ndarray | list[np.ndarray]:
    """An output, one row per example: each at its own shape where the output's shape varies, else the array
    (``named_output``'s choice when the runtime renamed its outputs)."""
    name = name or (next(iter(outputs)) if outputs else None)
    if outputs and name in outputs and f"{name}{SHAPE_SUFFIX}" in outputs:
        return example_rows(outputs, name)
    return named_output(name, outputs, first)


def example_rows(outputs: dict[str, np.ndarray] | None, name: str) -> list[np.ndarray]:
    """One output per example, at each example's own shape when it varies (``SHAPE_SUFFIX``)."""
    if not outputs or name not in outputs:
        raise StageError(f"the model has no output '{name}' (it has {sorted(outputs or {})})",
                         fix="name the post-NMS outputs in evaluation.detection.outputs (boxes, scores, classes)")
    array, shapes = outputs[name], outputs.get(name + SHAPE_SUFFIX)
    return [unpad(array, shapes, i) if shapes is not None else array[i] for i in range(len(array))]


def load_outputs(folder: Path) -> dict[str, np.ndarray]:
    """Every output the worker saved (outputs.npz), in the runner's order."""
    path = folder / "outputs.npz"
    if not path.is_file():  # a worker from before outputs.npz: the first output only
        return {"output": np.load(folder / "outputs.npy")}
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def verify_stage(target: str, precision: str) -> str:
    """The verify stage (and out/verify/ folder) of a report row: ``<target>-<precision>``, or for a pool board's
    row ``<target>@<board>``: ``<target>-<precision>@<board>`` with the board's name made path-safe."""
    profile, _, board = target.partition("@")
    return f"{profile}-{precision}" + (f"@{re.sub(r'[^A-Za-z0-9._-]+', '-', board)}" if board else "")
