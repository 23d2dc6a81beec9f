"""Cut the face sets for MTCNN's ONet (samples/zoo/mtcnn-onet-face) from the faces scikit-image ships.

scikit-image's wheel holds skimage/data/lfw_subset.npy: 200 grey 25x25 crops from Labeled Faces in the Wild,
the first 100 faces and the last 100 non-face patches of the same photos. Each crop is resized to ONet's
48x48 (bicubic), copied to three channels and normalised as facenet-pytorch does ((x * 255 - 127.5) / 128),
``image`` [N, 3, 48, 48], labelled (``__labels__``: 1 face, 0 non-face). Disjoint seeded splits, half faces and
half non-faces each: the refinement stage of a face detector sees both. ``check`` prints the fp32 model's
face / non-face accuracy (face prob > 0.5) on eval, so the set is known to be in its domain.

    pip download --no-deps scikit-image && unzip -j scikit_image-*.whl skimage/data/lfw_subset.npy -d FOLDER
    python calibration/faces/make.py FOLDER/lfw_subset.npy          # calib.npz, eval.npz
    python calibration/faces/make.py check                          # the fp32 ONet's accuracy on eval
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SPLITS = {"calib": 20, "eval": 32}  # per class


def to_input(crop: np.ndarray) -> np.ndarray:
    grey = Image.fromarray((crop * 255).round().astype(np.uint8)).resize((48, 48), Image.Resampling.BICUBIC)
    x = (np.asarray(grey, dtype=np.float32) - 127.5) / 128.0
    return np.repeat(x[None], 3, axis=0)


def main(source: Path) -> None:
    crops = np.load(source)
    rng = np.random.default_rng(0)
    faces, others = rng.permutation(100), 100 + rng.permutation(100)
    start = 0
    for split, count in SPLITS.items():
        picked = np.concatenate([faces[start:start + count], others[start:start + count]])
        start += count
        images = np.stack([to_input(crops[i]) for i in picked])
        labels = np.r_[np.ones(count), np.zeros(count)].astype(np.int64)  # class 1 is ONet's face probability
        np.savez_compressed(HERE / f"{split}.npz", image=images, __labels__=labels)
        print(f"{split}: {len(images)} crops ({count} faces, {count} non-faces)")


def check() -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(HERE.parents[1] / "samples/zoo/mtcnn-onet-face/onet.onnx"))
    images = np.load(HERE / "eval.npz")["image"]
    prob = session.run(["prob"], {"image": images})[0][:, 1]
    truth = np.load(HERE / "eval.npz")["__labels__"]
    print(f"fp32 ONet face/non-face accuracy on eval: {((prob > 0.5) == truth).mean():.3f}")


if __name__ == "__main__":
    check() if sys.argv[1:] == ["check"] else main(Path(sys.argv[1]))
