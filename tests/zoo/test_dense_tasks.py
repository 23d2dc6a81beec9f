"""Dense tasks on real models: the captcha-detector sample (a YOLOX) scored by mAP against labelled boxes, the
text-detector sample scored by mIoU against rendered label masks, and the refusals (exit 2, nothing written) of
dense-task specs that cannot be measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.zoo.test_zoo import Built, build


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # How a segmentation map is scored, not the fallback's search (tests/zoo/test_zoo.py runs that on a conv net):
    # with the search, this build took 477 s of the suite on the 2-core AVX2 machine.
    return build("text-detector", tmp_path_factory.mktemp("seg") / "out", "--set",
                 "targets=[{name: x86-cpu-ort, precisions: [fp32, int8-static]}, "
                 "{name: arm64-tflite, precisions: [fp32]}]", "--set", "quantize.fallback.enabled=false")


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build("captcha-detector", tmp_path_factory.mktemp("det") / "out", "--set",
                 "targets=[{name: x86-cpu-ort, precisions: [fp32, int8-static]}, "
                 "{name: arm64-tflite, precisions: [fp32]}]")


def test_the_detection_sample_is_scored_by_map_against_labels_and_the_reference(detector: Built) -> None:
    assert detector.code == 0, detector.stdout + detector.stderr
    report = detector.report
    assert report["evaluation"]["task"] == "detection" and report["evaluation"]["labelled"]
    reference = report["reference"]["detection"]
    assert reference["labelled_boxes"] == 100 and reference["map50_95_vs_reference"] == 1.0
    assert 0.3 < reference["map50_95"] < 1.0  # the fp32 model itself misses some characters
    for target, precision in (("x86-cpu-ort", "fp32"), ("x86-cpu-ort", "int8-static"), ("arm64-tflite", "fp32")):
        figures = detector.artifact(precision, target)["detection"]
        assert figures["reference_map50_95"] == pytest.approx(reference["map50_95"])
        assert 0.0 <= figures["map50_95"] <= 1.0 and 0.0 <= figures["map50_95_vs_reference"] <= 1.0
        assert detector.artifact(precision, target)["outputs"]["output"]["shape"] == [3549, 6]
    static = detector.artifact("int8-static")
    drop = next(b for b in static["budgets"] if b["name"] == "map_drop")
    assert drop["value"] == pytest.approx(max(0.0, reference["map50_95"] - static["detection"]["map50_95"]))
    assert detector.artifact("fp32", "arm64-tflite")["detection"]["map50_95_vs_reference"] > 0.95
    assert "mAP" in detector.stdout and "labelled boxes" in (detector.out / "report.md").read_text()


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
    ("ppocr-text-detector", "model.task=detection", "task: detection (layout: yolo) reads a YOLO head"),
    ("nudenet-yolov8n", "evaluation.detection.labels=/nowhere", "box labels '/nowhere' not found"),
    ("text-detector", "budgets.map_drop=0.01", "budgets.map_drop is a detection budget"),
])
def test_dense_task_specs_that_cannot_be_measured_are_exit_2(tmp_path: Path, name: str, override: str,
                                                              message: str) -> None:
    built = build(name, tmp_path / "out", "--set", override)
    assert built.code == 2 and message in built.stderr and "Traceback" not in built.stderr
    assert not (tmp_path / "out").exists()


def zoo_photos() -> object:
    """The zoo's 24 photos, preprocessed as the YOLOv8n spec says."""
    from edgeconv.api.prepare import prepare
    from edgeconv.spec import load_spec

    return prepare(load_spec(Path(__file__).parents[2] / "samples" / "zoo" / "nudenet-yolov8n" / "edgeconv.yaml"))


def test_post_nms_outputs_of_a_real_detector_decode_to_the_raw_heads_boxes(tmp_path: Path) -> None:
    import numpy as np
    import onnxruntime as ort

    from edgeconv.verify.detection import decode_yolo, from_boxes
    from edgeconv.verify.worker import pad_rows
    from tests.zoo.nms_tail import nudenet_path, with_nms

    pytest.importorskip("nudenet")
    with_nms(nudenet_path(), tmp_path / "nms.onnx")
    raw = ort.InferenceSession(str(nudenet_path()), providers=["CPUExecutionProvider"])
    nms = ort.InferenceSession(str(tmp_path / "nms.onnx"), providers=["CPUExecutionProvider"])
    feeds = zoo_photos().evaluation  # type: ignore[attr-defined]
    counts = []
    for i in range(len(feeds)):
        x = feeds.example(i)
        boxes, scores, labels = nms.run(None, x)
        found = from_boxes(boxes, scores, labels, "cxcywh", 0.25, 300)
        expected = decode_yolo(raw.run(None, x)[0], 0.25, 0.7, 300)
        np.testing.assert_allclose(found.boxes, expected.boxes, rtol=1e-5, atol=1e-4)
        assert found.classes.tolist() == expected.classes.tolist()
        counts.append(len(boxes))
    assert len(set(counts)) > 1  # K varies per image: the worker stores such outputs padded, with the lengths
    padded = pad_rows([np.zeros((k, 4)) for k in counts])
    assert padded is not None and padded[1][:, 0].tolist() == counts


def test_a_post_nms_detector_builds_and_is_scored_on_its_own_boxes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edgeconv.cli import main
    from tests.zoo.nms_tail import nudenet_path, with_nms

    pytest.importorskip("nudenet")
    with_nms(nudenet_path(), tmp_path / "nms.onnx")
    photos = Path(__file__).parents[2] / "calibration" / "photos"
    (tmp_path / "edgeconv.yaml").write_text(f"""
name: yolov8n-nms
model:
  path: nms.onnx
  task: detection
  image: {{resize: [320, 320], crop: null, mean: [0, 0, 0], std: [1, 1, 1]}}
calibration: {{path: {photos / "calib"}}}
evaluation:
  path: {photos / "eval"}
  detection: {{layout: boxes, outputs: {{box_format: cxcywh}}}}
targets: [{{name: x86-cpu-ort, precisions: [fp32, int8-static]}}]
latency: {{warmup: 2, runs: 11, min_time_s: 0}}
budgets: {{map_drop: 0.2}}
""")
    result = CliRunner().invoke(main, ["build", str(tmp_path / "edgeconv.yaml"),
                                       "--set", "quantize.fallback.enabled=false"])
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    fp32 = next(a for a in report["artifacts"] if a["precision"] == "fp32")
    assert fp32["detection"]["map50_95_vs_reference"] == pytest.approx(1.0) and fp32["detection"]["boxes"] > 0
    # K varies per image; fp32 gives every image the reference's K, so its boxes compare element by element
    assert set(fp32["outputs"]) == {"boxes", "scores", "labels"} and fp32["outputs"]["boxes"]["cosine"] > 0.9999
    static = next(a for a in report["artifacts"] if a["precision"] == "int8-static")
    assert 0.0 <= static["detection"]["map50_95_vs_reference"] <= 1.0


def test_images_at_their_own_aspect_ratio_run_each_at_its_own_shape(tmp_path: Path) -> None:
    built = build("ppocr-text-detector-any-size", tmp_path / "out", "--set",
                  "targets=[{name: x86-cpu-ort, precisions: [fp32, fp16]}, {name: arm64-tflite, precisions: [fp32]}]")
    assert built.code == 4, built.stdout + built.stderr  # the TFLite row is an error, the others are measured
    from edgeconv.data.feeds import FeedSet

    feeds = FeedSet.load(next(built.out.rglob("eval.npz")))
    shapes = {tuple(s) for s in feeds.shapes["x"].tolist()}
    assert len(shapes) > 1 and all(h % 32 == 0 and w % 32 == 0 and min(h, w) == 320 for _, h, w in shapes)
    assert feeds.example(1)["x"].shape == (1, *feeds.shapes["x"][1])  # an example at its own shape, not padded
    reference = built.report["reference"]
    assert reference["runtime"]["timed_shapes"] == {"x": feeds.shapes["x"][0].tolist()}  # one shape is timed
    assert 0 < reference["runtime"]["timed_examples"] < len(feeds)
    fp16 = built.artifact("fp16")
    assert fp16["status"] == "passed" and fp16["segmentation"]["pixel_agreement"] > 0.99
    assert fp16["outputs"]["fetch_name_0"]["cosine"] > 0.99  # compared per example, padding left out
    tflite = built.artifact("fp32", "arm64-tflite")
    assert tflite["status"] == "error" and "one static input shape" in tflite["reason"]


@pytest.mark.parametrize("target", ["x86-cpu-ort", "arm64-tflite"])
def test_the_detectors_bundle_replays_its_image_preprocessing_and_outputs(detector: Built, tmp_path: Path,
                                                                          target: str) -> None:
    """run.py on the board's side: letterbox, BGR and top-left padding by the bundled pixel module, the raw
    head by the bundled runner, both matching what verification recorded (run here with this interpreter; the
    fresh-venv check is tests/bundle/test_device_venv.py)."""
    import subprocess
    import sys
    import tarfile

    from edgeconv.bundle import make_bundle

    with tarfile.open(make_bundle(detector.out, target, tmp_path), "r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / f"captcha-detector-{target}"
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["preprocessing"]["kind"] == "image" and meta["preprocessing"]["image"]["channel_order"] == "BGR"
    assert len(meta["golden"]["raw"]) == 8 and (folder / meta["golden"]["raw"][0]).is_file()
    assert "pillow==" in (folder / "requirements.txt").read_text()
    check = subprocess.run([sys.executable, "run.py", "--check"], cwd=folder, capture_output=True, text=True,
                           timeout=300)
    assert check.returncode == 0 and check.stdout.startswith("ok: 8 golden examples"), check.stdout + check.stderr
    one = subprocess.run([sys.executable, "run.py", meta["golden"]["raw"][0]], cwd=folder, capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0 and one.stdout.startswith("0: ") and "[1, 3549, 6] float32" in one.stdout
