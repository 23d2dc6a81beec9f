"""Images from a folder (one sub-folder per class, or flat and unlabelled) into pixel-value feeds.

Preprocessing comes from the model's own image processor (transformers) when it has one, so
calibration and evaluation see exactly what the model saw in training; an explicit
``ImagePreprocess`` in the spec is applied by ``edgeconv.data.pixels`` (PIL + numpy, the same file a bundle
runs on the board) for models that have no processor config (a torch.export / ONNX classifier).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.data.pixels import preprocess_image
from edgeconv.errors import DataError
from edgeconv.spec import ImagePreprocess

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def list_images(folder: Path) -> list[dict[str, Any]]:
    """Records {path, label?}: a sub-folder's name is the label of the images in it."""
    if not folder.is_dir():
        raise DataError(f"image folder '{folder}' not found", fix="point the data path at a folder of images")
    records = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES):
        parent = path.parent.relative_to(folder)
        record: dict[str, Any] = {"path": path}
        if parent != Path("."):
            record["label"] = parent.parts[0]
        records.append(record)
    return records


def load_pixels(records: list[dict[str, Any]], processor: Any,
                explicit: ImagePreprocess | None) -> tuple[np.ndarray, np.ndarray | None]:
    """One array [N, ...] of preprocessed images, in the model's layout and type (float32 unless the spec says),
    and, when the images come out in several shapes (resize: N without a crop keeps each one's aspect ratio),
    each image's own shape: the array is then zero-padded to the largest."""
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for record in records:
        try:
            with Image.open(record["path"]) as image:
                rgb = image.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"'{record['path']}' is not a readable image ({exc})") from exc
        if explicit is not None:
            arrays.append(preprocess_image(rgb, explicit))
        elif processor is not None:
            arrays.append(np.asarray(processor(images=rgb, return_tensors="np")["pixel_values"][0], np.float32))
        else:
            raise DataError("images need preprocessing: the model has no image processor",
                            fix="set model.image (resize, crop, mean, std, layout) in the spec")
    dtype = explicit.dtype if explicit is not None else np.float32
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays).astype(dtype), None
    shapes = np.array([a.shape for a in arrays], np.int64)
    padded = np.zeros((len(arrays), *shapes.max(axis=0)), dtype)
    for i, array in enumerate(arrays):
        padded[(i, *(slice(0, n) for n in array.shape))] = array
    return padded, shapes
