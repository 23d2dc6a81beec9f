"""An image into the model's input pixels, as the spec's explicit ``model.image`` says: resize, crop or
letterbox, rescale, channel order, mean/std, layout.

Imports only numpy and Pillow, never the rest of edgeconv: a bundle ships this file beside its ``run.py``, so
the board applies byte for byte the preprocessing that verification applied. ``p`` is anything with the
``ImagePreprocess`` fields as attributes (the pydantic model here, a namespace read from JSON on the board).
A dozen lines of PIL + numpy, not worth a torchvision dependency on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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


def geometry(width: int, height: int, p: Any) -> Geometry:
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


def preprocess_image(image: Any, p: Any) -> np.ndarray:
    """An RGB PIL image as the model's float32 pixels (cast to ``p.dtype`` by the caller), NCHW or NHWC."""
    from PIL import Image

    placed = place(image, geometry(image.width, image.height, p), Image.Resampling.BILINEAR, (p.pad_value,) * 3)
    pixels = np.asarray(placed, dtype=np.float32) * p.rescale
    if p.channel_order == "BGR":
        pixels = pixels[..., ::-1]
    pixels = (pixels - np.asarray(p.mean, np.float32)) / np.asarray(p.std, np.float32)
    return pixels if p.layout == "NHWC" else pixels.transpose(2, 0, 1)
