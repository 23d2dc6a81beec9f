"""The spec's input and output sections: how text and images become model inputs (``model.text``,
``model.image``) and how a detector's or segmenter's outputs are read (``evaluation.detection``,
``evaluation.segmentation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edgeconv.spec.base import StrictModel


class TextPreprocess(StrictModel):
    """How text becomes token ids. Calibration and evaluation must agree on these."""

    max_length: int = Field(128, gt=0, le=8192)
    padding: Literal["max_length", "longest"] = "max_length"
    truncation: bool = True


class ImagePreprocess(StrictModel):
    """How an image becomes pixel values, for models without an image processor config (else that config rules)."""

    resize: int | list[int] = Field(256, description="shorter side, or [height, width]")
    crop: list[int] | None = Field(default_factory=lambda: [224, 224], description="center crop [height, width]")
    mean: list[float] = Field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = Field(default_factory=lambda: [0.229, 0.224, 0.225])
    rescale: float = Field(1 / 255, gt=0, description="multiplies pixel values before mean/std")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    multiple_of: int | None = Field(None, gt=0, description="round the resized height and width to a multiple "
                                    "(a DB text detector's 32); with resize: N and crop: null every image keeps its "
                                    "aspect ratio, so the set comes in several shapes")
    letterbox: bool = Field(False, description="resize [height, width] keeping the aspect ratio and pad the rest "
                            "(YOLO's preprocessing); box labels and masks follow the same geometry")
    letterbox_anchor: Literal["center", "top-left"] = Field(
        "center", description="where the resized image sits: centred (Ultralytics) or top-left (YOLOX)")
    pad_value: int = Field(114, ge=0, le=255, description="the letterbox padding's grey level")
    channel_order: Literal["RGB", "BGR"] = Field("RGB", description="BGR for models trained on OpenCV's images")
    dtype: Literal["float32", "float16", "uint8"] = Field(
        "float32", description="the input's type: uint8 for models that take raw pixels (then rescale: 1, mean: 0, "
        "std: 1), float16 for half-precision inputs")

    @model_validator(mode="after")
    def _letterbox_needs_a_size(self) -> ImagePreprocess:
        if self.letterbox and (isinstance(self.resize, int) or self.crop):
            raise ValueError("letterbox needs resize: [height, width] and crop: null")
        if self.dtype == "uint8" and (self.rescale != 1 or any(self.mean) or any(v != 1 for v in self.std)):
            raise ValueError("dtype uint8 takes raw pixel values: set rescale: 1, mean: [0, 0, 0], std: [1, 1, 1]")
        return self


class DetectionOutputs(StrictModel):
    """layout: boxes: the outputs of a model that ran non-maximum suppression itself, per image [K, ...] (a
    leading batch axis of 1 is dropped; K may vary per image). Defaults: TorchVision's detection outputs."""

    boxes: str = Field("boxes", description="[K, 4] boxes in input pixels")
    scores: str = Field("scores", description="[K] confidence")
    classes: str = Field("labels", description="[K] class indices")
    box_format: Literal["xyxy", "xywh", "cxcywh"] = "xyxy"


class DetectionSpec(StrictModel):
    """How a detector's outputs become boxes (task: detection)."""

    layout: Literal["yolo", "yolox", "boxes"] = Field(
        "yolo", description="yolo: a raw head [batch, 4 + classes, anchors] (v5u/v8/v11); yolox: [batch, anchors, "
        "5 + classes] with grid offsets, log sizes, objectness and class scores (YOLOX, ddddocr); boxes: the model "
        "ran NMS itself and emits boxes, scores and classes (TorchVision, SSD, end-to-end exports)")
    strides: list[int] = Field(default_factory=lambda: [8, 16, 32], description="yolox: the heads' strides")
    outputs: DetectionOutputs = Field(default_factory=lambda: DetectionOutputs(),
                                      description="boxes: which outputs hold the boxes, scores and classes")
    output: str | None = Field(None, description="the output holding the head (default: the first)")
    score_threshold: float = Field(0.25, ge=0, le=1, description="boxes a deployment keeps (and the reference's "
                                   "boxes that stand as truth when the set has no labels)")
    map_score_threshold: float = Field(0.001, ge=0, le=1, description="lowest score of the boxes scored for mAP: "
                                       "COCO evaluation ranks every box, so one just under score_threshold is not "
                                       "counted as lost")
    iou_threshold: float = Field(0.7, gt=0, le=1, description="non-maximum suppression, per class")
    max_detections: int = Field(300, gt=0)
    labels: Path | None = Field(None, description="ground-truth boxes: a COCO JSON file (images matched by "
                                "file_name) or a folder of YOLO .txt files named after the images")


class SegmentationSpec(StrictModel):
    """How a segmenter's output becomes a class per pixel (task: segmentation)."""

    output: str | None = Field(None, description="the output holding the map [batch, classes, H, W] (default: "
                               "the first)")
    threshold: float = Field(0.5, description="a one-channel map (a probability): pixels above it are class 1")
    masks: Path | None = Field(None, description="label masks: a folder of PNG files named after the images, "
                               "one class index per pixel")
    ignore_index: int = Field(255, ge=0, description="mask value of pixels no class is scored on")
