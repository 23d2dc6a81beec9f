"""ONNX files from other exporters and older tools: repaired, upgraded and simplified only where the result
still matches the original; what was done is recorded; a file that is not ONNX is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.data.feeds import FeedSet
from edgeconv.errors import SpecError
from edgeconv.export import onnx_import
from edgeconv.export.onnx_import import import_onnx


def old_style_model(path: Path, opset: int = 11) -> None:
    """What old exporters write: weights listed as graph inputs too, a '?' batch dim, Identity chains."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(8, 16)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Identity", ["w1"], ["w1_id"]),
        helper.make_node("MatMul", ["x", "w1_id"], ["h0"], name="fc1"),
        helper.make_node("Relu", ["h0"], ["h1"]),
        helper.make_node("Identity", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["y0"], name="fc2"),
        helper.make_node("Softmax", ["y0"], ["probs"], axis=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["?", 8]),
              helper.make_tensor_value_info("w1", TensorProto.FLOAT, [8, 16]),
              helper.make_tensor_value_info("w2", TensorProto.FLOAT, [16, 3])]
    outputs = [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["?", 3])]
    graph = helper.make_graph(nodes, "old", inputs, outputs,
                              [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=6,
                              producer_name="old-exporter")
    onnx.save(model, str(path))


def feeds() -> FeedSet:
    return FeedSet({"x": np.random.default_rng(1).normal(size=(20, 8)).astype(np.float32)})


def test_an_old_opset_file_is_repaired_upgraded_and_simplified(tmp_path: Path) -> None:
    import onnx

    old_style_model(tmp_path / "old.onnx")
    record = import_onnx(tmp_path / "old.onnx", tmp_path / "model.onnx", feeds(), "classification")
    assert record["steps"] == ["inputs without initializers", "opset upgraded to 13", "named dynamic dimensions",
                               "simplified with onnxslim"]
    assert record["from"]["opset"] == 11 and record["to"]["opset"] == 13
    assert record["to"]["nodes"] < record["from"]["nodes"]  # the Identity nodes are gone
    model = onnx.load(str(tmp_path / "model.onnx"))
    assert [i.name for i in model.graph.input] == ["x"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert record["parity"]["max_abs_error"] < 1e-5 and record["parity"]["top1_agreement"] == 1.0


def test_a_step_that_changes_the_outputs_is_skipped_and_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from onnx import numpy_helper

    def bad_slim(model: object) -> object:
        weight = model.graph.initializer[0]  # type: ignore[attr-defined]
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 2, weight.name))
        return model

    monkeypatch.setattr(onnx_import, "_slim", bad_slim)
    old_style_model(tmp_path / "old.onnx")
    record = import_onnx(tmp_path / "old.onnx", tmp_path / "model.onnx", feeds(), "classification")
    assert "simplified with onnxslim" not in record["steps"]
    assert record["skipped"] and record["skipped"][0].startswith("simplified with onnxslim: output 0 changed")
    assert record["parity"]["max_abs_error"] < 1e-5


def test_a_converter_that_throws_keeps_the_model_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model: object) -> object:
        raise RuntimeError("No Adapter For Upsample")

    monkeypatch.setattr(onnx_import, "_upgrade_opset", broken)
    old_style_model(tmp_path / "old.onnx")
    record = import_onnx(tmp_path / "old.onnx", tmp_path / "model.onnx", feeds(), "classification")
    assert record["to"]["opset"] == 11
    assert record["skipped"] == ["opset upgraded to 13: RuntimeError: No Adapter For Upsample"]


def test_a_file_that_is_not_onnx_is_a_spec_error(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage, not protobuf")
    with pytest.raises(SpecError, match=r"bad\.onnx"):
        import_onnx(tmp_path / "bad.onnx", tmp_path / "model.onnx", feeds(), "classification")
    assert not (tmp_path / "model.onnx").exists()


def test_an_opset_11_model_builds_per_channel_int8_static(tiny_project: Path) -> None:
    """The issue's failure: per-channel QDQ on an opset-11 file was refused by ONNX Runtime."""
    import json

    import yaml
    from click.testing import CliRunner

    from edgeconv.cli import main

    old_style_model(tiny_project / "old.onnx")
    spec = yaml.safe_load((tiny_project / "edgeconv.yaml").read_text())
    spec["model"]["path"] = "old.onnx"
    spec["targets"][0]["precisions"] = ["int8-static"]
    spec["quantize"] = {"static": {"per_channel": True}}
    spec["budgets"] = {}
    (tiny_project / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(main, ["build", str(tiny_project / "edgeconv.yaml")])
    assert result.exit_code == 0, result.stderr
    report = json.loads((tiny_project / "out" / "report.json").read_text())
    assert report["artifacts"][0]["status"] == "passed"
    assert report["export"]["parity"]["against"] == "the original ONNX file"


def test_a_file_with_external_data_is_read_whole(tmp_path: Path) -> None:
    import onnx

    old_style_model(tmp_path / "plain.onnx")
    model = onnx.load(str(tmp_path / "plain.onnx"))
    onnx.save_model(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.onnx.data", size_threshold=0)
    assert (tmp_path / "ext.onnx.data").stat().st_size > 0
    record = import_onnx(tmp_path / "ext.onnx", tmp_path / "model.onnx", feeds(), "classification")
    assert record["parity"]["max_abs_error"] < 1e-5
    assert not (tmp_path / "model.onnx.data").exists()  # under 2 GB: one self-contained file for the quantizers
