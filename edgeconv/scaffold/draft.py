"""The spec `edgeconv init` writes: each field decided from the model's and the data's facts, with a comment
saying where it came from, and ``TODO`` only where a person must decide (the evaluation data, class order
read from data, an image normalisation no file records)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeconv.models.tasks import is_classification
from edgeconv.scaffold.data_facts import DataFacts
from edgeconv.scaffold.model_facts import ModelFacts
from edgeconv.spec.targets import CALIBRATED

CALIBRATION_COUNT = 300  # ORT's calibrators and the zoo's sets: a few hundred examples settle the ranges
DEFAULT_FIELDS = {"text_field": "text", "label_field": "label"}


@dataclass
class Draft:
    """The spec's lines in writing order, each with its comment, and how many of them are TODO."""

    header: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    todos: int = 0

    def add(self, text: str, comment: str = "", todo: bool = False) -> None:
        note = f"TODO: {comment}" if todo else comment
        self.todos += todo
        self.lines.append(f"{text:<40} # {note}" if note else text)

    def text(self) -> str:
        header = [*self.header, *(["Lines marked TODO need your decision before the results mean much."]
                                  if self.todos else [])]
        return "\n".join([*(f"# {h}" for h in header), *self.lines]) + "\n"


def flow(value: Any) -> str:
    """A value as one line of YAML (lists and mappings in flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def relative(path: Path, spec_folder: Path) -> str:
    return Path(os.path.relpath(path.resolve(), spec_folder.resolve())).as_posix()


def task_of(model: ModelFacts, evaluation: DataFacts | None, requested: str | None) -> tuple[str, str]:
    """(task, why)."""
    if requested:
        return requested, "as --task asked"
    if model.task:
        return model.task, model.task_why
    first = model.outputs[0].shape if model.outputs else []
    classes = len(first) == 2 and (isinstance(first[1], str) or first[1] >= 2)  # [batch, C]: one score per class
    if evaluation is not None and evaluation.labelled and classes:
        return "classification", f"a [batch, {first[1]}] output and labelled data"
    return "generic", "held to the fp32 model's outputs, output by output (set detection / segmentation if it is one)"


def labels_of(model: ModelFacts, evaluation: DataFacts | None, task: str) -> tuple[list[str], str, bool]:
    """(labels, why, needs a person's check): the model's own names in its order win; a classifier's data whose
    label names are not the model's is said on the line, for a person to rename one side."""
    if model.labels:
        names = evaluation.label_names if evaluation is not None and is_classification(task) else []
        if names and set(names) != set(model.labels):
            return model.labels, (f"{model.labels_why}; the data's labels {flow(names)} are not these: rename "
                                  "the data's to the model's"), True
        return model.labels, model.labels_why, False
    if evaluation is not None and evaluation.label_names:
        return evaluation.label_names, "the data's label names, sorted: put them in the model's class order", True
    if evaluation is not None and evaluation.classes and model.kind == "hf":  # a new head needs its size
        return [str(i) for i in range(evaluation.classes)], "class indices in the data: name them if you like", False
    return [], "", False


def text_length(model: ModelFacts, evaluation: DataFacts | None) -> tuple[int, str]:
    """A max_length that covers 99 % of the evaluation texts' tokens (padding to the model's limit wastes
    time on every example), rounded up to a multiple of 16."""
    limit = model.max_length or 512
    if evaluation is None or evaluation.text_field is None or evaluation.format not in ("jsonl", "csv"):
        return min(128, limit), f"the model allows {limit}: lower it to your texts' length"
    import numpy as np
    from transformers import AutoTokenizer

    from edgeconv.data.records import iter_records

    tokenizer = AutoTokenizer.from_pretrained(str(model.local))
    texts = [str(r.get(evaluation.text_field, "")) for r in iter_records(evaluation.path, evaluation.format)]
    lengths = [len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]
    p99 = int(np.percentile(lengths, 99))
    chosen = min(limit, max(16, -(-p99 // 16) * 16))
    return chosen, f"covers 99 % of the evaluation texts ({p99} tokens); the model allows {limit}"


def machine_targets(has_calibration: bool) -> list[tuple[dict[str, Any], str, bool]]:
    """(target entry, comment, active) for each profile: the ones this machine runs, then the others available."""
    from edgeconv.doctor import target_rows
    from edgeconv.machine import cpu

    facts = cpu()
    arch = str(facts["arch"])
    flags = ", ".join(facts["int8_flags"]) or "no int8 dot-product instructions"  # type: ignore[arg-type]
    out = []
    for row in target_rows():
        if not row["available"] or row.get("generative"):  # init drafts specs for the tasks LLM targets cannot take
            continue
        name = row["name"]
        precisions = [p for p in row["precisions"] if p != "best" and (has_calibration or p not in CALIBRATED)]
        if name == "x86-cpu-ort":
            precisions = [p for p in precisions if p != "fp16"]  # fp16 has no fast CPU kernels in ORT
            entry = {"name": name, "precisions": [*precisions, "auto"]}
            out.append((entry, f"this machine: {platform.machine()} {facts['model'] or ''} ({flags})".strip(),
                        arch in ("x86_64", "amd64")))
        elif name.startswith("jetson-"):
            out.append(({"name": name, "precisions": precisions}, row["description"], arch == "aarch64"))
        elif name == "arm64-tflite":
            out.append(({"name": name, "precisions": precisions},
                        "Arm boards (LiteRT installed here): its int8 search takes minutes", arch == "aarch64"))
        elif name == "x86-cpu-tflite":
            out.append(({"name": name, "precisions": precisions},
                        "LiteRT on this x86 CPU, to compare with ONNX Runtime: its int8 search takes minutes", False))
        else:
            out.append(({"name": name, "precisions": [*precisions, "auto"]}, row["description"], True))
    return out
