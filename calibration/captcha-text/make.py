"""Render the captcha-text sets for ddddocr's OCR model (common.onnx): 4-6 characters on a noisy background.

ddddocr (MIT) reads a captcha with a CRNN exported by PyTorch 1.9: a grey image 64 pixels high, values / 255,
``input1`` [1, 1, 64, width] -> per-column class indices (the graph ends in ArgMax) that CTC decoding turns
into text. These images are 192 x 64, drawn with Pillow's bundled font (Aileron Regular, CC0 1.0) in varied
sizes, positions and grey levels over random lines and dots, and preprocessed as ddddocr does (grey, / 255).
No labels: each artifact is held to the fp32 model's own indices. ``ocr-check`` (the package's own API on the
same images) says how often the fp32 model reads the drawn text, so the set is known to be in its domain.

    python calibration/captcha-text/make.py            # calib.npz, eval.npz
    python calibration/captcha-text/make.py ocr-check  # the fp32 model's exact-read rate
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
CHARS = "ABCDEFGHKLMNPQRSTUVWXYZabdefghkmnpqrstuwxyz2345678"
SIZE = (192, 64)
SPLITS = {"calib": 32, "eval": 48}


def captcha(rng: random.Random) -> tuple[Image.Image, str]:
    text = "".join(rng.choice(CHARS) for _ in range(rng.randint(4, 6)))
    image = Image.new("L", SIZE, rng.randint(200, 255))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 5)):  # interference lines and dots, as captchas have
        draw.line([(rng.randint(0, SIZE[0]), rng.randint(0, SIZE[1])) for _ in range(2)],
                  fill=rng.randint(60, 180), width=rng.randint(1, 2))
    for _ in range(rng.randint(30, 90)):
        x, y = rng.randint(0, SIZE[0] - 1), rng.randint(0, SIZE[1] - 1)
        draw.point((x, y), fill=rng.randint(0, 200))
    size = rng.randint(30, 40)
    font = ImageFont.load_default(size=size)
    width = draw.textlength(text, font=font)
    at = (rng.randint(2, max(3, int(SIZE[0] - width - 2))), rng.randint(0, SIZE[1] - size - 8))
    draw.text(at, text, font=font, fill=rng.randint(0, 80))
    return image, text


def main() -> None:
    check = sys.argv[1:] == ["ocr-check"]
    if check:
        import ddddocr

        reader = ddddocr.DdddOcr(show_ad=False)
    for split, count in SPLITS.items():
        rng = random.Random(f"captcha-text-{split}")
        drawn = [captcha(rng) for _ in range(count)]
        if check:
            hits = sum(reader.classification(image).lower() == text.lower() for image, text in drawn)
            print(f"{split}: fp32 read {hits}/{count} exactly (case-insensitive)")
            continue
        pixels = np.stack([np.asarray(image, np.float32)[None] / 255.0 for image, _ in drawn])
        np.savez_compressed(HERE / f"{split}.npz", input1=pixels)


if __name__ == "__main__":
    main()
