"""Read one side of a comparison: a report.json file, or a build folder with its per-example outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import SpecError
from edgeconv.results import report_json

REPORT = "report.json"
Key = tuple[str, str]  # (target, precision)


@dataclass
class PerExample:
    """Per-example facts of one artifact, for paired intervals: correct vs labels, agrees with its reference."""

    labels: np.ndarray
    correct: np.ndarray
    agrees: np.ndarray


@dataclass
class Side:
    source: str
    report: dict[str, Any]
    examples: dict[Key, PerExample] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    build_dir: Path | None = None


def key_of(entry: dict[str, Any]) -> Key:
    return (str(entry.get("target")), str(entry.get("precision")))


def entries(report: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    """The report's artifacts by (target, precision), the fp32 reference included."""
    found = {key_of(report["reference"]): report["reference"]} if isinstance(report.get("reference"), dict) else {}
    found.update({key_of(a): a for a in report["artifacts"] if isinstance(a, dict)})
    return found


def read_report(path: Path) -> dict[str, Any]:
    """A side's report.json as JSON: a comparison reads older reports too, key by key (edgeconv.results)."""
    return report_json(path)


def load_side(path: Path) -> Side:
    """A report.json file, or a build folder (report.json + verify/*/outputs.npy + data/eval.npz)."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"'{path}' does not exist", fix="pass a report.json file or a build folder")
    if path.is_file():
        return Side(str(path), read_report(path))
    side = Side(str(path), read_report(path / REPORT), build_dir=path)
    side.examples = _per_example(path, side.report, side.notes)
    return side


def _per_example(folder: Path, report: dict[str, Any], notes: list[str]) -> dict[Key, PerExample]:
    eval_file, ref_file = folder / "data" / "eval.npz", folder / "verify" / "reference" / "outputs.npy"
    if not eval_file.is_file() or not ref_file.is_file():
        notes.append(f"{folder}: no data/eval.npz or verify/reference/outputs.npy, per-example outputs unavailable")
        return {}
    with np.load(eval_file) as data:
        if "__labels__" not in data.files:
            notes.append(f"{eval_file}: no __labels__, per-example outputs unavailable")
            return {}
        labels = np.asarray(data["__labels__"])
    reference = np.load(ref_file).argmax(-1)
    found: dict[Key, PerExample] = {}
    for key in entries(report):
        name = "reference" if key == ("reference", "fp32") else f"{key[0]}-{key[1]}"
        outputs_file = folder / "verify" / name / "outputs.npy"
        if not outputs_file.is_file():
            continue
        predicted = np.load(outputs_file).argmax(-1)
        if predicted.shape != labels.shape or predicted.shape != reference.shape:
            notes.append(f"{outputs_file}: {predicted.shape[0]} rows for {labels.shape[0]} labels, not paired")
            continue
        found[key] = PerExample(labels, predicted == labels, predicted == reference)
    return found
