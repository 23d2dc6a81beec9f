"""Per-pixel classes, IoU and mIoU on tiny hand-computed masks, and the miou_drop / map_drop budgets."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.errors import StageError
from edgeconv.spec import SegmentationSpec
from edgeconv.spec.budgets import Budgets
from edgeconv.verify.budgets import task_drop_checks
from edgeconv.verify.segmentation import class_map, iou_figures, segmentation_figures


def test_one_channel_maps_are_thresholded_and_several_channels_take_the_argmax() -> None:
    probability = np.array([[[[0.1, 0.4], [0.31, 0.9]]]])  # [1, 1, 2, 2]
    assert class_map(probability, SegmentationSpec(threshold=0.3)).tolist() == [[[0, 1], [1, 1]]]
    logits = np.array([[[[2.0, 0.0]], [[1.0, 0.5]], [[0.0, 3.0]]]])  # [1, 3 classes, 1, 2]
    assert class_map(logits, SegmentationSpec()).tolist() == [[[0, 2]]]
    with pytest.raises(StageError, match=r"\[batch, classes, height, width\]"):
        class_map(np.zeros((1, 10)), SegmentationSpec())


def test_iou_by_hand() -> None:
    truth = np.array([[0, 0], [1, 1]])
    predicted = np.array([[0, 1], [1, 1]])
    figures = iou_figures(truth, predicted, classes=2, ignore_index=255)
    # class 0: TP 1, FN 1 -> 1/2; class 1: TP 2, FP 1 -> 2/3; mean 7/12; 3 of 4 pixels right
    assert figures["iou_per_class"] == {"0": 0.5, "1": pytest.approx(2 / 3, abs=1e-6)}
    assert figures["miou"] == pytest.approx(7 / 12) and figures["pixel_accuracy"] == 0.75
    ignored = iou_figures(np.array([[0, 255], [1, 1]]), predicted, classes=2, ignore_index=255)
    assert ignored["miou"] == pytest.approx(1.0)  # the one wrong pixel is not scored
    absent = iou_figures(np.zeros((2, 2), int), np.zeros((2, 2), int), classes=3, ignore_index=255)
    assert absent["iou_per_class"] == {"0": 1.0} and absent["miou"] == 1.0  # classes in neither are left out


def test_segmentation_figures_score_against_masks_and_the_reference() -> None:
    spec = SegmentationSpec(threshold=0.5)
    reference = np.array([[[[0.9, 0.9], [0.1, 0.1]]]])  # class 1 on the top row
    mine = np.array([[[[0.9, 0.2], [0.1, 0.1]]]])       # lost one pixel
    masks = [{"mask": np.array([[1, 1], [0, 0]])}]
    figures = segmentation_figures(spec, mine, reference, masks)
    assert figures["pixel_agreement"] == 0.75 and figures["reference_miou"] == 1.0
    assert figures["miou"] == figures["miou_vs_reference"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    alone = segmentation_figures(spec, reference, None, None)
    assert alone == {"miou_vs_reference": 1.0, "pixel_agreement": 1.0}


def test_drop_budgets_use_labels_when_there_are_some() -> None:
    budgets = Budgets(map_drop=0.01, miou_drop=0.01)
    labelled = {"map50_95": 0.50, "reference_map50_95": 0.52, "map50_95_vs_reference": 0.8}
    segmented = {"miou": 0.665, "reference_miou": 0.672, "miou_vs_reference": 0.9}
    detection, segmentation = task_drop_checks(budgets, labelled, segmented)
    assert (detection.name, detection.value, detection.passed) == ("map_drop", pytest.approx(0.02), False)
    assert (segmentation.name, segmentation.value, segmentation.passed) == ("miou_drop", pytest.approx(0.007), True)
    unlabelled = task_drop_checks(budgets, {"map50_95_vs_reference": 0.995}, None)
    assert [(c.name, c.passed) for c in unlabelled] == [("map_drop", True)]
    assert unlabelled[0].value == pytest.approx(0.005)
    better = task_drop_checks(budgets, {**labelled, "map50_95": 0.6}, None)[0]
    assert better.value == 0.0 and better.passed  # an artifact that scores higher lost nothing
