"""torch -> ONNX export: dynamic axes, parity recorded, external data for large models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError
from edgeconv.export import export_onnx, onnx_export
from edgeconv.models.loaded import LoadedModel
from edgeconv.models.tasks import TensorInfo
from edgeconv.models.wrappers import FirstOutput
from edgeconv.spec import ExportSpec


def tiny_loaded(hidden: int = 8) -> LoadedModel:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 3)).eval()
    return LoadedModel(FirstOutput(net).eval(), [TensorInfo("x", "float32", ("batch", 6))], "logits", ["a", "b", "c"])


def feeds(n: int = 20) -> FeedSet:
    return FeedSet({"x": np.random.default_rng(0).normal(size=(n, 6)).astype(np.float32)})


def test_export_has_dynamic_batch_and_records_parity(tmp_path: Path) -> None:
    result = export_onnx(tiny_loaded(), feeds(), tmp_path / "m.onnx", ExportSpec(opset=17), task="classification")
    assert result.parity["max_abs_error"] < 1e-5 and result.parity["top1_agreement"] == 1.0
    assert result.parity["samples"] == 20
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert model.opset_import[0].version == 17
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": feeds(7).inputs["x"]})[0].shape == (7, 3)


def test_parity_failure_is_a_stage_error(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="differs from torch"):
        export_onnx(tiny_loaded(), feeds(), tmp_path / "m.onnx", ExportSpec(parity_atol=1e-30),
                    task="classification")


def test_large_models_are_saved_with_external_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_export, "PROTOBUF_LIMIT", 100)  # stand-in for 2 GB
    result = export_onnx(tiny_loaded(hidden=256), feeds(), tmp_path / "m.onnx", ExportSpec(),
                         task="classification")
    assert (tmp_path / "m.onnx.data").stat().st_size > 6 * 256 * 4  # the weights moved out of the .onnx
    assert result.parity["max_abs_error"] < 1e-5


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def _file_source(path: Path) -> LoadedModel:
    from edgeconv.models import load_model
    from edgeconv.spec import ModelSpec, TensorDecl

    return load_model(ModelSpec(path=str(path), inputs=[TensorDecl(name="x", shape=["batch", 6])], labels=list("abc")))


def test_torch_export_and_torchscript_files_export_with_parity(tmp_path: Path) -> None:
    model, x = Linear().eval(), torch.randn(4, 6)
    batch = torch.export.Dim("batch", min=1, max=128)
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}}), str(tmp_path / "m.pt2"))
    torch.jit.save(torch.jit.trace(model, (x,)), str(tmp_path / "m.ts"))
    for name in ("m.pt2", "m.ts"):
        result = export_onnx(_file_source(tmp_path / name), feeds(), tmp_path / f"{name}.onnx", ExportSpec(),
                             task="classification")
        assert result.parity["max_abs_error"] < 1e-5, name
        assert not (tmp_path / f"{name}.onnx.data").exists()  # one self-contained file
        session = ort.InferenceSession(str(tmp_path / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].name == "x"


def test_a_program_fixed_to_another_batch_is_a_clear_error(tmp_path: Path) -> None:
    model, x = Linear().eval(), torch.randn(4, 6)
    torch.export.save(torch.export.export(model, (x,)), str(tmp_path / "fixed.pt2"))
    with pytest.raises(StageError, match=r"torch\.export\.Dim"):
        export_onnx(_file_source(tmp_path / "fixed.pt2"), feeds(), tmp_path / "fixed.onnx", ExportSpec(),
                    task="classification")


def dense_loaded() -> LoadedModel:
    """A per-pixel map [batch, 1, 8, 8] (a text detector's shape): its argmax over the last axis is no class."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1),
                              torch.nn.Sigmoid()).eval()
    return LoadedModel(FirstOutput(net).eval(), [TensorInfo("x", "float32", ("batch", 3, 8, 8))], "map", [])


def test_a_dense_output_gets_fidelity_figures_and_no_top1_agreement(tmp_path: Path) -> None:
    from edgeconv.export.parity import parity_text

    images = FeedSet({"x": np.random.default_rng(0).normal(size=(12, 3, 8, 8)).astype(np.float32)})
    for task in ("segmentation", "generic", "detection"):
        parity = export_onnx(dense_loaded(), images, tmp_path / f"{task}.onnx", ExportSpec(), task=task).parity
        assert parity["top1_agreement"] is None, task
        assert parity["max_abs_error"] < 1e-5 and parity["cosine"] > 0.999999 and parity["cosine_min"] > 0.999999
        assert parity["exact"] or parity["snr_db"] > 80
        line = parity_text(parity)
        assert "top-1" not in line and "cosine" in line and "SNR" in line
    classifier = export_onnx(tiny_loaded(), feeds(), tmp_path / "cls.onnx", ExportSpec(), task="classification")
    assert "top-1 agreement 1.0000" in parity_text(classifier.parity)
