"""Object detection: raw YOLO heads decoded to boxes, NMS, and COCO mAP of an artifact's detections.

The YOLO family (v5u/v8/v11 exports) emits ``[batch, 4 + classes, anchors]``: box centre and size, then one
score per class. A YOLOX head ``[batch, anchors, 5 + classes]`` is decoded into that form first. A model that
ran NMS itself (TorchVision, SSD, end-to-end exports) gives boxes, scores and classes: those are read as they
are (``from_boxes``). Boxes above
``score_threshold`` go through per-class non-maximum suppression, done by ONNX Runtime's own
NonMaxSuppression operator (a one-node graph), and the ``max_detections`` best are kept. mAP@0.5 and
mAP@0.5:0.95 use the COCO definition as faster-coco-eval computes it.

Without labels, the reference's own detections are the ground truth: an artifact's mAP against them says how
much detection it lost (the fp32 reference scores 1.0 by definition).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeconv.errors import StageError


@dataclass
class Detections:
    """One image's detections: COCO boxes [x, y, width, height] in input pixels, scores, class indices."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


@functools.cache
def _nms_session() -> Any:
    """A one-node ONNX graph running ONNX Runtime's NonMaxSuppression (centre-format boxes, per class)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score"], ["selected"],
                            center_point_box=1)
    graph = helper.make_graph(
        [node], "nms",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, "n", 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, "c", "n"]),
         helper.make_tensor_value_info("max_out", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]),
         helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, ["k", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def one_image(head: np.ndarray) -> np.ndarray:
    """A head as float32, its leading batch axes of 1 dropped."""
    head = np.asarray(head, dtype=np.float32)
    while head.ndim > 2 and head.shape[0] == 1:
        head = head[0]
    return head


def decode_yolo(head: np.ndarray, score_threshold: float, iou_threshold: float, max_detections: int) -> Detections:
    """Boxes of one image from a YOLO head ``[4 + classes, anchors]`` (a leading batch axis of 1 is dropped)."""
    head = one_image(head)
    if head.ndim != 2 or head.shape[0] < 5:
        raise StageError(f"a YOLO head is [4 + classes, anchors]; this output has shape {list(head.shape)}",
                         fix="point evaluation.detection.output at the raw head, or use task: generic")
    boxes, scores = head[:4].T[None], head[4:][None]
    selected = _nms_session().run(None, {
        "boxes": np.ascontiguousarray(boxes), "scores": np.ascontiguousarray(scores),
        "max_out": np.array([max_detections], np.int64), "iou": np.array([iou_threshold], np.float32),
        "score": np.array([score_threshold], np.float32)})[0]
    classes, anchors = selected[:, 1], selected[:, 2]
    kept_scores = head[4 + classes, anchors]
    order = np.argsort(-kept_scores, kind="stable")[:max_detections]
    classes, anchors, kept_scores = classes[order], anchors[order], kept_scores[order]
    cx, cy, w, h = head[:4, anchors]
    return Detections(np.stack([cx - w / 2, cy - h / 2, w, h], axis=1), kept_scores, classes)


def yolox_as_yolo(head: np.ndarray, strides: list[int]) -> np.ndarray:
    """A YOLOX head [anchors, 5 + classes] (x, y offsets in cells, log w, h, objectness, class scores) as a YOLO
    head [4 + classes, anchors] in input pixels with score = objectness x class score, as YOLOX's own
    ``demo_postprocess`` decodes it: centre = (offset + cell) * stride, size = exp(log size) * stride.

    The grid needs the input's height and width: a square input is solved from the anchor count (3549 anchors
    at strides 8/16/32: 416 x 416)."""
    head = one_image(head)
    if head.ndim != 2 or head.shape[1] < 6:
        raise StageError(f"a YOLOX head is [anchors, 5 + classes]; this output has shape {list(head.shape)}",
                         fix="point evaluation.detection.output at the raw head, or use layout: yolo")
    solved = (head.shape[0] / sum(1 / s**2 for s in strides)) ** 0.5
    if abs(solved - round(solved)) > 1e-6:
        raise StageError(f"{head.shape[0]} anchors do not fit a square input at strides {strides}",
                         fix="set evaluation.detection.strides to the model's (non-square YOLOX inputs are not read)")
    side = round(solved)
    cells = [np.stack(np.meshgrid(np.arange(side // s), np.arange(side // s)), -1).reshape(-1, 2) for s in strides]
    grid = np.concatenate(cells).astype(np.float32)
    scale = np.concatenate([np.full((len(c), 1), s, np.float32) for c, s in zip(cells, strides, strict=True)])
    if len(grid) != head.shape[0]:
        raise StageError(f"a {side}x{side} input at strides {strides} has {len(grid)} anchors, the "
                         f"head {head.shape[0]}", fix="set evaluation.detection.strides to the model's")
    centres = (head[:, :2] + grid) * scale
    sizes = np.exp(head[:, 2:4]) * scale
    scores = head[:, 4:5] * head[:, 5:]
    return np.concatenate([centres, sizes, scores], axis=1).T


def from_boxes(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, box_format: str,
               score_threshold: float, max_detections: int) -> Detections:
    """One image's detections from a model that ran NMS itself: those above ``score_threshold``, best first."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores, classes = np.asarray(scores, np.float64).reshape(-1), np.asarray(classes).reshape(-1).astype(np.int64)
    if not len(boxes) == len(scores) == len(classes):
        raise StageError(f"post-NMS outputs disagree in length: {len(boxes)} boxes, {len(scores)} scores, "
                         f"{len(classes)} classes", fix="name the outputs in evaluation.detection.outputs")
    keep = np.flatnonzero(scores >= score_threshold)
    keep = keep[np.argsort(-scores[keep], kind="stable")][:max_detections]
    b = boxes[keep]
    if box_format == "xyxy":
        b = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    elif box_format == "cxcywh":
        b = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]], axis=1)
    return Detections(b, scores[keep], classes[keep])


def coco_map(truth: list[Detections], found: list[Detections]) -> dict[str, float]:
    """mAP@0.5:0.95 and mAP@0.5 of ``found`` against ``truth`` (per image), COCO's definition.

    Images where ``truth`` has no box count only through false positives; with no box at all in
    ``truth`` the mAP is undefined and reported as 1.0 when ``found`` is empty too, else 0.0.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    classes = sorted({int(c) for d in [*truth, *found] for c in d.classes})
    if not any(len(d.boxes) for d in truth):
        empty = not any(len(d.boxes) for d in found)
        return {"map50_95": 1.0 if empty else 0.0, "map50": 1.0 if empty else 0.0, "truth_boxes": 0}
    annotations = [{"id": i + 1, "image_id": image + 1, "category_id": int(c) + 1, "bbox": [float(v) for v in b],
                    "area": float(b[2] * b[3]), "iscrowd": 0}
                   for i, (image, b, c) in enumerate((n, b, c) for n, d in enumerate(truth)
                                                     for b, c in zip(d.boxes, d.classes, strict=True))]
    # Image sizes do not enter box mAP (areas come from the boxes): 0 stands for "not given".
    gt = COCO({"images": [{"id": n + 1, "width": 0, "height": 0} for n in range(len(truth))],
               "categories": [{"id": c + 1, "name": str(c)} for c in classes], "annotations": annotations})
    results = [{"image_id": n + 1, "category_id": int(c) + 1, "bbox": [float(v) for v in b], "score": float(s)}
               for n, d in enumerate(found) for b, s, c in zip(d.boxes, d.scores, d.classes, strict=True)]
    if not results:
        return {"map50_95": 0.0, "map50": 0.0, "truth_boxes": len(annotations)}
    evaluation = COCOeval_faster(gt, gt.loadRes(results), "bbox", print_function=lambda *args: None)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return {"map50_95": max(float(evaluation.stats[0]), 0.0), "map50": max(float(evaluation.stats[1]), 0.0),
            "truth_boxes": len(annotations)}
