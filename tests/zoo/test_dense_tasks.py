"""Dense tasks on real models: the text-detector sample scored by mIoU against rendered label masks, and the
refusals (exit 2, nothing written) of dense-task specs that cannot be measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.zoo.test_zoo import Built, build


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build("text-detector", tmp_path_factory.mktemp("seg") / "out", "--set",
                 "targets=[{name: x86-cpu-ort, precisions: [fp32, int8-static]}, "
                 "{name: arm64-tflite, precisions: [fp32]}]")


def test_the_text_detector_sample_is_scored_by_miou_against_labels_and_the_reference(segmenter: Built) -> None:
    assert segmenter.code in (0, 1), segmenter.stdout + segmenter.stderr
    report = segmenter.report
    assert report["evaluation"]["task"] == "segmentation" and report["evaluation"]["labelled"]
    reference = report["reference"]["segmentation"]
    assert 0.3 < reference["miou"] < 1.0 and reference["miou_vs_reference"] == 1.0  # fp32 is imperfect on labels
    for precision in ("fp32", "int8-static"):
        figures = segmenter.artifact(precision)["segmentation"]
        assert figures["reference_miou"] == pytest.approx(reference["miou"])
        assert 0.0 <= figures["miou"] <= 1.0 and 0.0 <= figures["pixel_agreement"] <= 1.0
        assert set(figures["iou_per_class"]) == {"0", "1"}
    static = segmenter.artifact("int8-static")
    drop = next(b for b in static["budgets"] if b["name"] == "miou_drop")
    assert drop["value"] == pytest.approx(max(0.0, reference["miou"] - static["segmentation"]["miou"]))
    assert segmenter.artifact("fp32")["segmentation"]["miou"] == pytest.approx(reference["miou"])  # same graph
    assert "mIoU" in segmenter.stdout and "label masks" in (segmenter.out / "report.md").read_text()
    tflite = segmenter.artifact("fp32", "arm64-tflite")  # PP-OCRv6's SAME-padded convs, through onnx2torch
    assert tflite["status"] == "passed" and tflite["segmentation"]["pixel_agreement"] > 0.99


@pytest.mark.parametrize(("name", "override", "message"), [
    ("nudenet-yolov8n", "evaluation.segmentation.masks=/nowhere", "evaluation.segmentation.masks is set but model"),
    ("ppocr-text-detector", "model.task=detection", "task: detection reads a YOLO head"),
    ("nudenet-yolov8n", "evaluation.detection.labels=/nowhere", "box labels '/nowhere' not found"),
    ("text-detector", "budgets.map_drop=0.01", "budgets.map_drop is a detection budget"),
])
def test_dense_task_specs_that_cannot_be_measured_are_exit_2(tmp_path: Path, name: str, override: str,
                                                              message: str) -> None:
    built = build(name, tmp_path / "out", "--set", override)
    assert built.code == 2 and message in built.stderr and "Traceback" not in built.stderr
    assert not (tmp_path / "out").exists()
