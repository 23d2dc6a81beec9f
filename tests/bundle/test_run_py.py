"""What a bundle carries for the board and its run.py, on a small build (the sample's real bundles, in a venv with
only their requirements, are tests/bundle/test_device_venv.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edgeconv.bundle import make_bundle
from edgeconv.errors import SpecError
from tests.fakebuild import TARGET, report_of


def unpack(bundle: Path, where: Path) -> Path:
    with tarfile.open(bundle, "r:gz") as tar:
        tar.extractall(where, filter="data")
    return where / f"tiny-{TARGET}"


def run_py(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(folder / "run.py"), *args], capture_output=True, text=True,
                          cwd=folder.parent, timeout=120)


def with_report(build: Path, tmp_path: Path, change) -> Path:
    out = shutil.copytree(build, tmp_path / "out")
    report = report_of(out)
    change(report)
    (out / "report.json").write_text(json.dumps(report))
    return out


def test_default_bundle_holds_only_the_builds_choice(build, tmp_path):
    def int8_faster(report):
        for a in report["artifacts"]:
            if a["precision"] == "int8-dynamic":
                a["speedup_vs_reference"], a["latency_ms"]["p50"] = 1.8, 1.0
    folder = unpack(make_bundle(with_report(build, tmp_path, int8_faster), TARGET, tmp_path), tmp_path)
    assert [p.name for p in (folder / "artifacts").iterdir()] == ["int8-dynamic"]
    assert json.loads((folder / "metadata.json").read_text())["default"] == "int8-dynamic"


def test_a_reduced_precision_slower_than_the_reference_is_not_the_default(build, tmp_path):
    def int8_slower(report):
        for a in report["artifacts"]:
            if a["precision"] == "int8-dynamic":
                a["speedup_vs_reference"], a["latency_ms"]["p50"] = 0.8, 1e-3
    folder = unpack(make_bundle(with_report(build, tmp_path, int8_slower), TARGET, tmp_path), tmp_path)
    assert [p.name for p in (folder / "artifacts").iterdir()] == ["fp32"]


def test_auto_selection_of_the_build_is_the_default(build, tmp_path):
    def auto_chose_int8(report):
        report["selections"] = [{"target": TARGET, "precision": "int8-dynamic", "reason": "test"}]
    folder = unpack(make_bundle(with_report(build, tmp_path, auto_chose_int8), TARGET, tmp_path), tmp_path)
    assert [p.name for p in (folder / "artifacts").iterdir()] == ["int8-dynamic"]


def test_named_precisions_must_exist_and_have_passed(build, tmp_path):
    with pytest.raises(SpecError, match="no int8-static artifact"):
        make_bundle(build, TARGET, tmp_path, precisions=["int8-static"])

    def failed(report):
        for a in report["artifacts"]:
            a["status"] = "failed" if a["precision"] == "int8-dynamic" else a["status"]
    with pytest.raises(SpecError, match="did not pass"):
        make_bundle(with_report(build, tmp_path, failed), TARGET, tmp_path, precisions=["int8-dynamic"])


def test_bundle_carries_runner_requirements_and_golden_set(build, tmp_path):
    folder = unpack(make_bundle(build, TARGET, tmp_path, precisions=["int8-dynamic"]), tmp_path)
    requirements = (folder / "requirements.txt").read_text().split("\n")
    assert f"onnxruntime=={ort.__version__}" in requirements and "numpy" in requirements
    assert not any(line.startswith(("edgeconv", "torch")) for line in requirements)
    vendored = sorted(str(p.relative_to(folder / "pkg")) for p in (folder / "pkg").rglob("*.py"))
    assert "edgeconv/backends/onnxruntime/runner.py" in vendored and "edgeconv/verify/worker.py" in vendored
    assert all(p.stat().st_size == 0 for p in (folder / "pkg").rglob("__init__.py"))  # never the real package
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["golden"]["count"] == 16 and meta["golden"]["outputs"] == {"int8-dynamic": ["logits"]}
    with np.load(folder / "golden" / "golden.npz") as golden:
        feeds = np.load(build / "data" / "eval.npz")["x"]
        np.testing.assert_array_equal(golden["feed.3.0"], feeds[3:4])
        np.testing.assert_array_equal(golden["out.int8-dynamic.3.0"],
                                      np.load(build / "verify" / f"{TARGET}-int8-dynamic" / "outputs.npy")[3])


def test_run_py_check_passes_then_names_an_altered_golden_output(build, tmp_path):
    folder = unpack(make_bundle(build, TARGET, tmp_path), tmp_path)
    ok = run_py(folder, "--check")
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 16 golden examples"), ok.stdout + ok.stderr
    golden = folder / "golden" / "golden.npz"
    with np.load(golden) as data:
        arrays = dict(data)
    arrays["out.fp32.5.0"] = arrays["out.fp32.5.0"] + np.array([0.0, 0.5, 0.0], np.float32)
    np.savez(golden, **arrays)
    bad = run_py(folder, "--check")
    assert bad.returncode == 1
    first = bad.stdout.splitlines()[0]
    assert first.startswith("golden example 5: output 'logits' differs from the verified output: 1 of 3 values")
    assert "largest at [1]" in first


def test_run_py_runs_npz_feeds_and_refuses_bad_input(build, tmp_path):
    folder = unpack(make_bundle(build, TARGET, tmp_path), tmp_path)
    x = np.load(build / "data" / "eval.npz")["x"][:2]
    np.savez(tmp_path / "two.npz", x=x)
    result = run_py(folder, str(tmp_path / "two.npz"), "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = np.load(build / "verify" / f"{TARGET}-fp32" / "outputs.npy")[:2]
    np.testing.assert_allclose([r["outputs"]["logits"][0] for r in rows], expected, rtol=1e-5, atol=1e-6)
    assert [r["label"] for r in rows] == [["a", "b", "c"][int(i)] for i in expected.argmax(-1)]
    text = run_py(folder, "hello")
    assert text.returncode == 2 and text.stderr.startswith("error: this model takes .npz feeds only")
    np.savez(tmp_path / "wrong.npz", y=x)
    wrong = run_py(folder, str(tmp_path / "wrong.npz"))
    assert wrong.returncode == 2 and "lacks input 'x'" in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_build_without_device_assets_is_refused(build, tmp_path):
    out = shutil.copytree(build, tmp_path / "out")
    shutil.rmtree(out / "device")
    with pytest.raises(SpecError, match="older edgeconv"):
        make_bundle(out, TARGET, tmp_path)
