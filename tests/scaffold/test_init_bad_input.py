"""Bad input to `edgeconv init` is one line and exit 2 before anything is written: a model folder that lacks its
config, weights or tokenizer, and npz arrays whose names, dtypes or sizes the ONNX file cannot take."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.scaffold.test_init import invoke, one_line_exit_2


def hf_folder(folder: Path, *files: str) -> Path:
    """A text classifier's folder holding only ``files`` (init reads names and config.json, never the weights)."""
    folder.mkdir()
    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert"}
    for name in files:
        (folder / name).write_text(json.dumps(config) if name == "config.json" else "{}")
    return folder


@pytest.mark.parametrize(("files", "needle"), [
    ((), "is a folder without config.json"),
    (("config.json", "tokenizer.json", "tokenizer_config.json"), "has config.json but no weights"),
    (("config.json", "model.safetensors", "tokenizer_config.json"), "has no tokenizer files"),
])
def test_an_incomplete_model_folder_is_one_line(tmp_path: Path, files: tuple[str, ...], needle: str) -> None:
    folder = hf_folder(tmp_path / "model", *files)
    code, _, err = invoke("init", str(folder), "--out", str(tmp_path / "spec" / "edgeconv.yaml"))
    one_line_exit_2(code, err, needle)
    assert not (tmp_path / "spec").exists()


@pytest.mark.parametrize(("arrays", "needle"), [
    ({"x": np.zeros((5, 6), np.float32)}, "has shape [6] per example, the model takes ['batch', 8]"),
    ({"y": np.zeros((5, 8), np.float32)}, "missing ['x']; unexpected ['y']"),
    ({"x": np.zeros((5, 8), np.int64)}, "input 'x' is int64, the model takes float32"),
    ({"x": np.zeros((5, 2, 8), np.float32)}, "has rank 3"),
])
def test_npz_arrays_the_onnx_file_cannot_take_are_one_line(tiny_project: Path, tmp_path: Path,
                                                           arrays: dict[str, np.ndarray], needle: str) -> None:
    """tiny.onnx takes x: float32 [batch, 8]; as evaluation or calibration set, a contradicting npz is refused
    before the spec is written, by the same check the build makes."""
    np.savez(tmp_path / "bad.npz", **arrays, __labels__=np.zeros(5, np.int64))
    for role in ("--data", "--calibration"):
        code, _, err = invoke("init", str(tiny_project / "tiny.onnx"), role, str(tmp_path / "bad.npz"),
                              "--out", str(tmp_path / "spec" / "edgeconv.yaml"))
        one_line_exit_2(code, err, needle)
        assert not (tmp_path / "spec").exists()


def test_a_calibration_npz_unlike_the_data_a_torch_file_is_declared_from_is_one_line(tmp_path: Path) -> None:
    """A TorchScript file's inputs come from --data's arrays: a --calibration npz with other names is refused."""
    torch = pytest.importorskip("torch")
    torch.jit.script(torch.nn.Linear(6, 3)).save(str(tmp_path / "net.ts"))
    np.savez(tmp_path / "eval.npz", x=np.zeros((4, 6), np.float32))
    np.savez(tmp_path / "calib.npz", input=np.zeros((4, 6), np.float32))
    code, _, err = invoke("init", str(tmp_path / "net.ts"), "--data", str(tmp_path / "eval.npz"),
                          "--calibration", str(tmp_path / "calib.npz"), "--out", str(tmp_path / "spec" / "e.yaml"))
    one_line_exit_2(code, err, "'calib.npz' feeds ['input'] do not match the model inputs ['x']")
    assert not (tmp_path / "spec").exists()
