"""The verify worker runs an artifact in a fresh process and returns outputs, timings and memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.errors import StageError
from edgeconv.results import RunnerSpec
from edgeconv.spec import LatencySpec
from edgeconv.verify.measure import run_worker, score
from tests.conftest import make_tiny_onnx, tiny_logits

RUNNER = "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner"


def test_worker_outputs_match_the_runtime_and_timings_are_recorded(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    make_tiny_onnx(model)
    x = np.random.default_rng(0).normal(size=(10, 8)).astype(np.float32)
    np.savez(tmp_path / "feeds.npz", x=x)
    result = run_worker(RunnerSpec(RUNNER, {"path": str(model), "threads": 1}), tmp_path / "feeds.npz",
                        LatencySpec(warmup=1, runs=15, min_time_s=0), tmp_path / "w", "tiny")
    outputs = np.load(tmp_path / "w" / "outputs.npy")
    np.testing.assert_allclose(outputs, tiny_logits(model, x), rtol=1e-6)
    assert len(result["timings_s"]) >= 15 and all(t > 0 for t in result["timings_s"])
    assert result["peak_rss_mb"] > 0 and result["runtime"]["threads"] == 1
    assert result["warmup"] >= 1 and len(result["conditions"]["before"]["load_average"]) == 3
    labels = outputs.argmax(-1)
    m = score(result, outputs, labels, ["a", "b", "c"], outputs)
    assert m.accuracy == 1.0 and m.agreement == 1.0 and m.latency_ms["runs"] == len(result["timings_s"])


def test_a_runtime_failure_becomes_one_stage_error(tmp_path: Path) -> None:
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    np.savez(tmp_path / "feeds.npz", x=np.zeros((1, 8), dtype=np.float32))
    with pytest.raises(StageError, match="verifying tiny failed in the runtime"):
        run_worker(RunnerSpec(RUNNER, {"path": str(tmp_path / "broken.onnx")}), tmp_path / "feeds.npz",
                   LatencySpec(warmup=0, runs=11, min_time_s=0), tmp_path / "w", "tiny")


def test_nan_outputs_are_refused() -> None:
    outputs = np.array([[np.nan, 1.0]])
    with pytest.raises(StageError, match="NaN"):
        score({"timings_s": [0.001], "peak_rss_mb": 1, "load_s": 0, "runtime": {}}, outputs, None, [], None)
