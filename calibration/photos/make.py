"""Cut the photo sets: 320x320 crops and rescales of public-domain / CC0 photos that PyPI packages ship.

Sources (inside the wheels, read without installing: `pip download --no-deps scikit-image matplotlib`):
scikit-image's skimage/data astronaut.png (NASA, public domain), camera.png (CC0, Lav Varshney),
coffee.png (CC0, Rachel Michetti), chelsea.png (CC0, Stefan van der Walt), rocket.jpg (SpaceX, public
domain); matplotlib's mpl-data/sample_data/grace_hopper.jpg (US Navy, public domain). People, a cat,
objects and a scene: inputs for a detector, held to its own fp32 output (no labels).

    python calibration/photos/make.py FOLDER_WITH_THE_SIX_FILES
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
SOURCES = ("astronaut.png", "camera.png", "coffee.png", "chelsea.png", "rocket.jpg", "grace_hopper.jpg")
SIZE = 320
PER_SOURCE = {"calib": 3, "eval": 4}


def crop(image: Image.Image, rng: random.Random) -> Image.Image:
    """A random square covering 60-100 % of the shorter side, sometimes mirrored, resized to SIZE."""
    side = int(min(image.size) * rng.uniform(0.6, 1.0))
    left, top = rng.randint(0, image.width - side), rng.randint(0, image.height - side)
    square = image.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    return ImageOps.mirror(square) if rng.random() < 0.5 else square


def main(source_folder: Path) -> None:
    for split, count in PER_SOURCE.items():
        rng = random.Random(f"photos-{split}")
        folder = HERE / split
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for name in SOURCES:
            with Image.open(source_folder / name) as image:
                rgb = image.convert("RGB")
            for i in range(count):
                crop(rgb, rng).save(folder / f"{Path(name).stem}-{i}.jpg", quality=90)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
