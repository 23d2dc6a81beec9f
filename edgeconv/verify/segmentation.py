"""Semantic segmentation: per-pixel classes from a map output, mIoU against label masks and the reference.

A map ``[batch, classes, H, W]`` gives each pixel its argmax class; a one-channel map (a text detector's
probability, a binary mask's logit) gives class 1 where it is above ``threshold``. IoU per class is
TP / (TP + FP + FN) over the whole set (the confusion matrix is accumulated over every pixel, as mmseg and
torchmetrics compute it); mIoU is the mean over the classes that appear in the truth or the prediction.
The confusion matrix is scikit-learn's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.errors import StageError
from edgeconv.spec import SegmentationSpec


def class_map(output: np.ndarray, spec: SegmentationSpec) -> np.ndarray:
    """[N, H, W] class indices from a map output [N, C, H, W] (C = 1: above the threshold)."""
    output = np.asarray(output)
    if output.ndim == 3:  # [N, H, W]: one channel without its axis
        output = output[:, None]
    if output.ndim != 4:
        raise StageError(f"a segmentation map is [batch, classes, height, width]; this output has shape "
                         f"{list(output.shape)}", fix="point evaluation.segmentation.output at the map, or use "
                         "task: generic")
    if output.shape[1] == 1:
        return (output[:, 0] > spec.threshold).astype(np.int64)
    return output.argmax(axis=1).astype(np.int64)


def iou_figures(truth: np.ndarray, predicted: np.ndarray, classes: int, ignore_index: int) -> dict[str, Any]:
    """mIoU, IoU per class and pixel accuracy of ``predicted`` against ``truth`` (same shape; ``ignore_index``
    pixels of the truth left out)."""
    return figures_of(confusion(truth, predicted, classes, ignore_index))


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: int, ignore_index: int) -> np.ndarray:
    """The [classes, classes] confusion matrix (truth x predicted) of the scored pixels. Matrices of single
    images add up to the set's: edgeconv.compare resamples images and sums theirs."""
    from sklearn.metrics import confusion_matrix

    if truth.shape != predicted.shape:
        raise StageError(f"label masks {list(truth.shape)} and the model's map {list(predicted.shape)} differ in "
                         "size", fix="give masks of the images' size (they are resized as the images are)")
    scored = truth != ignore_index
    return confusion_matrix(truth[scored].ravel(), predicted[scored].ravel(), labels=list(range(classes)))


def figures_of(matrix: np.ndarray) -> dict[str, Any]:
    """mIoU (over the classes present in the truth or the prediction), IoU per class, pixel accuracy."""
    hits = np.diag(matrix).astype(np.float64)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - hits
    present = union > 0
    per_class = np.where(present, hits / np.maximum(union, 1), np.nan)
    return {"miou": float(np.nanmean(per_class)) if present.any() else 1.0,
            "iou_per_class": {str(c): round(float(v), 6) for c, v in enumerate(per_class) if present[c]},
            "pixel_accuracy": float(hits.sum() / max(int(matrix.sum()), 1))}


def per_image_confusions(spec: SegmentationSpec, mine: np.ndarray | list[np.ndarray],
                         theirs: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """[images, C, C]: each image's confusion matrix of ``mine`` against the classes of ``theirs`` (the
    reference's map), with the class count ``segmentation_figures`` uses."""
    classes = class_count(mine)
    return np.stack([confusion(class_map(np.asarray(r)[None], spec), class_map(np.asarray(m)[None], spec), classes,
                               ignore_index=-1) for m, r in zip(mine, theirs, strict=True)])


def class_count(maps: np.ndarray | list[np.ndarray]) -> int:
    """Classes of a map output: its channels (two for a one-channel probability map)."""
    return max(2, int(np.asarray(maps[0]).shape[0]) if np.asarray(maps[0]).ndim == 3 else 2)


def segmentation_figures(spec: SegmentationSpec, mine: np.ndarray | list[np.ndarray],
                         reference: np.ndarray | list[np.ndarray] | None,
                         targets: list[dict[str, Any]] | None) -> dict[str, Any]:
    """mIoU against the reference's classes (and pixel agreement) always; against the masks when given, with
    the reference's own mIoU there, so a drop can be judged. Maps come one row per example, or as a list
    when each example has its own size."""
    classes = class_count(mine)
    predicted = _pixels([class_map(np.asarray(m)[None], spec) for m in mine])
    theirs = predicted if reference is None else _pixels([class_map(np.asarray(r)[None], spec) for r in reference])
    versus = iou_figures(theirs, predicted, classes, ignore_index=-1)
    figures: dict[str, Any] = {"miou_vs_reference": versus["miou"], "pixel_agreement": versus["pixel_accuracy"]}
    if targets is not None:
        truth = _pixels([t["mask"][None] for t in targets])
        labelled = iou_figures(truth, predicted, classes, spec.ignore_index)
        figures.update(miou=labelled["miou"], iou_per_class=labelled["iou_per_class"],
                       pixel_accuracy=labelled["pixel_accuracy"],
                       reference_miou=iou_figures(truth, theirs, classes, spec.ignore_index)["miou"])
    return figures


def _pixels(maps: list[np.ndarray]) -> np.ndarray:
    """Every example's class map as one flat array (examples may differ in size)."""
    return np.concatenate([m.reshape(-1) for m in maps])
