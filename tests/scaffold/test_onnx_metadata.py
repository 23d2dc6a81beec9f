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
