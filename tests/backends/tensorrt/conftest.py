"""Fixtures for the TensorRT conversion tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.tensorrt.trt_models import tiny_matmul


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    return tiny_matmul(tmp_path / "tiny.onnx")
