"""A loaded torch model plus what the rest of the build needs to know about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeconv.models.tasks import TensorInfo


@dataclass
class LoadedModel:
    """``module`` maps named input tensors (in ``inputs`` order) to one logits tensor."""

    module: Any  # torch.nn.Module; typed loosely so importing this needs no torch
    inputs: list[TensorInfo]
    output_name: str
    labels: list[str]
    preprocessor: Any = None  # a tokenizer or image processor, when the source has one
    source_files: list[str] = field(default_factory=list)  # hashed into the manifest
