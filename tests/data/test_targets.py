"""Box labels (YOLO txt, COCO JSON) and label masks, mapped through the images' resize / crop / letterbox."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeconv.data.feeds import FeedSet
from edgeconv.data.make import make_feeds
from edgeconv.data.pixels import geometry
from edgeconv.data.targets import Truth
from edgeconv.errors import DataError
from edgeconv.models.tasks import TensorInfo
from edgeconv.spec import DatasetSpec, ImagePreprocess, TextPreprocess

PIXELS = [TensorInfo("images", "float32", ("batch", 3, 320, 320))]
LETTERBOX = ImagePreprocess(resize=[320, 320], crop=None, letterbox=True, mean=[0, 0, 0], std=[1, 1, 1])


def photos(root: Path) -> Path:
    """One 640x480 photo: a letterbox to 320x320 halves it and pads 40 rows above and below."""
    root.mkdir()
    Image.new("RGB", (640, 480), (200, 10, 10)).save(root / "street.png")
    return root


def feeds(folder: Path, truth: Truth, classes: list[str] | None = None) -> list[dict]:
    made = make_feeds(DatasetSpec(path=folder), "evaluation", PIXELS, classes or [], TextPreprocess(), None,
                      LETTERBOX, truth)
    assert made.targets is not None
    return made.targets


def test_letterbox_geometry_and_pixels(tmp_path: Path) -> None:
    g = geometry(640, 480, LETTERBOX)
    assert (g.scale_x, g.scale_y, g.offset_x, g.offset_y, g.resized) == (0.5, 0.5, 0, 40, (320, 240))
    made = make_feeds(DatasetSpec(path=photos(tmp_path / "imgs")), "evaluation", PIXELS, [], TextPreprocess(), None,
                      LETTERBOX)
    pixels = made.inputs["images"][0]
    assert pixels[:, 0, 0] == pytest.approx([114 / 255] * 3)  # the padding's grey
    assert pixels[:, 160, 160] == pytest.approx([200 / 255, 10 / 255, 10 / 255])  # the photo


def test_yolo_txt_boxes_follow_the_letterbox(tmp_path: Path) -> None:
    folder, labels = photos(tmp_path / "imgs"), tmp_path / "labels"
    labels.mkdir()
    # class 2, centre (0.5, 0.5), 0.25 x 0.5 of 640x480: x 240..400, y 120..360 -> halved, 40 rows down
    (labels / "street.txt").write_text("2 0.5 0.5 0.25 0.5\n")
    target = feeds(folder, Truth("boxes", labels))[0]
    assert target["boxes"].tolist() == [[120.0, 100.0, 80.0, 120.0]] and target["classes"].tolist() == [2]
    (labels / "street.txt").unlink()
    assert feeds(folder, Truth("boxes", labels))[0]["boxes"].shape == (0, 4)  # no file: no boxes in the image


def test_coco_json_boxes_match_images_by_name_and_classes_by_label(tmp_path: Path) -> None:
    folder = photos(tmp_path / "imgs")
    coco = {"images": [{"id": 7, "file_name": "photos/street.png", "width": 640, "height": 480}],
            "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [240, 120, 160, 240], "iscrowd": 0},
                            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 1}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    target = feeds(folder, Truth("boxes", tmp_path / "coco.json"), classes=["person", "bicycle", "car"])[0]
    assert target["boxes"].tolist() == [[120.0, 100.0, 80.0, 120.0]]  # the crowd box is not scored
    assert target["classes"].tolist() == [2]  # 'car' is the model's class 2
    assert feeds(folder, Truth("boxes", tmp_path / "coco.json"))[0]["classes"].tolist() == [3]  # no labels: the id


@pytest.mark.parametrize(("name", "text", "message"), [
    ("street.txt", "2 0.5 0.5 1.5 0.5\n", "is not YOLO txt labels"),
    ("street.txt", "2 0.5 0.5\n", "is not YOLO txt labels"),
    ("coco.json", '{"images": []}', "is not COCO JSON"),
    ("coco.json", '{"images": [], "annotations": []}', "has no image named 'street.png'"),
])
def test_labels_in_the_wrong_format_are_one_data_error(tmp_path: Path, name: str, text: str, message: str) -> None:
    folder = photos(tmp_path / "imgs")
    where = tmp_path / "labels"
    where.mkdir()
    (where / name).write_text(text)
    with pytest.raises(DataError, match=message):
        feeds(folder, Truth("boxes", where if name.endswith(".txt") else where / name))


def test_labels_need_explicit_preprocessing_and_an_image_folder(tmp_path: Path) -> None:
    folder, labels = photos(tmp_path / "imgs"), tmp_path / "labels"
    labels.mkdir()
    with pytest.raises(DataError, match=r"need model\.image"):  # an image processor's geometry is not known
        Truth("boxes", labels).read([{"path": folder / "street.png"}], None, [])
    np.savez(tmp_path / "x.npz", images=np.zeros((1, 3, 320, 320), np.float32))
    with pytest.raises(DataError, match="go with an image folder"):
        make_feeds(DatasetSpec(path=tmp_path / "x.npz"), "evaluation", PIXELS, [], TextPreprocess(), None, None,
                   Truth("boxes", labels))


def test_masks_are_resized_nearest_and_padding_is_ignored(tmp_path: Path) -> None:
    folder, masks = photos(tmp_path / "imgs"), tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((480, 640), np.uint8)
    mask[:, 320:] = 3  # the right half is class 3
    Image.fromarray(mask).save(masks / "street.png")
    got = feeds(folder, Truth("masks", masks, ignore_index=255))[0]["mask"]
    assert got.shape == (320, 320) and got.dtype == np.int64
    assert (got[:40] == 255).all() and (got[280:] == 255).all()  # letterbox rows: not scored
    assert set(np.unique(got[40:280, :160]).tolist()) == {0} and set(np.unique(got[40:280, 160:]).tolist()) == {3}
    Image.new("RGB", (640, 480)).save(masks / "street.png")
    with pytest.raises(DataError, match=r"one class index per pixel"):
        feeds(folder, Truth("masks", masks))
    (masks / "street.png").unlink()
    with pytest.raises(DataError, match=r"no mask for 'street\.png'"):
        feeds(folder, Truth("masks", masks))


def test_a_top_left_letterbox_keeps_boxes_unshifted_and_bgr_swaps_channels(tmp_path: Path) -> None:
    yolox = ImagePreprocess(resize=[320, 320], crop=None, letterbox=True, letterbox_anchor="top-left",
                            channel_order="BGR", rescale=1, mean=[0, 0, 0], std=[1, 1, 1])
    g = geometry(640, 480, yolox)
    assert (g.offset_x, g.offset_y, g.resized) == (0, 0, (320, 240))  # the padding is all below
    folder, labels = photos(tmp_path / "imgs"), tmp_path / "labels"
    labels.mkdir()
    (labels / "street.txt").write_text("0 0.5 0.5 0.25 0.5\n")
    made = make_feeds(DatasetSpec(path=folder), "evaluation", PIXELS, [], TextPreprocess(), None, yolox,
                      Truth("boxes", labels))
    assert made.targets is not None and made.targets[0]["boxes"].tolist() == [[120.0, 60.0, 80.0, 120.0]]
    pixels = made.inputs["images"][0]
    assert pixels[:, 10, 10].tolist() == [10.0, 10.0, 200.0]  # the photo's (200, 10, 10) RGB as B, G, R
    assert pixels[:, 300, 10].tolist() == [114.0, 114.0, 114.0]  # below the image: padding


def test_uint8_and_float16_inputs_and_a_uint8_spec_that_rescales_is_refused(tmp_path: Path) -> None:
    from pydantic import ValidationError

    raw = ImagePreprocess(resize=[320, 320], crop=None, dtype="uint8", rescale=1, mean=[0, 0, 0], std=[1, 1, 1])
    inputs = [TensorInfo("images", "uint8", ("batch", 3, 320, 320))]
    made = make_feeds(DatasetSpec(path=photos(tmp_path / "imgs")), "evaluation", inputs, [], TextPreprocess(), None,
                      raw)
    assert made.inputs["images"].dtype == np.uint8 and made.inputs["images"][0, :, 0, 0].tolist() == [200, 10, 10]
    half = ImagePreprocess(resize=[320, 320], crop=None, dtype="float16")
    made = make_feeds(DatasetSpec(path=tmp_path / "imgs"), "evaluation",
                      [TensorInfo("images", "float16", ("batch", 3, 320, 320))], [], TextPreprocess(), None, half)
    assert made.inputs["images"].dtype == np.float16
    with pytest.raises(ValidationError, match="dtype uint8 takes raw pixel values"):
        ImagePreprocess(resize=[320, 320], crop=None, dtype="uint8")


def test_images_resized_by_their_shorter_side_keep_their_own_shapes(tmp_path: Path) -> None:
    folder = photos(tmp_path / "imgs")  # 640 x 480
    Image.new("RGB", (300, 150), (0, 0, 255)).save(folder / "wide.png")
    own = ImagePreprocess(resize=160, crop=None, multiple_of=32, mean=[0, 0, 0], std=[1, 1, 1])
    made = make_feeds(DatasetSpec(path=folder), "evaluation", [TensorInfo("x", "float32", ("batch", 3, "h", "w"))],
                      [], TextPreprocess(), None, own)
    # street 640x480 -> 213x160 -> 224x160; wide 300x150 -> 320x160 (already multiples of 32)
    assert made.shapes["x"].tolist() == [[3, 160, 224], [3, 160, 320]]
    assert made.inputs["x"].shape == (2, 3, 160, 320)  # padded to the largest
    assert made.example(0)["x"].shape == (1, 3, 160, 224) and [b["x"].shape for b in made.batches(4)] == [
        (1, 3, 160, 224), (1, 3, 160, 320)]  # one example at a time, each at its own shape
    made.save(tmp_path / "feeds.npz")
    again = FeedSet.load(tmp_path / "feeds.npz")
    assert again.shapes["x"].tolist() == made.shapes["x"].tolist()
    assert again.head(1).shapes["x"].tolist() == [[3, 160, 224]]
