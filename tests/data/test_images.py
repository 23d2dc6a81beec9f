"""Image folders: labels from sub-folders, preprocessing from the processor or the spec, layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeconv.data.make import make_feeds
from edgeconv.errors import DataError
from edgeconv.models.tasks import TensorInfo
from edgeconv.spec import DatasetSpec, ImagePreprocess, TextPreprocess

PIXELS = [TensorInfo("pixel_values", "float32", ("batch", 3, 32, 32))]


def image_folder(root: Path) -> Path:
    for label, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (48 + i, 40), color).save(root / label / f"{i}.png")
    return root


def test_folder_per_class_with_explicit_preprocessing(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "imgs")
    spec = ImagePreprocess(resize=36, crop=[32, 32], mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    feeds = make_feeds(DatasetSpec(path=folder), "calibration", PIXELS, ["cat", "dog"], TextPreprocess(), None, spec)
    pixels = feeds.inputs["pixel_values"]
    assert pixels.shape == (6, 3, 32, 32) and pixels.dtype == np.float32
    assert feeds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(pixels[0, :, 16, 16], [1.0, -1.0, -1.0], atol=1e-6)  # red, normalised to [-1, 1]
    nhwc = make_feeds(DatasetSpec(path=folder), "calibration", [TensorInfo("x", "float32", ("b", 32, 32, 3))],
                      ["cat", "dog"], TextPreprocess(), None, spec.model_copy(update={"layout": "NHWC"}))
    assert nhwc.inputs["x"].shape == (6, 32, 32, 3)


def test_folder_with_the_models_image_processor(tmp_path: Path) -> None:
    from transformers import ViTImageProcessor

    folder = image_folder(tmp_path / "imgs")
    processor = ViTImageProcessor(size={"height": 32, "width": 32})
    feeds = make_feeds(DatasetSpec(path=folder, count=4, seed=0, stratify_by="label"), "calibration", PIXELS,
                       ["cat", "dog"], TextPreprocess(), processor)
    assert feeds.inputs["pixel_values"].shape == (4, 3, 32, 32)
    assert sorted(feeds.labels.tolist()) == [0, 0, 1, 1]


def test_images_without_any_preprocessing_are_refused(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "imgs")
    with pytest.raises(DataError, match=r"set model\.image"):
        make_feeds(DatasetSpec(path=folder), "calibration", PIXELS, ["cat", "dog"], TextPreprocess())


def test_empty_folder_and_unreadable_image(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        make_feeds(DatasetSpec(path=tmp_path / "empty"), "calibration", PIXELS, [], TextPreprocess(), None,
                   ImagePreprocess())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="not a readable image"):
        make_feeds(DatasetSpec(path=tmp_path / "bad"), "calibration", PIXELS, [], TextPreprocess(), None,
                   ImagePreprocess())


def test_npy_feeds_a_single_input_model(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((5, 3, 32, 32), dtype=np.float32))
    feeds = make_feeds(DatasetSpec(path=tmp_path / "x.npy", count=2), "calibration", PIXELS, [], TextPreprocess())
    assert feeds.inputs["pixel_values"].shape == (2, 3, 32, 32)
    two_inputs = [*PIXELS, TensorInfo("mask", "int64", ("batch",))]
    with pytest.raises(DataError, match="holds one array but the model takes 2 inputs"):
        make_feeds(DatasetSpec(path=tmp_path / "x.npy"), "calibration", two_inputs, [], TextPreprocess())
