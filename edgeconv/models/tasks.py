"""What each task's model takes and returns, as data (the Optimum exporters' approach).

The exporter, the data readers and the runners read these descriptions instead of branching
on the task: a new task is a new entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int | str, ...]  # strings name dynamic axes


@dataclass(frozen=True)
class TaskInfo:
    name: str
    auto_class: str  # the transformers Auto class that loads it
    data_kind: str  # "text" or "image": which reader turns examples into feeds
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]


TASKS: dict[str, TaskInfo] = {
    "text-classification": TaskInfo(
        name="text-classification",
        auto_class="AutoModelForSequenceClassification",
        data_kind="text",
        inputs=(
            TensorInfo("input_ids", "int64", ("batch", "sequence")),
            TensorInfo("attention_mask", "int64", ("batch", "sequence")),
            TensorInfo("token_type_ids", "int64", ("batch", "sequence")),
        ),
        outputs=(TensorInfo("logits", "float32", ("batch", "num_labels")),),
    ),
    # Any model (ONNX / torch file): its own inputs and outputs; classification metrics on the first output
    # when the evaluation set has labels, numeric fidelity of every output always.
    "classification": TaskInfo(
        name="classification", auto_class="", data_kind="any", inputs=(),
        outputs=(TensorInfo("logits", "float32", ("batch", "num_labels")),),
    ),
    "detection": TaskInfo(
        name="detection", auto_class="", data_kind="any", inputs=(),
        outputs=(TensorInfo("output", "float32", ("batch",)),),
    ),
    "segmentation": TaskInfo(
        name="segmentation", auto_class="", data_kind="any", inputs=(),
        outputs=(TensorInfo("output", "float32", ("batch",)),),
    ),
    "generic": TaskInfo(
        name="generic", auto_class="", data_kind="any", inputs=(),
        outputs=(TensorInfo("output", "float32", ("batch",)),),
    ),
    "image-classification": TaskInfo(
        name="image-classification",
        auto_class="AutoModelForImageClassification",
        data_kind="image",
        inputs=(TensorInfo("pixel_values", "float32", ("batch", "channels", "height", "width")),),
        outputs=(TensorInfo("logits", "float32", ("batch", "num_labels")),),
    ),
}

CLASSIFICATION_TASKS = ("text-classification", "image-classification", "classification")


def is_classification(task: str) -> bool:
    """Whether ``task``'s first output holds class scores: top-1 agreement and accuracy apply to it (a dense map's
    argmax does not mean a class)."""
    return task in CLASSIFICATION_TASKS
