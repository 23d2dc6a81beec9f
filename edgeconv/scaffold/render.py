"""Assemble the spec text from the decisions in draft.py, section by section."""

from __future__ import annotations

import datetime
from pathlib import Path

from edgeconv.errors import SpecError
from edgeconv.models.tasks import is_classification
from edgeconv.scaffold.data_facts import DataFacts, input_decls
from edgeconv.scaffold.draft import (
    CALIBRATION_COUNT,
    DEFAULT_FIELDS,
    Draft,
    flow,
    labels_of,
    machine_targets,
    relative,
    task_of,
    text_length,
)
from edgeconv.scaffold.model_facts import ModelFacts

HF_TASKS = ("text-classification", "image-classification")


def render_spec(model: ModelFacts, evaluation: DataFacts | None, calibration: DataFacts | None, spec_path: Path,
                requested_task: str | None = None, adapter: Path | None = None) -> Draft:
    """The commented spec for ``model``; paths are relative to ``spec_path``'s folder."""
    folder = spec_path.parent
    task, why = task_of(model, evaluation, requested_task)
    if model.kind == "hf" and task not in HF_TASKS:
        raise SpecError(f"--task {task} is for ONNX and torch files", fix=f"use one of {', '.join(HF_TASKS)}")
    draft = Draft(header=[f"Written by `edgeconv init` on {datetime.date.today()} from {model.path}.",
                          *model.notes,
                          "Each field says where its value came from.",
                          "Build it with: edgeconv build " + spec_path.name])
    draft.add(f"name: {flow(_name(model, adapter))}")
    draft.add("model:")
    local = model.path if model.path.startswith("pkg://") else relative(model.local, folder)
    draft.add(f"  path: {flow(local)}", "read by content: " + model.kind)
    if adapter is not None:
        draft.add(f"  adapter: {flow(relative(adapter, folder))}", "a PEFT adapter, merged onto the model at load time")
    draft.add(f"  task: {task}", why)
    labels, labels_why, check = labels_of(model, evaluation, task)
    if labels and task != "generic":
        draft.add(f"  labels: {flow(labels)}", labels_why, todo=check)
    _inputs(draft, model, evaluation)
    if task == "text-classification":
        length, length_why = text_length(model, evaluation)
        draft.add(f"  text: {{max_length: {length}}}", length_why)
    image = model.image_input()
    if model.image is not None and evaluation is not None and evaluation.format == "images":
        draft.add(f"  image: {flow(model.image)}", model.image_why)
    elif image is not None and model.kind != "hf" and evaluation is not None and evaluation.format == "images":
        size, layout = image
        mean, std = model.normalisation or ([0, 0, 0], [1, 1, 1])
        recipe = {"resize": list(size or (224, 224)), "crop": None, "mean": mean, "std": std, "layout": layout}
        draft.add(f"  image: {flow(recipe)}", ("size from the input" if size else "the input's size is dynamic: "
                  "the size it was trained at") + ("; mean/std from the file's metadata" if model.normalisation
                                                   else "; mean/std: the normalisation it was trained with"), todo=True)
    _data(draft, "calibration", calibration, folder,
          "representative inputs for static int8: a few hundred, never the evaluation set", evaluation)
    _data(draft, "evaluation", evaluation, folder, "held-out examples every artifact is measured on",
          classifies=is_classification(task))
    draft.add("targets:")
    for entry, comment, active in machine_targets(calibration is not None):
        line = f"  - {{name: {entry['name']}, precisions: {flow(entry['precisions'])}}}"
        draft.add(line if active else f"  # {line.strip()}", comment)
    draft.add("budgets:")
    if is_classification(task) and (evaluation is None or evaluation.labelled):
        draft.add("  accuracy_drop: 0.01", "at most 1 point of the task metric lost against fp32")
        draft.add("  min_agreement: 0.97", "top-1 agreement with the fp32 model")
    elif task in ("detection", "segmentation"):
        budget, what = ("map_drop: 0.05", "mAP@0.5:0.95") if task == "detection" else ("miou_drop: 0.01", "mIoU")
        draft.add(f"  {budget}", f"points of {what} lost, against the labels if the data has them, else against "
                  "the fp32 model's own")
        draft.add("  min_cosine: 0.99", "and every output's mean cosine similarity to the fp32 model's")
    else:
        draft.add("  min_cosine: 0.99", "every output's mean cosine similarity to the fp32 model's; "
                  "{mean: 0.99, worst: 0.95} holds the worst example too")
        draft.add("  min_snr_db: 20", "and its signal-to-noise ratio (the same {mean, worst} form)")
    draft.add("output: out")
    return draft


def _name(model: ModelFacts, adapter: Path | None) -> str:
    """The adapter's or the file's name; a packaged model's package name."""
    stem = model.local.stem if model.local.is_file() else model.local.name
    if adapter is not None and adapter.resolve().name not in ("adapter", "lora"):
        stem = adapter.resolve().name
    elif adapter is not None:
        stem = adapter.resolve().parent.name
    elif model.path.startswith("pkg://"):
        stem = model.path.removeprefix("pkg://").split("/")[0]
    elif stem.lower() in ("model", "weights", "onnx"):
        stem = model.local.resolve().parent.name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-") or "model"


def _inputs(draft: Draft, model: ModelFacts, evaluation: DataFacts | None) -> None:
    """torch files declare their inputs (from the npz arrays); ONNX files carry theirs."""
    if model.kind not in ("torchscript", "torch-export"):
        return
    if evaluation is None or evaluation.format != "npz":
        raise SpecError(f"'{model.path}' is a {model.kind} file, which does not carry its input shapes",
                        fix="pass --data with an .npz of example inputs (one array per input, by name)")
    draft.add(f"  inputs: {flow(input_decls(evaluation))}",
              "from the data's arrays (1-D: a scalar per example), in argument order")


def _data(draft: Draft, section: str, data: DataFacts | None, folder: Path, comment: str,
          evaluation: DataFacts | None = None, classifies: bool = False) -> None:
    """A data section; the evaluation's metric only where the task has one the build reports (a classifier's
    accuracy): any other task is judged on its outputs' fidelity, so a metric line would be ignored."""
    if data is None:
        if section == "evaluation":
            draft.add("evaluation:")
            draft.add("  path: evaluation.jsonl", "your labelled examples (.jsonl/.csv, .npz, or an image "
                      "folder), then edgeconv init --data", todo=True)
        else:
            kind = evaluation.format if evaluation else ""
            example = {"npz": "calib.npz", "images": "calib/"}.get(kind, "calib.jsonl")
            draft.add(f"# calibration: {{path: {example}}}", "representative inputs enable int8-static", todo=True)
        return
    draft.add(f"{section}:", comment)
    draft.add(f"  path: {flow(relative(data.path, folder))}", f"{data.count} examples ({data.format})")
    if section == "calibration" and data.count > CALIBRATION_COUNT:
        draft.add(f"  count: {CALIBRATION_COUNT}", "a reproducible subset (seed 0)")
    if data.format in ("jsonl", "csv"):
        for key, value in (("text_field", data.text_field), ("label_field", data.label_field)):
            if value != DEFAULT_FIELDS[key] and (section == "evaluation" or key == "text_field"):
                draft.add(f"  {key}: {flow(value)}", "read from the first example")
    elif section == "evaluation" and data.format == "npz" and data.label_field not in (None, "__labels__"):
        draft.add(f"  label_field: {data.label_field}")
    if section == "evaluation":
        if data.labelled and classifies:
            draft.add("  metric: accuracy", f"labels for {data.classes} classes found in the data")
        elif data.format in ("jsonl", "csv"):
            draft.add("  label_field: null", "no labels: artifacts are held to the fp32 model's outputs")
