"""Photograph-like warped documents for UVDoc's unwarping model (samples/zoo/uvdoc-unwarp).

Each image is 488x712 (UVDoc's input): two text pages of ``text-pages/`` (tweets drawn with Pillow's bundled
font) stacked on one sheet with a margin, bent (a bulge across the sheet and a lateral wave down it, random
amplitudes), shaded along the bend, and laid over a crop of one of the wheel photos of ``photos/`` (the
background a phone photo of a page has). calib uses text-pages/calib and photos/calib, eval the eval folders:
disjoint. No labels: every artifact is held to the fp32 model's unwarping grids.

    python calibration/warped-pages/make.py
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import map_coordinates

HERE = Path(__file__).resolve().parent
SIZE = (488, 712)  # width, height
COUNTS = {"calib": 6, "eval": 8}


def sheet(pages: list[Path]) -> np.ndarray:
    """Two pages on one white sheet, float RGB in [0, 1]."""
    paper = Image.new("RGB", (360, 680), (250, 250, 246))
    for i, page in enumerate(pages):
        paper.paste(Image.open(page).convert("RGB"), (20, 20 + 320 * i))
    return np.asarray(paper, dtype=np.float32) / 255


def warp(paper: np.ndarray, background: np.ndarray, rng: random.Random) -> np.ndarray:
    """Inverse-map every canvas pixel onto the bent sheet; pixels off the sheet keep the background."""
    height, width = SIZE[1], SIZE[0]
    ph, pw = paper.shape[:2]
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    x0, y0 = rng.uniform(30, 70), rng.uniform(30, 70)
    w, h = width - x0 - rng.uniform(30, 70), height - y0 - rng.uniform(30, 70)
    bulge, wave, phase = rng.uniform(10, 35), rng.uniform(4, 14), rng.uniform(0, 2 * np.pi)
    across = np.clip((u - x0) / w, 0, 1)
    sx = (u - x0 - wave * np.sin(2 * np.pi * v / height + phase)) / w * pw
    sy = (v - y0 - bulge * np.sin(np.pi * across)) / h * ph
    inside = (sx >= 0) & (sx < pw - 1) & (sy >= 0) & (sy < ph - 1)
    out = background.copy()
    shade = 0.8 + 0.2 * np.sin(np.pi * across)  # light falls off towards the bent edges
    for c in range(3):
        channel = map_coordinates(paper[..., c], [sy, sx], order=1)
        out[..., c] = np.where(inside, channel * shade, background[..., c])
    return out


def main() -> None:
    root = HERE.parent
    for split, count in COUNTS.items():
        rng = random.Random(f"warped-{split}")
        pages = sorted((root / "text-pages" / split).glob("*.png"))
        photos = sorted((root / "photos" / split).glob("*.jpg"))
        folder = HERE / split
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for i in range(count):
            photo = Image.open(photos[i % len(photos)]).convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
            background = np.asarray(photo, dtype=np.float32) / 255
            image = warp(sheet(pages[2 * i:2 * i + 2]), background, rng)
            Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"{split}-{i:03d}.jpg",
                                                                          quality=90)
        print(f"{split}: {count} images")


if __name__ == "__main__":
    main()
