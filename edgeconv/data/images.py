"""Images from a folder (one sub-folder per class, or flat and unlabelled) into pixel-value feeds.

Preprocessing comes from the model's own image processor (transformers) when it has one, so
calibration and evaluation see exactly what the model saw in training; an explicit
``ImagePreprocess`` in the spec is applied with PIL + numpy for models that have no processor
config (a torch.export / ONNX classifier) — a dozen lines, not worth a torchvision dependency.
"""

from __future__ import annotations

from dataclasses import dataclass
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
            arrays.append(_explicit(rgb, explicit))
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


@dataclass(frozen=True)
class Geometry:
    """Where an original image's pixels land in the model's input: x' = x * scale_x + offset_x (same for y),
    inside an input of ``size`` (width, height). Box labels and masks are mapped with it."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    resized: tuple[int, int]  # the image's (width, height) after the resize, before the crop or padding
    size: tuple[int, int]


def geometry(width: int, height: int, p: ImagePreprocess) -> Geometry:
    """The resize, then the centre crop or the letterbox padding, that ``p`` applies to a width x height image."""
    if isinstance(p.resize, int):
        scale = p.resize / min(width, height)
        resized = (round(width * scale), round(height * scale))
        if p.multiple_of:  # as PaddleOCR's detectors round: to the nearest multiple, at least one
            m = p.multiple_of
            resized = (max(round(resized[0] / m), 1) * m, max(round(resized[1] / m), 1) * m)
    elif p.letterbox:
        scale = min(p.resize[0] / height, p.resize[1] / width)
        resized = (round(width * scale), round(height * scale))
    else:
        resized = (p.resize[1], p.resize[0])
    sx, sy = resized[0] / width, resized[1] / height
    if p.letterbox:
        assert isinstance(p.resize, list)
        size = (p.resize[1], p.resize[0])
        if p.letterbox_anchor == "top-left":
            return Geometry(sx, sy, 0, 0, resized, size)
        return Geometry(sx, sy, (size[0] - resized[0]) // 2, (size[1] - resized[1]) // 2, resized, size)
    if p.crop:
        size = (p.crop[1], p.crop[0])
        return Geometry(sx, sy, -((resized[0] - size[0]) // 2), -((resized[1] - size[1]) // 2), resized, size)
    return Geometry(sx, sy, 0, 0, resized, resized)


def place(image: Any, g: Geometry, resample: Any, fill: int | tuple[int, ...]) -> Any:
    """``image`` resized, then cropped or padded (with ``fill``) into the model's input as ``g`` says."""
    from PIL import Image

    canvas = Image.new(image.mode, g.size, fill)
    canvas.paste(image.resize(g.resized, resample), (int(g.offset_x), int(g.offset_y)))
    return canvas


def _explicit(image: Any, p: ImagePreprocess) -> np.ndarray:
    from PIL import Image

    placed = place(image, geometry(image.width, image.height, p), Image.Resampling.BILINEAR, (p.pad_value,) * 3)
    pixels = np.asarray(placed, dtype=np.float32) * p.rescale
    if p.channel_order == "BGR":
        pixels = pixels[..., ::-1]
    pixels = (pixels - np.asarray(p.mean, np.float32)) / np.asarray(p.std, np.float32)
    return pixels if p.layout == "NHWC" else pixels.transpose(2, 0, 1)
