"""TensorRT backend where TensorRT is missing (here) and, where it imports with a GPU, the engine path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from edgeconv.backends import get_backend
from edgeconv.backends.tensorrt import env as trt_env
from edgeconv.errors import ExitCode, RuntimeUnavailable
from edgeconv.results import SKIPPED
from edgeconv.spec.targets import get_profile

HAVE_TRT = trt_env.tensorrt_version() is not None and bool(trt_env.gpus())


def _tiny_project(tmp_path: Path, required: bool) -> Path:
    """An ONNX-source spec: x[batch, 4] -> MatMul -> logits[batch, 2], 16 labelled examples in an npz."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 2)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["logits"], name="fc")], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])], [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "tiny.onnx"))
    x = rng.standard_normal((16, 4)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, __labels__=(x @ numpy_helper.to_array(weight)).argmax(1))
    spec = {
        "name": "tiny", "model": {"path": "tiny.onnx", "labels": ["a", "b"]},
        "evaluation": {"path": "eval.npz"}, "latency": {"warmup": 1, "runs": 11, "min_time_s": 0},
        "targets": [{"name": "gpu-trt", "precisions": ["fp16"], "required": required}], "output": "out",
    }
    (tmp_path / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "edgeconv.yaml"


def test_backend_is_registered() -> None:
    assert get_backend("tensorrt").name == "tensorrt"


def test_status_has_what_doctor_prints() -> None:
    status = trt_env.tensorrt_status()
    assert set(status) >= {"installed", "version", "how_to_get", "trtexec", "gpus"}
    assert status["installed"] == (status["version"] is not None)
    if not status["installed"]:
        assert "pypi.nvidia.com" in status["how_to_get"] and "JetPack" in status["how_to_get"]


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT and a GPU are here, so nothing is unavailable")
def test_unavailable_reason_says_how_to_get_tensorrt() -> None:
    reason = get_backend("tensorrt").unavailable_reason(get_profile("gpu-trt"))
    assert reason is not None
    if trt_env.tensorrt_version() is None:
        assert "pip install tensorrt --extra-index-url https://pypi.nvidia.com" in reason and "JetPack" in reason


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT and a GPU are here: the target builds instead of skipping")
def test_build_skips_a_trt_target_and_exits_3_only_when_required(tmp_path: Path) -> None:
    from edgeconv.api import build
    from edgeconv.spec import load_spec

    result = build(load_spec(_tiny_project(tmp_path, required=False)))
    [artifact] = result.artifacts
    assert artifact.target == "gpu-trt" and artifact.status == SKIPPED and artifact.reason
    assert result.reference.measurement is not None  # the reference still ran
    with pytest.raises(RuntimeUnavailable) as info:
        build(load_spec(_tiny_project(tmp_path, required=True)))
    assert info.value.exit_code == ExitCode.UNAVAILABLE and "gpu-trt" in info.value.message


@pytest.mark.skipif(not HAVE_TRT, reason="needs the tensorrt package and an NVIDIA GPU (see docs/tensorrt.md)")
def test_engine_builds_runs_and_matches_onnx_runtime(tmp_path: Path) -> None:
    import onnxruntime as ort

    from edgeconv.backends.tensorrt.build import build_engine
    from edgeconv.backends.tensorrt.engine_meta import EngineMismatch, read_meta, write_meta
    from edgeconv.backends.tensorrt.plan import make_plan, onnx_inputs
    from edgeconv.backends.tensorrt.runner import TensorRTRunner

    _tiny_project(tmp_path, required=False)
    onnx_path = tmp_path / "tiny.onnx"
    gpu = trt_env.gpus()[0]
    version = trt_env.tensorrt_version() or ""
    plan = make_plan(get_profile("gpu-trt"), "fp32", onnx_inputs(onnx_path), sequence=None, cache_dir=tmp_path,
                     tensorrt_version=version, compute_capability=gpu["compute_capability"])
    engine = tmp_path / "model.engine"
    build_engine(onnx_path, engine, plan)
    assert plan.timing_cache and Path(plan.timing_cache).is_file()
    from edgeconv.backends.tensorrt.engine_meta import EngineMeta
    from edgeconv.fsutil import sha256_file

    write_meta(engine, EngineMeta(version, gpu["name"], gpu["compute_capability"], "fp32", list(plan.flags), "api",
                                  sha256_file(onnx_path), sha256_file(engine)))
    x = np.load(tmp_path / "eval.npz")["x"][:3]
    expected = ort.InferenceSession(str(onnx_path)).run(None, {"x": x})[0]
    with TensorRTRunner(str(engine)) as runner:
        got = runner.infer({"x": x})["logits"]
        assert runner.last_inference_s > 0
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    meta = read_meta(engine)
    meta.tensorrt_version = "0.0.1"
    write_meta(engine, meta)
    with pytest.raises(EngineMismatch), TensorRTRunner(str(engine)):
        pass
