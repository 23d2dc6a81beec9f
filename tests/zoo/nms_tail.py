"""A post-NMS detector made from a real one: nudenet's YOLOv8n with ONNX NonMaxSuppression appended, so that
it emits boxes [K, 4] (centre x, y, width, height), scores [K] and labels [K], K varying per image, as
TorchVision and end-to-end exports do. The NMS settings are ``task: detection``'s defaults."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def nudenet_path() -> Path:
    import nudenet

    return Path(nudenet.__file__).parent / "320n.onnx"


def with_nms(src: Path, dst: Path, iou: float = 0.7, score: float = 0.25, per_class: int = 300) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    head = graph.output[0].name  # [1, 4 + classes, anchors]
    consts = {"c0": [0], "c4": [4], "c1": [1], "cbig": [1 << 30], "max_out": [per_class], "squeeze0": [0]}
    for name, value in consts.items():
        graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
    graph.initializer.append(numpy_helper.from_array(np.array([iou], np.float32), "iou"))
    graph.initializer.append(numpy_helper.from_array(np.array([score], np.float32), "score"))
    graph.initializer.append(numpy_helper.from_array(np.array(1, np.int64), "class_column"))
    graph.initializer.append(numpy_helper.from_array(np.array(2, np.int64), "box_column"))
    graph.node.extend([
        helper.make_node("Slice", [head, "c0", "c4", "c1"], ["nms_boxes_t"]),
        helper.make_node("Transpose", ["nms_boxes_t"], ["nms_boxes"], perm=[0, 2, 1]),
        helper.make_node("Slice", [head, "c4", "cbig", "c1"], ["nms_scores"]),
        helper.make_node("NonMaxSuppression", ["nms_boxes", "nms_scores", "max_out", "iou", "score"], ["selected"],
                         center_point_box=1),
        helper.make_node("Gather", ["selected", "class_column"], ["labels"], axis=1),
        helper.make_node("Gather", ["selected", "box_column"], ["box_index"], axis=1),
        helper.make_node("Squeeze", ["nms_boxes", "squeeze0"], ["all_boxes"]),
        helper.make_node("Gather", ["all_boxes", "box_index"], ["boxes"], axis=0),
        helper.make_node("GatherND", ["nms_scores", "selected"], ["scores"]),
    ])
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["detections", 4]),
                         helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["detections"]),
                         helper.make_tensor_value_info("labels", TensorProto.INT64, ["detections"])])
    onnx.save(model, str(dst))
