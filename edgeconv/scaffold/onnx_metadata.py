"""What an ONNX file says about itself in its metadata: class names in the model's order, its task, the image
size it was trained at.

Exporters record these as string properties (``metadata_props``), read here without loading weights and without
running code: Ultralytics writes ``names`` (a Python dict literal ``{0: 'person', ...}``), ``task`` and ``imgsz``;
PaddleOCR writes ``character`` (one class per line: ``0\\n90\\n180\\n270`` for its orientation classifier, the
character set for a recogniser); others ``classes`` / ``labels`` / ``class_names`` (a JSON list, or one a line) and
``mean`` / ``std`` (the normalisation). A literal is parsed with ``ast.literal_eval``, which evaluates no code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

CLASS_KEYS = ("names", "classes", "class_names", "labels", "character")  # first found wins
TASKS = {"detect": "detection", "segment": "segmentation", "classify": "classification"}  # Ultralytics' names


@dataclass
class Metadata:
    labels: list[str] = field(default_factory=list)
    labels_key: str | None = None  # the property the class names came from
    task: str | None = None
    image_size: tuple[int, int] | None = None  # (height, width) the model was trained at
    ultralytics: bool = False  # letterboxed RGB / 255, as Ultralytics' predictor feeds its exports
    mean: list[float] | None = None  # the normalisation, where the exporter recorded it (per channel,
    std: list[float] | None = None  # on pixels / 255)


def read_metadata(proto: Any) -> Metadata:
    """The facts an ONNX ModelProto's ``metadata_props`` record (an empty Metadata when it records none)."""
    props = {p.key: p.value for p in proto.metadata_props}
    found = Metadata(ultralytics=props.get("author", "").lower().startswith("ultralytics"))
    for key in CLASS_KEYS:
        names = class_names(props.get(key))
        if names:
            found.labels, found.labels_key = names, key
            break
    found.task = TASKS.get(props.get("task", "").strip().lower())
    found.image_size = _size(props.get("imgsz"))
    found.mean, found.std = _channels(props.get("mean")), _channels(props.get("std"))
    return found


def _literal(value: str | None) -> Any:
    """A property's Python/JSON literal (``ast.literal_eval``: never code); None when it is not one."""
    if not value:
        return None
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _channels(value: str | None) -> list[float] | None:
    """``[0.485, 0.456, 0.406]`` (or one number for every channel) as three floats; None for anything else."""
    parsed = _literal(value)
    values = [parsed] * 3 if isinstance(parsed, int | float) else parsed
    if isinstance(values, list | tuple) and len(values) == 3 and all(isinstance(v, int | float) for v in values):
        return [float(v) for v in values]
    return None


def class_names(value: str | None) -> list[str]:
    """Class names in index order from a property: a dict literal keyed by index, a list literal, or one name a
    line. Anything else (a sentence, a malformed literal) is no list of names."""
    if not value or not value.strip():
        return []
    text = value.strip()
    if text[0] in "{[(":
        parsed = _literal(text)
        if isinstance(parsed, dict) and all(isinstance(k, int) or str(k).isdigit() for k in parsed):
            return [str(parsed[k]) for k in sorted(parsed, key=int)]  # {0: ...} or JSON's {"0": ...}
        if isinstance(parsed, list | tuple):
            return [str(v) for v in parsed]
        return []
    lines = value.removesuffix("\n").split("\n")  # a final newline ends the last name, it starts none
    return lines if len(lines) > 1 else []


def _size(value: str | None) -> tuple[int, int] | None:
    """``[320, 320]`` or ``640`` as (height, width)."""
    parsed = _literal(value)
    if isinstance(parsed, int):
        return parsed, parsed
    if isinstance(parsed, list | tuple) and len(parsed) == 2 and all(isinstance(v, int) for v in parsed):
        return int(parsed[0]), int(parsed[1])
    return None
