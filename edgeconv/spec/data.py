"""The spec's data sets: calibration and training examples (DatasetSpec) and the labelled evaluation set with
its metric (EvaluationSpec)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from edgeconv.spec.base import StrictModel
from edgeconv.spec.io import DetectionSpec, ImagePreprocess, SegmentationSpec, TextPreprocess


class DatasetSpec(StrictModel):
    """A set of examples: JSONL/CSV text, a folder of images (one sub-folder per class), or tensors."""

    path: Path
    format: Literal["jsonl", "csv", "npz", "npy", "images"] | None = Field(
        None, description="inferred: the file suffix, or images for a folder"
    )
    count: int | None = Field(None, gt=0, description="use at most this many examples")
    seed: int = 0
    stratify_by: Literal["label"] | None = Field(None, description="keep the label proportions in the subset")
    text_field: str = "text"
    text_pair_field: str | None = None
    label_field: str | None = "label"
    text: TextPreprocess | None = Field(None, description="overrides model.text for this set")
    image: ImagePreprocess | None = Field(None, description="overrides model.image for this set")

    @model_validator(mode="after")
    def _infer_format(self) -> DatasetSpec:
        if self.format is None:
            suffix = self.path.suffix.lower().lstrip(".")
            if suffix in {"jsonl", "csv", "npz", "npy"}:
                self.format = suffix  # type: ignore[assignment]
            elif not suffix:
                self.format = "images"
            else:
                raise ValueError(
                    f"cannot tell the format of '{self.path.name}'; set format: jsonl, csv, npz, npy or images"
                )
        return self


class EvaluationSpec(DatasetSpec):
    metric: str = Field("accuracy", description="accuracy | macro_f1 | package.module:function (needs trust_code)")
    trust_code: bool = Field(False, description="allow a custom metric function (it is code the build runs)")
    detection: DetectionSpec = Field(default_factory=DetectionSpec)
    segmentation: SegmentationSpec = Field(default_factory=SegmentationSpec)

    def dense_settings(self, task: str) -> dict[str, Any]:
        """How a detection or segmentation task reads its outputs ({task: settings}; {} for other tasks): report.json
        keeps them so `edgeconv compare` can score two builds image by image."""
        section = getattr(self, task) if task in ("detection", "segmentation") else None
        return {task: section.model_dump(mode="json")} if section is not None else {}

    @model_validator(mode="after")
    def _custom_metric_needs_trust(self) -> EvaluationSpec:
        if self.metric in ("accuracy", "macro_f1"):
            return self
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", self.metric):
            raise ValueError(f"metric '{self.metric}' is not accuracy, macro_f1 or package.module:function")
        if not self.trust_code:
            raise ValueError(f"metric '{self.metric}' is code the build would run: set evaluation.trust_code: true "
                             "to allow it")
        return self
