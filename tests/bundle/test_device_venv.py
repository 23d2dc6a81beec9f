"""The sample's bundles run as a board runs them: a fresh virtual environment with only the bundle's
requirements.txt installed (no edgeconv, no torch), run.py --check on the golden set, run.py on raw text.
Slow: each venv installs its runtime from the package registry (pip's cache makes it about half a minute)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from edgeconv.bundle import make_bundle
from edgeconv.verify.measure import load_outputs

pytestmark = pytest.mark.slow


def device_venv(bundle: Path, where: Path) -> tuple[Path, Path]:
    """(the unpacked bundle folder, the venv's python) with only requirements.txt installed."""
    with tarfile.open(bundle, "r:gz") as tar:
        tar.extractall(where / "board", filter="data")
    folder = next((where / "board").iterdir())
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # pip from this interpreter installs into the new venv (no pip of its own to bootstrap: faster).
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--disable-pip-version-check", "-r", str(folder / "requirements.txt")],
                   check=True, capture_output=True, timeout=600)
    return folder, python


def board(build_dir: Path, where: Path) -> dict:
    bundle = make_bundle(build_dir, _target(build_dir), where)
    folder, python = device_venv(bundle, where)
    return {"build": build_dir, "bundle": bundle, "folder": folder, "python": python}


def _target(build_dir: Path) -> str:
    return json.loads((build_dir / "report.json").read_text())["artifacts"][0]["target"]


@pytest.fixture(scope="module")
def ort_board(sample_build: tuple[int, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    return board(sample_build[1], tmp_path_factory.mktemp("ort_board"))


@pytest.fixture(scope="module")
def tflite_board(sample_tflite_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return board(sample_tflite_build, tmp_path_factory.mktemp("tflite_board"))


def run(b: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(b["python"]), "run.py", *args], cwd=b["folder"], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(params=["ort", "tflite"])
def any_board(request: pytest.FixtureRequest) -> dict:
    return request.getfixturevalue(f"{request.param}_board")


def test_the_venv_has_neither_edgeconv_nor_torch(any_board):
    for module in ("edgeconv", "torch", "transformers"):
        probe = subprocess.run([str(any_board["python"]), "-c", f"import {module}"], capture_output=True,
                               cwd=any_board["folder"].parent)
        assert probe.returncode != 0, f"{module} is importable in the board's venv"


def test_golden_check_passes_then_names_an_altered_output(any_board, tmp_path):
    ok = run(any_board, "--check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok: 16 golden examples")
    golden = any_board["folder"] / "golden" / "golden.npz"
    original = golden.read_bytes()
    try:
        with np.load(golden) as data:
            arrays = dict(data)
        key = next(k for k in arrays if k.startswith("out.") and k.split(".")[-2] == "7")
        arrays[key] = arrays[key] + 0.25
        np.savez(golden, **arrays)
        bad = run(any_board, "--check")
    finally:
        golden.write_bytes(original)
    assert bad.returncode == 1
    name = json.loads((any_board["folder"] / "metadata.json").read_text())["golden"]["outputs"][key.split(".")[1]][0]
    assert bad.stdout.splitlines()[0].startswith(f"golden example 7: output '{name}' differs from the verified "
                                                 "output: 2 of 2 values beyond atol 0.001")


def test_raw_text_gives_the_verified_label_and_logits(any_board):
    folder = any_board["folder"]
    meta = json.loads((folder / "metadata.json").read_text())
    precision, raw = meta["default"], meta["golden"]["raw"]
    result = run(any_board, raw[2], raw[9], "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    name = meta["golden"]["outputs"][precision][0]  # logits, as the runtime names them
    verified = load_outputs(any_board["build"] / "verify" / f"{meta['target']}-{precision}")[name]
    for row, i in zip(rows, (2, 9), strict=True):
        np.testing.assert_allclose(row["outputs"][name][0], verified[i], rtol=1e-5, atol=1e-5)
        assert row["label"] == meta["labels"][int(np.argmax(verified[i]))]
    text = run(any_board, raw[2])
    assert text.stdout.startswith(f"0: {rows[0]['label']}  logits [")


def test_the_default_bundle_is_the_chosen_artifact_and_its_preprocessing(any_board):
    folder = any_board["folder"]
    (chosen,) = list((folder / "artifacts").iterdir())
    artifact = sum(f.stat().st_size for f in chosen.iterdir())
    rest = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and chosen not in f.parents)
    assert rest < 1.5e6  # tokenizer.json (0.7 MB), report, golden set, run.py and the runner modules
    assert any_board["bundle"].stat().st_size <= artifact + rest
