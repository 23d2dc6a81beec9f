"""Render click-captcha-like images with exact character boxes, for ddddocr's detector (common_det.onnx).

A click captcha is a photo with a few large, coloured, outlined characters scattered over it; the
detector boxes each character. Backgrounds are random crops of six photos shipped in wheels (as
calibration/photos): scikit-image's skimage/data astronaut.png (NASA, public domain), camera.png (CC0,
Lav Varshney), coffee.png (CC0, Rachel Michetti), chelsea.png (CC0, Stefan van der Walt), rocket.jpg
(SpaceX, public domain); matplotlib's mpl-data/sample_data/grace_hopper.jpg (US Navy, public domain).
No CJK font is on this machine, so the characters are Latin capitals and digits (glyphs thinner than
a third of their height, such as I, J, 1, left out) drawn with Pillow's bundled font (Aileron Regular,
dotcolon.net, CC0 1.0) at 28-48 px, a contrasting outline, and a rotation of up to 25 degrees.

Labels are exact by construction: each character is drawn on its own transparent layer, rotated there,
and its box is the bounding box of the layer's non-zero alpha (Image.getbbox of the alpha channel),
shifted to where the layer is pasted. Boxes do not overlap (a 4 px gap is kept between them).

Outputs (beside this file): calib/ and eval/ (24 PNG each), eval-labels/ (one YOLO txt per eval image:
`0 cx cy w h`, normalised to the image size) and eval-coco.json (COCO: bbox [x, y, w, h] in pixels,
category 0 "target", image and annotation ids from 1). Images are saved as 256-colour PNG (octree
palette, no dither) to keep the folder small; the palette only maps colours, so the boxes stay exact.

    python calibration/click-captcha/make.py FOLDER_WITH_THE_SIX_FILES
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

HERE = Path(__file__).resolve().parent
SOURCES = ("astronaut.png", "camera.png", "coffee.png", "chelsea.png", "rocket.jpg", "grace_hopper.jpg")
SIZES = ((344, 344), (320, 160), (384, 192), (400, 300), (300, 150), (344, 216))
CHARS = "ABCDEFGHKLMNOPQRSTUVWXYZ2345678"  # no I, J, 1 (too thin), no 0 (looks like O), no 9 (looks like 6 turned)
COUNT = 24
GAP = 4


def background(photo: Image.Image, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A random crop of the photo with the target aspect, covering 50-100 % of what fits, resized."""
    w, h = size
    scale = min(photo.width / w, photo.height / h) * rng.uniform(0.5, 1.0)
    cw, ch = int(w * scale), int(h * scale)
    left, top = rng.randint(0, photo.width - cw), rng.randint(0, photo.height - ch)
    crop = photo.crop((left, top, left + cw, top + ch)).resize(size, Image.Resampling.BICUBIC)
    return ImageOps.mirror(crop) if rng.random() < 0.5 else crop


def glyph(char: str, rng: random.Random) -> Image.Image:
    """One character on a transparent layer: bright fill, dark outline (or the reverse), rotated."""
    size = rng.randint(28, 48)
    font = ImageFont.load_default(size=size)
    stroke = max(1, round(size / 16))
    bright = tuple(rng.randint(170, 255) for _ in range(3))
    dark = tuple(rng.randint(0, 70) for _ in range(3))
    fill, outline = (bright, dark) if rng.random() < 0.7 else (dark, bright)
    layer = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text(
        (size, size), char, font=font, fill=(*fill, 255), anchor="mm", stroke_width=stroke, stroke_fill=(*outline, 255)
    )
    layer = layer.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BILINEAR, expand=True)
    return layer.crop(layer.getchannel("A").getbbox())  # tight: the crop's own alpha bbox is the full crop


def place(canvas: Image.Image, n: int, rng: random.Random) -> list[tuple[int, int, int, int]]:
    """Paste n characters at non-overlapping random places; their exact boxes (x0, y0, x1, y1), x1/y1 exclusive."""
    boxes: list[tuple[int, int, int, int]] = []
    while len(boxes) < n:
        layer = glyph(rng.choice(CHARS), rng)
        for _ in range(200):
            x = rng.randint(2, canvas.width - layer.width - 2)
            y = rng.randint(2, canvas.height - layer.height - 2)
            box = (x, y, x + layer.width, y + layer.height)
            x0, y0, x1, y1 = box
            if all(x1 + GAP <= b[0] or b[2] + GAP <= x0 or y1 + GAP <= b[1] or b[3] + GAP <= y0 for b in boxes):
                break
        else:
            continue  # no room for this glyph: draw another
        ax0, ay0, ax1, ay1 = layer.getchannel("A").getbbox()
        canvas.alpha_composite(layer, (x, y))
        boxes.append((x + ax0, y + ay0, x + ax1, y + ay1))
    return boxes


def main(source_folder: Path) -> None:
    photos = []
    for name in SOURCES:
        with Image.open(source_folder / name) as image:
            photos.append(image.convert("RGB"))
    coco: dict = {"images": [], "annotations": [], "categories": [{"id": 0, "name": "target"}]}
    for split in ("calib", "eval"):
        rng = random.Random(f"click-captcha-{split}")
        folder = HERE / split
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        labels = HERE / "eval-labels"
        if split == "eval":
            shutil.rmtree(labels, ignore_errors=True)
            labels.mkdir()
        for i in range(COUNT):
            size = SIZES[i % len(SIZES)]
            canvas = background(photos[rng.randrange(len(photos))], size, rng).convert("RGBA")
            boxes = place(canvas, rng.randint(3, 5), rng)
            name = f"{split}-{i:03d}.png"
            # 256-colour PNG (octree keeps the glyph colours): 48 images fit in ~1.6 MB
            canvas.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
                folder / name, optimize=True
            )
            if split != "eval":
                continue
            w, h = size
            lines = [
                f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}"
                for x0, y0, x1, y1 in boxes
            ]
            (labels / f"{split}-{i:03d}.txt").write_text("\n".join(lines) + "\n")
            image_id = i + 1
            coco["images"].append({"id": image_id, "file_name": name, "width": w, "height": h})
            for x0, y0, x1, y1 in boxes:
                coco["annotations"].append(
                    {
                        "id": len(coco["annotations"]) + 1,
                        "image_id": image_id,
                        "category_id": 0,
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "area": (x1 - x0) * (y1 - y0),
                        "iscrowd": 0,
                    }
                )
    (HERE / "eval-coco.json").write_text(json.dumps(coco, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
