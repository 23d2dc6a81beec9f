"""`edgeconv init` reads what an ONNX file records about itself: class names in the model's order, its task and the
image size it was trained at (Ultralytics' and PaddleOCR's metadata), on real models from PyPI wheels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edgeconv.scaffold.onnx_metadata import class_names
from tests.conftest import ROOT as REPO
from tests.scaffold.test_init import QUICK, invoke


@pytest.mark.parametrize(("value", "names"), [
    ("{0: 'person', 2: 'car', 1: 'bicycle'}", ["person", "bicycle", "car"]),  # by index, as Ultralytics writes
    ("0\n90\n180\n270", ["0", "90", "180", "270"]),  # PaddleOCR's `character`: one a line, in its order
    ("['cat', 'dog']", ["cat", "dog"]),
    ("__import__('os').system('echo no')", []),  # no code runs: not a literal, so no names
    ("{'a': 1}", []), ("a sentence about the model", []), ("", []), (None, []),
])
def test_class_names_are_read_from_literals_and_lines_only(value: str | None, names: list[str]) -> None:
    assert class_names(value) == names


def test_init_on_an_ultralytics_detector_takes_its_task_names_and_image_size(tmp_path: Path) -> None:
    """NudeNet's YOLOv8n (the nudenet wheel) records task, imgsz and 18 class names: the spec init writes from
    them builds as it is, with no TODO on the task, the labels or the image recipe."""
    pytest.importorskip("nudenet")
    import nudenet
    import onnx

    proto = onnx.load(str(Path(nudenet.__file__).parent / "320n.onnx"), load_external_data=False)
    recorded = class_names(next(p.value for p in proto.metadata_props if p.key == "names"))
    code, _, err = invoke("init", "pkg://nudenet/320n.onnx", "--data", str(REPO / "calibration/photos/eval"),
                          "--out", str(tmp_path / "edgeconv.yaml"))
    assert code == 0, err
    text = (tmp_path / "edgeconv.yaml").read_text()
    model = yaml.safe_load(text)["model"]
    assert model["task"] == "detection" and model["labels"] == recorded != sorted(recorded)  # the model's order
    assert model["image"]["resize"] == [320, 320] and model["image"]["letterbox"] is True
    assert "TODO" not in "".join(line for line in text.splitlines() if line.lstrip().startswith(("task", "labels",
                                                                                                  "image")))
    assert "map_drop" in yaml.safe_load(text)["budgets"]
    code, out, err = invoke("build", str(tmp_path / "edgeconv.yaml"), *QUICK)
    assert code == 0, out + err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["evaluation"]["task"] == "detection" and report["artifacts"][0]["detection"] is not None


def test_init_takes_a_classifiers_class_order_from_its_metadata(tmp_path: Path) -> None:
    """PaddleOCR's orientation classifier (rapidocr's wheel) with its class order recorded as PaddleOCR records
    it (`character`): the labels come from the file, so only the normalisation is left to decide."""
    pytest.importorskip("rapidocr")
    import onnx
    import rapidocr

    proto = onnx.load(str(Path(rapidocr.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"))
    onnx.helper.set_model_props(proto, {"character": "0\n180"})
    onnx.save(proto, str(tmp_path / "cls.onnx"))
    data = REPO / "calibration" / "text-orientation"
    code, _, err = invoke("init", str(tmp_path / "cls.onnx"), "--data", str(data / "eval"),
                          "--out", str(tmp_path / "edgeconv.yaml"))
    assert code == 0, err
    text = (tmp_path / "edgeconv.yaml").read_text()
    assert yaml.safe_load(text)["model"]["labels"] == ["0", "180"]
    labels_line = next(line for line in text.splitlines() if line.lstrip().startswith("labels:"))
    assert "TODO" not in labels_line and "metadata ('character')" in labels_line
    todo = [line.strip("# ").split(":")[0] for line in text.splitlines() if "# TODO:" in line]
    assert todo == ["image", "calibration"]  # the normalisation no file records, and calibration data not given


@pytest.mark.parametrize(("value", "names"), [
    ("0\n90\n180\n270\n", ["0", "90", "180", "270"]),  # a final newline ends the last name
    ('{"0": "cat", "1": "dog"}', ["cat", "dog"]),  # JSON keys are strings
    ('["cat", "dog"]', ["cat", "dog"]),
])
def test_class_names_from_other_exporters(value: str, names: list[str]) -> None:
    assert class_names(value) == names


def image_classifier(path: Path, size: tuple[int | str, int | str] = (8, 8), **props: str) -> Path:
    """A 3-class image 'classifier' [batch, 3, H, W] -> [batch, 3] (the channel means) with metadata_props."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixels"], ["scores"], axes=[2, 3], keepdims=0)], "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, *size])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


def image_folder(folder: Path, classes: list[str]) -> Path:
    from PIL import Image

    colours = {"red": (200, 0, 0), "green": (0, 200, 0), "blue": (0, 0, 200)}
    for name in classes:
        (folder / name).mkdir(parents=True)
        Image.new("RGB", (8, 8), colours.get(name, (0, 0, 0))).save(folder / name / "a.png")
    return folder


def test_init_writes_the_class_order_and_normalisation_an_onnx_file_records(tmp_path: Path) -> None:
    model = image_classifier(tmp_path / "net.onnx", classes='["red", "green", "blue"]', mean="[0.5, 0.5, 0.5]",
                             std="[0.25, 0.25, 0.25]")
    code, _, err = invoke("init", str(model), "--data", str(image_folder(tmp_path / "eval", ["blue", "green", "red"])),
                          "--out", str(tmp_path / "edgeconv.yaml"))
    assert code == 0, err
    text = (tmp_path / "edgeconv.yaml").read_text()
    written = yaml.safe_load(text)["model"]
    assert written["labels"] == ["red", "green", "blue"]  # the model's order, not the folders' sorted names
    assert written["image"] == {"resize": [8, 8], "crop": None, "mean": [0.5] * 3, "std": [0.25] * 3,
                                "layout": "NCHW"}
    todo = [line.strip("# ").split(":")[0] for line in text.splitlines() if "# TODO:" in line]
    assert todo == ["calibration"]  # only the calibration set is left to give
    labels_line = next(line for line in text.splitlines() if line.lstrip().startswith("labels:"))
    assert "metadata ('classes')" in labels_line
    code, out, err = invoke("build", str(tmp_path / "edgeconv.yaml"), *QUICK)
    assert code == 0, out + err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["reference"]["accuracy"] == 1.0  # each colour's image scores its own channel: the order holds


def test_init_says_when_the_datas_labels_are_not_the_models(tmp_path: Path) -> None:
    model = image_classifier(tmp_path / "net.onnx", character="red\ngreen\nblue\n")
    code, _, err = invoke("init", str(model), "--data", str(image_folder(tmp_path / "eval", ["0", "1", "2"])),
                          "--out", str(tmp_path / "edgeconv.yaml"))
    assert code == 0, err
    text = (tmp_path / "edgeconv.yaml").read_text()
    labels_line = next(line for line in text.splitlines() if line.lstrip().startswith("labels:"))
    assert yaml.safe_load(text)["model"]["labels"] == ["red", "green", "blue"]
    assert "TODO" in labels_line and "the data's labels ['0', '1', '2'] are not these" in labels_line


def test_a_recorded_normalisation_is_kept_when_the_size_is_left_to_decide(tmp_path: Path) -> None:
    model = image_classifier(tmp_path / "net.onnx", ("height", "width"), mean="[0.5, 0.5, 0.5]", std="0.25")
    code, _, err = invoke("init", str(model), "--data", str(image_folder(tmp_path / "eval", ["0", "1", "2"])),
                          "--out", str(tmp_path / "edgeconv.yaml"))
    assert code == 0, err
    text = (tmp_path / "edgeconv.yaml").read_text()
    image = yaml.safe_load(text)["model"]["image"]
    assert (image["mean"], image["std"]) == ([0.5] * 3, [0.25] * 3)
    image_line = next(line for line in text.splitlines() if line.lstrip().startswith("image:"))
    assert "TODO" in image_line and "size is dynamic" in image_line
    assert "mean/std from the file's metadata" in image_line
