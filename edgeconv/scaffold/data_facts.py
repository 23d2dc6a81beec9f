"""What a data file or folder holds, for `edgeconv init`: its format, fields, labels and arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.data.feeds import LABELS_KEY
from edgeconv.errors import DataError

TEXT_FIELDS = ("text", "sentence", "content", "review", "tweet", "question")
LABEL_FIELDS = ("label", "labels", "class", "category", "target")
FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".npz": "npz"}


@dataclass
class DataFacts:
    path: Path
    format: str  # jsonl | csv | npz | images
    count: int
    text_field: str | None = None
    label_field: str | None = None
    label_names: list[str] = field(default_factory=list)  # label values that are names, sorted
    classes: int = 0  # distinct labels seen
    arrays: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)  # npz inputs: dtype, shape

    @property
    def labelled(self) -> bool:
        return self.label_field is not None


def input_decls(evaluation: DataFacts) -> list[dict[str, Any]]:
    """model.inputs of a torch file, from the npz's arrays (a 1-D array: one scalar per example)."""
    return [{"name": name, "dtype": "float32" if dtype == "float64" else dtype,
             "shape": ["batch", *shape[1:]] if len(shape) > 1 else []}
            for name, (dtype, shape) in evaluation.arrays.items()]


def inspect_data(path: Path) -> DataFacts:
    """The facts of a data path; DataError (exit 2) when it is none of the formats edgeconv reads."""
    if path.is_dir():
        return _images(path)
    if not path.is_file():
        raise DataError(f"data '{path}' not found", fix="give a .jsonl, .csv or .npz file, or a folder of images")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt == "npz":
        return _npz(path)
    if fmt is None:
        raise DataError(f"'{path.name}' is not a data format edgeconv reads",
                        fix="give a .jsonl, .csv or .npz file, or a folder of images (one sub-folder per class)")
    from edgeconv.data.records import iter_records

    records = list(iter_records(path, fmt))
    if not records:
        raise DataError(f"'{path.name}' has no examples")
    first = records[0]
    text = next((f for f in TEXT_FIELDS if f in first), None) or next(
        (k for k, v in first.items() if isinstance(v, str) and k not in LABEL_FIELDS), None)
    label = next((f for f in LABEL_FIELDS if f in first), None)
    facts = DataFacts(path, fmt, len(records), text_field=text, label_field=label)
    if label is not None:
        _labels(facts, [r.get(label) for r in records])
    return facts


def _npz(path: Path) -> DataFacts:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: (str(data[k].dtype), tuple(data[k].shape)) for k in data.files}
        label_key = LABELS_KEY if LABELS_KEY in arrays else "label" if "label" in arrays else None
        labels = data[label_key] if label_key else None
    inputs = {k: v for k, v in arrays.items() if k != label_key}
    if not inputs:
        raise DataError(f"'{path.name}' holds no input arrays", fix="save one array per model input, by its name")
    count = next(iter(inputs.values()))[1][0] if next(iter(inputs.values()))[1] else 1
    facts = DataFacts(path, "npz", int(count), label_field=label_key, arrays=inputs)
    if labels is not None:
        _labels(facts, labels.tolist())
    return facts


def _images(folder: Path) -> DataFacts:
    from edgeconv.data.images import list_images

    records = list_images(folder)
    if not records:
        raise DataError(f"'{folder}' holds no images", fix="give a folder of images (one sub-folder per class)")
    labelled = all("label" in r for r in records)
    facts = DataFacts(folder, "images", len(records), label_field="label" if labelled else None)
    if labelled:
        _labels(facts, [r["label"] for r in records], names=True)  # folder names are names, even "0" / "180"
    return facts


def _labels(facts: DataFacts, values: list[Any], names: bool = False) -> None:
    distinct = {str(v) for v in values}
    facts.classes = len(distinct)
    if names or not all(v.strip().lstrip("-").isdigit() for v in distinct):
        facts.label_names = sorted(distinct)
