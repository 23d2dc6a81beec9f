"""Shared fixtures: the bundled sample, and a tiny ONNX classifier with npz data for fast end-to-end runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SPEC = ROOT / "samples" / "tweet-sentiment" / "edgeconv.yaml"


def make_tiny_onnx(
    path: Path, features: int = 8, classes: int = 3, seed: int = 0, outlier: float | None = None
) -> np.ndarray:
    """A real ONNX classifier (MatMul + Add + Relu + MatMul); returns its first weight matrix.

    ``outlier`` puts huge weights on input feature 0 of ``fc1`` (in every output channel): feed
    data whose feature 0 is zero and the float model ignores them, but int8 weights, per tensor or
    per channel, lose every other weight of the layer to rounding — a hypersensitive layer.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(features, 16)).astype(np.float32)
    if outlier is not None:
        w1[0, :] = outlier
    w2 = rng.normal(size=(16, classes)).astype(np.float32)
    b1 = rng.normal(size=(16,)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="fc1"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="bias1"),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
        helper.make_node("MatMul", ["h2", "w2"], ["logits"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w1


def tiny_logits(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.fixture(scope="session", autouse=True)
def session_stage_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Module-scoped builds (the sample end-to-end tests) share one cache, never the user's own."""
    folder = tmp_path_factory.mktemp("session-stage-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGECONV_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session", autouse=True)
def reports_round_trip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every report.json the suite writes reads back into edgeconv.results' typed models and dumps to the same
    bytes (issue 33): each BuildResult dumped in this process is checked as it is dumped, and at the end every
    report.json a build left under the session's temporary folders (builds run in a subprocess too)."""
    from edgeconv.results import BuildResult
    from tests.roundtrip import as_written, assert_round_trips, written_by_edgeconv

    dump = BuildResult.to_dict

    def checked(self: BuildResult) -> dict:
        report = dump(self)
        assert_round_trips(as_written(report), dump, f"the report of {self.spec_name}")
        return report

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BuildResult, "to_dict", checked)
        yield
    for path in sorted(tmp_path_factory.getbasetemp().rglob("report.json")):
        text = written_by_edgeconv(path)
        if text is not None:
            assert_round_trips(text, dump, str(path))


@pytest.fixture(scope="session", autouse=True)
def route_environments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Route environments (onnx2torch for ONNX -> TFLite) are installed once per test session, never into
    the user's own ~/.cache."""
    folder = tmp_path_factory.mktemp("routes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGECONV_ROUTES_DIR", str(folder))
        yield folder


@pytest.fixture
def cpu_burners() -> Iterator[None]:
    """One busy process per core for as long as the test runs (a CI runner shared with another job): killed after
    it, and each ends by itself after five minutes whatever happens."""
    import os
    import subprocess
    import sys

    spin = "import time\nend = time.time() + 300\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """The README's build of the sample on ONNX Runtime (~2 minutes), once per session: the e2e and bundle tests
    share it. (exit code, out folder)."""
    return _build_sample(tmp_path_factory.mktemp("sample") / "out")


@pytest.fixture(scope="session")
def sample_tflite_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample on the arm64-tflite target, once per session; its out folder. On 300 of the 1,000 evaluation
    tweets: int8-full's search evaluates up to 10 candidates in the LiteRT interpreter, which took 16 min on the
    whole set on a 2-core AVX2 machine and 7 min on this subset, with the same budgets held."""
    pytest.importorskip("litert_torch", reason="the TFLite extra is not installed (pip install 'edgeconv[tflite]')")
    return _build_sample(tmp_path_factory.mktemp("sample_tflite") / "out", "--target", "arm64-tflite",
                         "--set", "evaluation.count=300")[1]


def _build_sample(out: Path, *args: str) -> tuple[int, Path]:
    from click.testing import CliRunner

    from edgeconv.cli import main

    result = CliRunner().invoke(main, ["build", str(SAMPLE_SPEC), *args, "--out", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, out


@pytest.fixture(autouse=True)
def stage_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own stage cache, so no test reuses another's results."""
    folder = tmp_path_factory.mktemp("stage-cache")
    monkeypatch.setenv("EDGECONV_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """A spec folder with a tiny ONNX model, npz calibration and labelled npz evaluation sets."""
    return write_tiny_project(tmp_path)


def write_tiny_project(tmp_path: Path) -> Path:
    """``tiny_project``'s files written into ``tmp_path`` (for fixtures of a wider scope)."""
    model = tmp_path / "tiny.onnx"
    make_tiny_onnx(model)
    rng = np.random.default_rng(1)
    x_eval = rng.normal(size=(120, 8)).astype(np.float32)
    labels = tiny_logits(model, x_eval).argmax(-1)
    labels[:12] = (labels[:12] + 1) % 3  # a model that is right 90% of the time, not 100%
    np.savez(tmp_path / "eval.npz", x=x_eval, __labels__=labels.astype(np.int64))
    np.savez(tmp_path / "calib.npz", x=rng.normal(size=(40, 8)).astype(np.float32))
    spec = {
        "name": "tiny",
        "model": {"path": "tiny.onnx", "labels": ["a", "b", "c"]},
        "calibration": {"path": "calib.npz"},
        "evaluation": {"path": "eval.npz"},
        "targets": [{"name": "x86-cpu-ort", "precisions": ["fp32", "int8-dynamic", "int8-static"]}],
        "latency": {"warmup": 2, "runs": 20, "min_time_s": 0},
        "budgets": {"accuracy_drop": 0.05},
        "output": "out",
    }
    (tmp_path / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path


def write_spec(folder: Path, **changes: object) -> Path:
    """Rewrite the tiny project's spec with top-level sections replaced."""
    path = folder / "edgeconv.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec))
    return path
