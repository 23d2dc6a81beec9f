"""Static shapes and unconvertible ops of the PyTorch -> TFLite route (no conversion of a real model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.data.feeds import FeedSet
from edgeconv.errors import SpecError, StageError
from edgeconv.models.loaded import LoadedModel
from edgeconv.models.tasks import TensorInfo
from edgeconv.spec import Spec


def _spec(tmp_path: Path, padding: str, fmt: str) -> Spec:
    return Spec.model_validate({
        "model": {"path": "m", "text": {"max_length": 24, "padding": padding}},
        "evaluation": {"path": str(tmp_path / f"eval.{fmt}")},
    })


def _model() -> LoadedModel:
    return LoadedModel(None, [TensorInfo("input_ids", "int64", ("batch", "sequence"))], "logits", ["a", "b"])


def test_batch_is_one_and_sequence_is_max_length(tmp_path: Path) -> None:
    from edgeconv.backends.tflite.convert import static_shapes

    feeds = FeedSet({"input_ids": np.zeros((5, 24), np.int64)})
    assert static_shapes(_spec(tmp_path, "max_length", "jsonl"), _model(), feeds) == {"input_ids": (1, 24)}


def test_unfixed_sequence_names_the_dimension(tmp_path: Path) -> None:
    from edgeconv.backends.tflite.convert import static_shapes

    feeds = FeedSet({"input_ids": np.zeros((5, 17), np.int64)})  # padded to the longest example only
    with pytest.raises(SpecError, match=r"input 'input_ids' axis 1 \('sequence'\) is dynamic.*padding: max_length"):
        static_shapes(_spec(tmp_path, "longest", "jsonl"), _model(), feeds)


def test_npz_data_fixes_named_axes(tmp_path: Path) -> None:
    from edgeconv.backends.tflite.convert import static_shapes

    model = LoadedModel(None, [TensorInfo("x", "float32", ("batch", "channels", "height", "width"))], "logits", [])
    feeds = FeedSet({"x": np.zeros((2, 3, 32, 40), np.float32)})
    assert static_shapes(_spec(tmp_path, "longest", "npz"), model, feeds) == {"x": (1, 3, 32, 40)}


def test_unconvertible_op_is_one_stage_error_naming_it(tmp_path: Path) -> None:
    pytest.importorskip("litert_torch", reason="the TFLite extra is not installed (pip install 'edgeconv[tflite]')")
    import torch

    from edgeconv.backends.tflite.convert import convert

    class Svd(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linalg.svd(x)[1]  # no TFLite lowering for SVD

    model = LoadedModel(Svd().eval(), [TensorInfo("x", "float32", (1, 4, 4))], "logits", [])
    with pytest.raises(StageError, match=r"cannot convert op\(s\) aten\._linalg_svd") as info:
        convert(model, (torch.randn(1, 4, 4),), tmp_path / "m.tflite")
    assert info.value.fix and "x86-cpu-ort" in info.value.fix
    assert not (tmp_path / "m.tflite").exists()
