"""YOLO head decoding (ONNX Runtime's NMS) and COCO mAP, on hand-made boxes with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.verify.detection import Detections, coco_map, decode_yolo


def head(anchors: list[tuple[float, float, float, float, list[float]]]) -> np.ndarray:
    """A YOLO head [1, 4 + classes, anchors] from (cx, cy, w, h, class scores) per anchor."""
    return np.array([[*box[:4], *box[4]] for box in anchors], dtype=np.float32).T[None]


def test_overlapping_boxes_of_one_class_are_suppressed_per_class() -> None:
    found = decode_yolo(head([
        (50, 50, 20, 20, [0.9, 0.0]),   # kept
        (52, 50, 20, 20, [0.8, 0.0]),   # IoU 0.82 with the first, same class: suppressed
        (52, 50, 20, 20, [0.0, 0.7]),   # same place, other class: kept
        (10, 10, 5, 5, [0.1, 0.2]),     # under the score threshold
    ]), score_threshold=0.25, iou_threshold=0.5, max_detections=10)
    assert found.classes.tolist() == [0, 1] and found.scores.tolist() == pytest.approx([0.9, 0.7])
    assert found.boxes[0].tolist() == pytest.approx([40, 40, 20, 20])  # COCO [x, y, w, h] from the centre


def test_max_detections_keeps_the_best_scores() -> None:
    anchors = [(10 + 30 * i, 10, 8, 8, [0.3 + 0.1 * i]) for i in range(5)]
    found = decode_yolo(head(anchors), 0.25, 0.5, max_detections=2)
    assert found.scores.tolist() == pytest.approx([0.7, 0.6])


def test_a_head_of_the_wrong_shape_is_a_stage_error() -> None:
    from edgeconv.errors import StageError

    with pytest.raises(StageError, match=r"\[4 \+ classes, anchors\]"):
        decode_yolo(np.zeros((1, 3, 10), np.float32), 0.25, 0.5, 10)


def one(box: list[float], score: float = 1.0, cls: int = 0) -> Detections:
    return Detections(np.array([box], np.float64), np.array([score]), np.array([cls]))


def test_coco_map_matches_the_iou_thresholds_by_hand() -> None:
    truth = [one([0, 0, 10, 10])]
    assert coco_map(truth, truth)["map50_95"] == pytest.approx(1.0)
    # shifted by 1.2 px: IoU = 8.8*10 / (2*100 - 88) = 0.786 -> matched at 0.50 ... 0.75 (6 of 10 thresholds)
    shifted = [one([1.2, 0, 10, 10], 0.9)]
    figures = coco_map(truth, shifted)
    assert figures["map50"] == pytest.approx(1.0) and figures["map50_95"] == pytest.approx(0.6)
    assert coco_map(truth, [one([0, 0, 10, 10], cls=1)])["map50_95"] == 0.0  # right place, wrong class
    assert coco_map([Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))], truth)["map50_95"] == 0.0


def test_a_box_just_under_the_deployment_threshold_is_scored_not_lost() -> None:
    from edgeconv.spec import DetectionSpec
    from edgeconv.verify.measure import detection_figures

    reference = head([(50, 50, 20, 20, [0.30]), (150, 50, 20, 20, [0.9])])
    artifact = head([(50, 50, 20, 20, [0.24]), (150, 50, 20, 20, [0.9])])  # the first box dropped to 0.24
    figures = detection_figures(DetectionSpec(), {"output": artifact}, {"output": reference}, artifact)
    assert figures["boxes"] == 1 and figures["reference_boxes"] == 2  # a deployment at 0.25 keeps one box
    assert figures["map50_95_vs_reference"] == pytest.approx(1.0)  # COCO ranks the 0.24 box: still found
    strict = detection_figures(DetectionSpec(map_score_threshold=0.25), {"output": artifact},
                               {"output": reference}, artifact)
    # one of two boxes found: precision 1 at recalls 0, 0.01 ... 0.50 of COCO's 101 points, 0 above -> 51/101
    assert strict["map50_95_vs_reference"] == pytest.approx(51 / 101)


def test_a_yolox_head_is_decoded_on_its_grid_by_hand() -> None:
    from edgeconv.errors import StageError
    from edgeconv.verify.detection import yolox_as_yolo

    # a 32x32 input at strides 8/16/32: 4x4 + 2x2 + 1x1 = 21 anchors; anchor 5 is cell (x 1, y 1) at stride 8
    head = np.zeros((1, 21, 6), np.float32)
    head[0, 5] = [0.5, 0.25, np.log(2.0), np.log(3.0), 0.9, 0.5]
    head[0, 20] = [0.0, 0.0, 0.0, 0.0, 0.2, 1.0]  # the one stride-32 cell
    yolo = yolox_as_yolo(head, [8, 16, 32])  # 21 anchors solve to a 32x32 input
    assert yolo.shape == (5, 21)
    assert yolo[:, 5].tolist() == pytest.approx([12.0, 10.0, 16.0, 24.0, 0.45])  # (0.5+1)*8, (0.25+1)*8, 2*8, 3*8
    assert yolo[:, 20].tolist() == pytest.approx([0.0, 0.0, 32.0, 32.0, 0.2])
    found = decode_yolo(yolo, 0.3, 0.5, 10)
    assert found.boxes.tolist() == [pytest.approx([4.0, -2.0, 16.0, 24.0])]  # COCO x, y, w, h
    assert found.scores.tolist() == [pytest.approx(0.45)]
    with pytest.raises(StageError, match="do not fit a square input"):
        yolox_as_yolo(np.zeros((1, 22, 6), np.float32), [8, 16, 32])
    with pytest.raises(StageError, match=r"\[anchors, 5 \+ classes\]"):
        yolox_as_yolo(np.zeros((1, 21, 5), np.float32), [8, 16, 32])
