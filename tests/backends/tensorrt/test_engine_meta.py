from __future__ import annotations

from pathlib import Path

import pytest

from edgeconv.backends.tensorrt.engine_meta import (
    EngineMeta,
    EngineMismatch,
    check_compatible,
    meta_path,
    read_meta,
    write_meta,
)
from edgeconv.errors import ExitCode
from edgeconv.fsutil import sha256_file

BUILT = {"tensorrt_version": "10.3.0", "compute_capability": "8.7", "gpu_name": "Orin (nvgpu)"}


@pytest.fixture
def engine(tmp_path: Path) -> Path:
    path = tmp_path / "model.engine"
    path.write_bytes(b"serialized engine bytes")
    write_meta(path, EngineMeta(**BUILT, precision="fp16", flags=["FP16"], builder="api",
                                onnx_sha256="0" * 64, engine_sha256=sha256_file(path)))
    return path


def test_sidecar_is_written_next_to_the_engine(engine: Path) -> None:
    assert meta_path(engine) == engine.with_name("model.engine.json")
    meta = read_meta(engine)
    assert meta.tensorrt_version == BUILT["tensorrt_version"] and meta.engine_sha256 == sha256_file(engine)
    assert not list(engine.parent.glob(".*"))  # no temp file left behind


def test_same_machine_is_accepted(engine: Path) -> None:
    assert check_compatible(engine, BUILT["tensorrt_version"], BUILT["compute_capability"], BUILT["gpu_name"]) == []


def test_other_tensorrt_version_is_refused_with_exit_3(engine: Path) -> None:
    with pytest.raises(EngineMismatch) as info:
        check_compatible(engine, "8.6.2", BUILT["compute_capability"])
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert "10.3.0" in info.value.message and "8.6.2" in info.value.message and info.value.fix


def test_other_gpu_architecture_is_refused(engine: Path) -> None:
    with pytest.raises(EngineMismatch, match=r"compute capability 8\.7"):
        check_compatible(engine, BUILT["tensorrt_version"], "9.0", "NVIDIA H100")


def test_other_gpu_model_same_architecture_only_warns(engine: Path) -> None:
    warnings = check_compatible(engine, BUILT["tensorrt_version"], BUILT["compute_capability"], "Other GPU")
    assert len(warnings) == 1 and "Other GPU" in warnings[0]


def test_changed_engine_bytes_are_refused(engine: Path) -> None:
    engine.write_bytes(b"truncated")
    with pytest.raises(EngineMismatch, match="sha256"):
        check_compatible(engine, BUILT["tensorrt_version"], BUILT["compute_capability"])


def test_engine_without_sidecar_is_refused(tmp_path: Path) -> None:
    bare = tmp_path / "copied.engine"
    bare.write_bytes(b"x")
    with pytest.raises(EngineMismatch, match="no metadata"):
        check_compatible(bare, "10.3.0", "8.7")
