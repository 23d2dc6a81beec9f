"""Everything before the first heavy stage: the model's description and its checked data.

Bad data fails here, before anything is written (exit 2, nothing left behind).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from edgeconv.data import FeedSet, make_feeds
from edgeconv.data.targets import Truth
from edgeconv.errors import DataError, SpecError
from edgeconv.models.io import ModelIO, describe_model
from edgeconv.spec import DatasetSpec, Spec
from edgeconv.verify.custom_metric import Metric, is_custom, load_metric

TEXT_FORMATS = ("jsonl", "csv")


@dataclass
class Prepared:
    """The model's description and its data, checked: everything before the first heavy stage."""

    io: ModelIO
    evaluation: FeedSet
    calibration: FeedSet | None
    eval_sha256: str
    calib_sha256: str | None
    metric: Metric | None = None  # a custom evaluation.metric, imported (the spec opted in with trust_code)


def feeds_sha256(feeds: FeedSet) -> str:
    digest = hashlib.sha256()
    for name in sorted(feeds.inputs):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(feeds.inputs[name]).tobytes())
    if feeds.labels is not None:
        digest.update(feeds.labels.tobytes())
    for name in sorted(feeds.shapes):
        digest.update(np.ascontiguousarray(feeds.shapes[name]).tobytes())
    return digest.hexdigest()


def prepare(spec: Spec) -> Prepared:
    """Describe the model and make the evaluation and calibration feeds (fails fast on bad data)."""
    if spec.model.task == "text-generation":  # a decoder LM has no feeds: api/generative builds it
        raise SpecError("task text-generation is built by `edgeconv build` only, so far",
                        fix="run `edgeconv build` on this spec")
    io = describe_model(spec.model)

    def feeds(ds: DatasetSpec, role: str, truth: Truth | None = None) -> FeedSet:
        return make_feeds(ds, role, io.inputs, io.labels, spec.text_for(ds), io.preprocessor, spec.image_for(ds),
                          truth)

    metric = load_metric(spec.evaluation.metric, spec._folder) if is_custom(spec.evaluation.metric) else None
    evaluation = feeds(spec.evaluation, "evaluation", evaluation_truth(spec))
    check_budgets_apply(spec, io, evaluation)
    if evaluation.shapes and spec.latency.batch_size > 1:
        raise SpecError(f"latency.batch_size {spec.latency.batch_size}: the evaluation images come in several shapes, "
                        "so each runs alone at its own", fix="set latency.batch_size: 1, or resize to one [h, w]")
    if evaluation.unbatched and spec.latency.batch_size > 1:
        raise SpecError(f"latency.batch_size {spec.latency.batch_size}: inputs {sorted(evaluation.unbatched)} have "
                        "no batch axis, so the model runs one example at a time", fix="set latency.batch_size: 1")
    calibration = None
    if spec.calibration is not None:
        check_same_preprocessing(spec, spec.calibration, spec.evaluation)
        calibration = feeds(spec.calibration, "calibration")
    return Prepared(io, evaluation, calibration, feeds_sha256(evaluation),
                    feeds_sha256(calibration) if calibration else None, metric)


def evaluation_truth(spec: Spec) -> Truth | None:
    """The box labels (task: detection) or label masks (task: segmentation) the spec points at, if any."""
    ev = spec.evaluation
    if spec.model.task == "detection" and ev.detection.labels is not None:
        return Truth("boxes", ev.detection.labels)
    if spec.model.task == "segmentation" and ev.segmentation.masks is not None:
        return Truth("masks", ev.segmentation.masks, ev.segmentation.ignore_index)
    if ev.detection.labels is not None or ev.segmentation.masks is not None:
        which = "detection.labels" if ev.detection.labels is not None else "segmentation.masks"
        raise SpecError(f"evaluation.{which} is set but model.task is {spec.model.task}",
                        fix=f"set model.task: {which.split('.')[0]}, or remove evaluation.{which}")
    return None


def check_budgets_apply(spec: Spec, io: ModelIO, evaluation: FeedSet) -> None:
    """Budgets that cannot be measured are refused before any work: accuracy without labels, top-1 agreement
    of a model without classes, a per-output budget naming no output."""
    budgets = spec.budgets
    if evaluation.labels is None and budgets.accuracy_drop is not None and not is_custom(spec.evaluation.metric):
        raise SpecError(f"budgets.accuracy_drop needs labels, and the evaluation set '{spec.evaluation.path.name}' "
                        f"has none (no field '{spec.evaluation.label_field}')",
                        fix="set evaluation.label_field, or hold the model to fidelity budgets (min_cosine, "
                            "min_snr_db, max_mismatch) instead")
    for budget, task in (("map_drop", "detection"), ("miou_drop", "segmentation")):
        if getattr(budgets, budget) is not None and spec.model.task != task:
            raise SpecError(f"budgets.{budget} is a {task} budget", fix=f"set model.task: {task}, or remove it")
    if spec.model.task in ("detection", "segmentation"):
        check_task_outputs(spec, io)
    if spec.model.task in ("generic", "detection", "segmentation") and budgets.min_agreement is not None:
        raise SpecError(f"budgets.min_agreement is top-1 agreement, which a {spec.model.task} model's outputs do not "
                        "have",
                        fix="use min_cosine, min_snr_db or max_mismatch, or set model.task: classification")
    unknown = [name for name in budgets.outputs if name not in io.output_names]
    if unknown:
        raise SpecError(f"budgets.outputs names '{unknown[0]}', which is not an output of the model",
                        fix=f"use one of {', '.join(io.output_names)}")


def check_task_outputs(spec: Spec, io: ModelIO) -> None:
    """The outputs a detection or segmentation spec reads exist (and, where the file says, have the shape)."""
    task = spec.model.task
    detection = spec.evaluation.detection
    if task == "detection" and detection.layout == "boxes":
        named = detection.outputs
        for role, name in (("boxes", named.boxes), ("scores", named.scores), ("classes", named.classes)):
            if name not in io.output_names:
                raise SpecError(f"evaluation.detection.outputs.{role} '{name}' is not an output of the model",
                                fix=f"use one of {', '.join(io.output_names)}")
        return
    output = getattr(spec.evaluation, task).output
    if output not in (None, *io.output_names):
        raise SpecError(f"evaluation.{task}.output '{output}' is not an output of the model",
                        fix=f"use one of {', '.join(io.output_names)}")
    check_dense_output(task, output or io.output_name, io.output_shapes.get(output or io.output_name),
                       detection.layout if task == "detection" else None)


def check_dense_output(task: str, name: str, shape: tuple[int | str, ...] | None, layout: str | None = None) -> None:
    """A detection spec on a model without a YOLO head, or a segmentation spec without a map, is refused
    before any work, where the file declares the output's shape (an exported torch model is checked when
    its outputs are scored)."""
    if shape is None:
        return
    if task == "detection":
        classes_axis, least, form = (2, 6, "a YOLOX head [batch, anchors, 5 + classes]") if layout == "yolox" \
            else (1, 5, "a YOLO head [batch, 4 + classes, anchors]")
        if len(shape) != 3 or (isinstance(shape[classes_axis], int) and shape[classes_axis] < least):
            raise SpecError(f"task: detection (layout: {layout}) reads {form}; output '{name}' is {list(shape)}",
                            fix="point evaluation.detection.output at the raw head, set its layout, or use task: "
                                "generic")
    if task == "segmentation" and len(shape) not in (3, 4):
        raise SpecError(f"task: segmentation reads a map [batch, classes, height, width]; output '{name}' is "
                        f"{list(shape)}", fix="point evaluation.segmentation.output at the map, or use task: generic")


def check_same_preprocessing(spec: Spec, calibration: DatasetSpec, evaluation: DatasetSpec) -> None:
    """Calibrating on inputs preprocessed unlike the real ones gives scales for the wrong data."""
    pairs = []
    if calibration.format in TEXT_FORMATS and evaluation.format in TEXT_FORMATS:
        pairs.append((spec.text_for(calibration), spec.text_for(evaluation)))
        if bool(calibration.text_pair_field) != bool(evaluation.text_pair_field):
            raise DataError("one of the calibration and evaluation sets has text pairs (text_pair_field) and the "
                            "other does not", fix="give both sets the same inputs")
    if calibration.format == "images" and evaluation.format == "images":
        pairs.append((spec.image_for(calibration), spec.image_for(evaluation)))
    for calib, evaluate in pairs:
        calib_values = calib.model_dump() if calib else {"source": "the model's image processor"}
        eval_values = evaluate.model_dump() if evaluate else {"source": "the model's image processor"}
        differing = [k for k in calib_values if calib_values.get(k) != eval_values.get(k)]
        if differing or calib_values.keys() != eval_values.keys():
            key = differing[0] if differing else "source"
            raise DataError(
                f"the calibration set is preprocessed differently from the evaluation set: {key} is "
                f"{calib_values.get(key)!r} for calibration and {eval_values.get(key)!r} for evaluation",
                fix="remove the per-set override, or make both sets use the same preprocessing",
            )
