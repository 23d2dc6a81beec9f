"""Model sources are recognised by content, whatever the suffix; anything else is one line, exit 2."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgeconv.cli import main
from edgeconv.errors import SpecError
from edgeconv.spec import load_spec
from edgeconv.spec.source import sniff
from tests.conftest import make_tiny_onnx


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    folder = tmp_path_factory.mktemp("torch-files")
    module = torch.nn.Linear(3, 2).eval()
    torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3)), folder / "traced.bin")
    torch.export.save(torch.export.export(module, (torch.zeros(1, 3),)), folder / "program.pt")
    torch.save(module.state_dict(), folder / "weights.pth")
    make_tiny_onnx(folder / "model.weights")
    (folder / "notes.onnx").write_text("not a model")
    return folder


@pytest.mark.parametrize(("name", "kind"), [
    ("traced.bin", "torchscript"), ("program.pt", "torch-export"), ("model.weights", "onnx"),
])
def test_files_are_recognised_by_content_not_suffix(torch_files: Path, name: str, kind: str) -> None:
    assert sniff(str(torch_files / name)) == kind


def test_a_folder_is_hugging_face_and_a_missing_path_is_unknown(tmp_path: Path) -> None:
    assert sniff(str(tmp_path)) == "hf"
    assert sniff(str(tmp_path / "org" / "name")) is None


@pytest.mark.parametrize(("name", "message"), [
    ("weights.pth", "torch.save checkpoint"), ("notes.onnx", "is not a model edgeconv can read"),
])
def test_unreadable_files_name_the_accepted_kinds(torch_files: Path, name: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        sniff(str(torch_files / name))
    assert "TorchScript" in str(caught.value) and "ONNX" in str(caught.value)


def spec_for(folder: Path, model: dict) -> Path:
    path = folder / "edgeconv.yaml"
    path.write_text(yaml.safe_dump({"model": model, "evaluation": {"path": "eval.npz"}}))
    return path


def test_the_spec_takes_the_source_from_the_content(torch_files: Path, tmp_path: Path) -> None:
    shutil.copy(torch_files / "model.weights", tmp_path / "model.bin")
    assert load_spec(spec_for(tmp_path, {"path": "model.bin"})).model.source == "onnx"
    shutil.copy(torch_files / "traced.bin", tmp_path / "traced.jit")
    inputs = [{"name": "x", "shape": ["batch", 3]}]
    assert load_spec(spec_for(tmp_path, {"path": "traced.jit", "inputs": inputs})).model.source == "torch"
    with pytest.raises(SpecError, match="does not carry its input shapes"):
        load_spec(spec_for(tmp_path, {"path": "traced.jit"}))
    with pytest.raises(SpecError, match=r"model\.source is onnx but 'traced\.jit' is a torch model"):
        load_spec(spec_for(tmp_path, {"path": "traced.jit", "source": "onnx"}))


def test_a_real_torchscript_jit_file_builds_not_taken_for_a_folder(tmp_path: Path) -> None:
    """The issue's case: silero-vad ships its VAD as silero_vad.jit; it was read as a Hugging Face folder."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None:
        pytest.skip("silero-vad is not installed (pip install 'edgeconv[zoo]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.jit"
    assert sniff(str(path)) == "torchscript"
    result = CliRunner().invoke(main, ["export", str(spec_for(tmp_path, {"path": str(path)}))])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "add model.inputs" in result.stderr and len(result.stderr.strip().splitlines()) == 1
