"""An image recipe (and class order) from the configuration of the package that ships a model, for models whose
file records none: rapidocr's ``config.yaml`` holds each PaddleOCR model's preprocessing per task (``Det`` /
``Cls`` / ``Rec``), and its ``default_models.yaml`` says which task a model file is. Both are read as YAML
(``yaml.safe_load``); nothing of the package is imported or run.

rapidocr feeds OpenCV's BGR pixels as ``(x / 255 - 0.5) / 0.5``. Its classifier and recogniser resize a line to
the configured height keeping the aspect ratio, up to the configured width, and pad the right side; a line wider
than that (most are) is squeezed to the width, which is the plain resize edgeconv writes. Its detector scales the
shorter side up to ``limit_side_len`` and rounds both sides to a multiple of 32.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

TASK_SECTIONS = {"det": "Det", "cls": "Cls", "rec": "Rec"}


def package_recipe(path: str, layout: str) -> tuple[dict[str, object], list[str], str] | None:
    """(image recipe, class names in the model's order, where they came from) for ``pkg://rapidocr/...`` model
    files rapidocr's configuration describes; None for any other path."""
    if not path.startswith("pkg://rapidocr/"):
        return None
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    try:
        routes = yaml.safe_load((root / "default_models.yaml").read_text(encoding="utf-8"))
        config = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    task = _task_of(routes, Path(path).name)
    section = config.get(TASK_SECTIONS.get(task or "", ""), None) if isinstance(config, dict) else None
    if not isinstance(section, dict):
        return None
    where = f"rapidocr's config.yaml ({TASK_SECTIONS[task or '']})"
    mean, std = section.get("mean", [0.5, 0.5, 0.5]), section.get("std", [0.5, 0.5, 0.5])
    if task == "det":
        side = int(section.get("limit_side_len", 736))
        return ({"resize": side, "crop": None, "mean": mean, "std": std, "layout": layout, "multiple_of": 32,
                 "channel_order": "BGR"}, [], f"{where}: limit_side_len {side} (rapidocr only scales up to it, "
                "this sets every shorter side to it), sides a multiple of 32, BGR")
    shape = section.get("cls_image_shape" if task == "cls" else "rec_img_shape")
    if not (isinstance(shape, list) and len(shape) == 3):
        return None
    recipe: dict[str, object] = {"resize": [int(shape[1]), int(shape[2])], "crop": None, "mean": mean, "std": std,
                                 "layout": layout, "channel_order": "BGR"}
    labels = [str(v) for v in section.get("label_list") or []] if task == "cls" else []
    return recipe, labels, f"{where}: lines {recipe['resize']} (wider ones squeezed to it), BGR"


def _task_of(routes: Any, name: str) -> str | None:
    """'det', 'cls' or 'rec': the key the model sits under in default_models.yaml, found by its file name (the
    end of an entry's ``model_dir``; entries' keys differ from it, ``multi_PP-OCRv6_det_small``)."""
    stack = [routes]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key in TASK_SECTIONS and isinstance(value, dict) and any(
                    isinstance(e, dict) and str(e.get("model_dir", "")).endswith("/" + name) for e in value.values()):
                return str(key)
            stack.append(value)
    return None
