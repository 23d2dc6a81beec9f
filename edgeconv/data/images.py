"""Images from a folder (one sub-folder per class, or flat and unlabelled) into pixel-value feeds.

Preprocessing comes from the model's own image processor (transformers) when it has one, so
calibration and evaluation see exactly what the model saw in training; an explicit
``ImagePreprocess`` in the spec is applied with PIL + numpy for models that have no processor
config (a torch.export / ONNX classifier) — a dozen lines, not worth a torchvision dependency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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


def load_pixels(records: list[dict[str, Any]], processor: Any, explicit: ImagePreprocess | None) -> np.ndarray:
    """One float32 array [N, ...] of preprocessed images, in the model's layout."""
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for record in records:
        try:
            with Image.open(record["path"]) as image:
                rgb = image.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"'{record['path']}' is not a readable image ({exc})") from exc
        if explicit is not None:
            arrays.append(_explicit(rgb, explicit))
        elif processor is not None:
            arrays.append(np.asarray(processor(images=rgb, return_tensors="np")["pixel_values"][0], np.float32))
        else:
            raise DataError("images need preprocessing: the model has no image processor",
                            fix="set model.image (resize, crop, mean, std, layout) in the spec")
    return np.stack(arrays).astype(np.float32)


def _explicit(image: Any, p: ImagePreprocess) -> np.ndarray:
    from PIL import Image

    if isinstance(p.resize, int):
        scale = p.resize / min(image.size)
        size = (round(image.width * scale), round(image.height * scale))
    else:
        size = (p.resize[1], p.resize[0])
    image = image.resize(size, Image.Resampling.BILINEAR)
    if p.crop:
        height, width = p.crop
        left, top = (image.width - width) // 2, (image.height - height) // 2
        image = image.crop((left, top, left + width, top + height))
    pixels = np.asarray(image, dtype=np.float32) * p.rescale
    pixels = (pixels - np.asarray(p.mean, np.float32)) / np.asarray(p.std, np.float32)
    return pixels if p.layout == "NHWC" else pixels.transpose(2, 0, 1)
