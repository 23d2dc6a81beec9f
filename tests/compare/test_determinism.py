from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edgeconv.compare import compare_builds


def export_build(root: Path, seed: int = 0) -> Path:
    """export/model.onnx from a tiny torch model (legacy exporter) and a dynamic-int8 artifact of it."""
    torch = pytest.importorskip("torch")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
    export = root / "export" / "model.onnx"
    export.parent.mkdir(parents=True)
    torch.onnx.export(model, (torch.zeros(1, 8),), str(export), dynamo=False, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "batch"}})
    artifact = root / "artifacts" / "tiny-cpu-int8-dynamic" / "model.onnx"
    artifact.parent.mkdir(parents=True)
    quantize_dynamic(str(export), str(artifact), weight_type=QuantType.QInt8)
    (artifact.parent / "stage.json").write_text(str(root))  # differs per build, and is ignored
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_exports_of_the_same_model_are_reported_as_they_are(tmp_path):
    a, b = export_build(tmp_path / "a"), export_build(tmp_path / "b")
    report = compare_builds(a, b)
    by_file = {f.file: f for f in report.files}
    assert set(by_file) == {"export/model.onnx", "artifacts/tiny-cpu-int8-dynamic/model.onnx"}
    for rel, check in by_file.items():
        assert check.identical == (digest(a / rel) == digest(b / rel))
    # measured with torch 2.13 (dynamo=False) and onnxruntime 1.32: both stages give identical bytes
    assert report.deterministic and report.nondeterministic_stages == []


def test_a_differing_artifact_blames_its_own_stage(tmp_path):
    a, b = export_build(tmp_path / "a"), export_build(tmp_path / "b")
    artifact = b / "artifacts" / "tiny-cpu-int8-dynamic" / "model.onnx"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    report = compare_builds(a, b)
    assert not report.deterministic
    assert report.nondeterministic_stages == ["artifacts/tiny-cpu-int8-dynamic"]


def test_a_differing_export_is_blamed_before_what_follows(tmp_path):
    a, b = export_build(tmp_path / "a", seed=0), export_build(tmp_path / "b", seed=1)
    report = compare_builds(a, b)
    assert report.nondeterministic_stages == ["export"]
    assert report.to_dict()["files"][0]["identical"] is False
