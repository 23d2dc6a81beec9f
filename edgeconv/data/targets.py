"""Ground truth for dense tasks, mapped into the model's input pixels: boxes (COCO JSON or YOLO txt) and
label masks (PNG), one entry per image of the evaluation set.

Labels describe the original images; the model sees them resized, cropped or letterboxed. Each box and
mask goes through the same ``Geometry`` as its image, so the scores compare like with like.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.data.pixels import Geometry, geometry, place
from edgeconv.errors import DataError
from edgeconv.spec import ImagePreprocess


@dataclass(frozen=True)
class Truth:
    """Where an evaluation set's dense ground truth lies: ``boxes`` (COCO JSON / YOLO txt) or ``masks`` (PNG)."""

    kind: str
    path: Path
    ignore_index: int = 255

    def read(self, records: list[dict[str, Any]], preprocess: ImagePreprocess | None,
             class_names: list[str]) -> list[dict[str, Any]]:
        if self.kind == "boxes":
            return box_targets(records, self.path, preprocess, class_names)
        return mask_targets(records, self.path, preprocess, self.ignore_index)


def image_geometries(records: list[dict[str, Any]], preprocess: ImagePreprocess | None, what: str) -> list[Geometry]:
    """The geometry of every image; labels need the spec's explicit preprocessing to know it."""
    from PIL import Image

    if preprocess is None:
        raise DataError(f"{what} need model.image (resize, crop or letterbox) to be mapped onto the model's input",
                        fix="set model.image in the spec")
    found = []
    for record in records:
        with Image.open(record["path"]) as image:
            found.append(geometry(image.width, image.height, preprocess))
    return found


def box_targets(records: list[dict[str, Any]], labels: Path, preprocess: ImagePreprocess | None,
                class_names: list[str]) -> list[dict[str, Any]]:
    """{"boxes": [n, 4] COCO x, y, w, h in input pixels, "classes": [n]} per image, from ``labels``: a COCO
    JSON file or a folder of YOLO txt files."""
    geometries = image_geometries(records, preprocess, "box labels")
    if labels.is_dir():
        raw = [_yolo_boxes(labels / f"{Path(r['path']).stem}.txt", r["path"]) for r in records]
    elif labels.is_file():
        raw = _coco_boxes(labels, records, class_names)
    else:
        raise DataError(f"box labels '{labels}' not found", fix="give a COCO JSON file or a folder of YOLO .txt files")
    return [_mapped(boxes, classes, g) for (boxes, classes), g in zip(raw, geometries, strict=True)]


def mask_targets(records: list[dict[str, Any]], masks: Path, preprocess: ImagePreprocess | None,
                 ignore_index: int) -> list[dict[str, Any]]:
    """{"mask": [H, W] int64 class indices} per image, from the PNG of the same name in ``masks``; pixels
    outside the image (letterbox padding) are ``ignore_index``."""
    from PIL import Image

    if not masks.is_dir():
        raise DataError(f"mask folder '{masks}' not found", fix="give a folder of PNG masks named after the images")
    found = []
    for record, g in zip(records, image_geometries(records, preprocess, "label masks"), strict=True):
        path = masks / f"{Path(record['path']).stem}.png"
        if not path.is_file():
            raise DataError(f"no mask for '{Path(record['path']).name}' (looked for '{path}')",
                            fix="give every evaluation image a PNG mask of the same name")
        with Image.open(path) as mask:
            if mask.mode not in ("L", "P", "I"):
                raise DataError(f"mask '{path.name}' is {mask.mode}; a mask holds one class index per pixel",
                                fix="save masks as single-channel PNG (mode L or P)")
            placed = place(mask, g, Image.Resampling.NEAREST, ignore_index)
        found.append({"mask": np.asarray(placed, dtype=np.int64)})
    return found


def _mapped(boxes: np.ndarray, classes: np.ndarray, g: Geometry) -> dict[str, Any]:
    scaled = boxes * np.array([g.scale_x, g.scale_y, g.scale_x, g.scale_y]) + np.array([g.offset_x, g.offset_y, 0, 0])
    return {"boxes": scaled.astype(np.float64).reshape(-1, 4), "classes": classes.astype(np.int64)}


def _yolo_boxes(path: Path, image: Path) -> tuple[np.ndarray, np.ndarray]:
    """YOLO txt: one ``class cx cy w h`` line per box, normalised to the image; no file means no boxes."""
    from PIL import Image

    if not path.is_file():
        return np.zeros((0, 4)), np.zeros(0, np.int64)
    try:
        rows = np.loadtxt(path, ndmin=2) if path.stat().st_size else np.zeros((0, 5))
    except ValueError as exc:
        raise DataError(f"'{path.name}' is not YOLO txt labels ({exc})",
                        fix="one 'class cx cy w h' line per box, coordinates in 0..1") from exc
    if rows.shape[1] != 5 or (rows[:, 1:] < 0).any() or (rows[:, 1:] > 1).any():
        raise DataError(f"'{path.name}' is not YOLO txt labels: each line is 'class cx cy w h' in 0..1",
                        fix="normalise box coordinates by the image's width and height")
    with Image.open(image) as opened:
        width, height = opened.size
    cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
    return np.stack([cx - w / 2, cy - h / 2, w, h], axis=1), rows[:, 0].astype(np.int64)


def _coco_boxes(path: Path, records: list[dict[str, Any]],
                class_names: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """COCO JSON: images matched by ``file_name``; a category is the model's class of the same name when the
    spec lists model.labels, else its id is the class index."""
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        images = {Path(i["file_name"]).name: i["id"] for i in coco["images"]}
        names = {c["id"]: c["name"] for c in coco.get("categories", [])}
        annotations = coco["annotations"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"'{path.name}' is not COCO JSON ({exc.__class__.__name__}: {exc})",
                        fix="give images [{id, file_name}], annotations [{image_id, bbox, category_id}], "
                            "categories") from exc
    missing = [Path(r["path"]).name for r in records if Path(r["path"]).name not in images]
    if missing:
        raise DataError(f"'{path.name}' has no image named '{missing[0]}'", fix="list every evaluation image")
    per_image: dict[int, list[tuple[list[float], int]]] = {}
    for a in annotations:
        if a.get("iscrowd"):
            continue
        per_image.setdefault(a["image_id"], []).append((a["bbox"], _class_index(a["category_id"], names, class_names)))
    found = []
    for record in records:
        pairs = per_image.get(images[Path(record["path"]).name], [])
        found.append((np.array([b for b, _ in pairs], np.float64).reshape(-1, 4), np.array([c for _, c in pairs])))
    return found


def _class_index(category: int, names: dict[int, str], class_names: list[str]) -> int:
    if not class_names:
        return int(category)
    name = names.get(category)
    if name not in class_names:
        raise DataError(f"COCO category {category} ('{name}') is not one of model.labels",
                        fix="name the model's classes in model.labels as the categories do")
    return class_names.index(name)
