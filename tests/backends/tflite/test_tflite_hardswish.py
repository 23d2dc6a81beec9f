"""int8-full of a mobile CNN: HARD_SWISH stays float so the whole graph stays inside XNNPACK's delegate."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="the TFLite extra is not installed (pip install 'edgeconv[tflite]')")
pytest.importorskip("ai_edge_quantizer", reason="the TFLite extra is not installed")
torch = pytest.importorskip("torch")


def kernels(path: Path) -> collections.Counter[str]:
    """The interpreter's nodes after XNNPACK's delegation: one DELEGATE node per partition it took."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    native = interpreter._interpreter  # the node list is only on the wrapped C++ interpreter
    return collections.Counter(native.NodeName(i) for i in range(native.NumNodes()))


def test_int8_full_keeps_hard_swish_float_and_xnnpack_takes_the_graph_whole(tmp_path: Path) -> None:
    import litert_torch

    from edgeconv.backends.tflite.quantize import SIGNATURE, _calibrate, _write, recipe_for

    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.Hardswish()]
    for _ in range(3):
        layers += [torch.nn.Conv2d(16, 16, 1), torch.nn.Hardswish()]
    model = torch.nn.Sequential(*layers).eval()
    float_model = tmp_path / "float.tflite"
    litert_torch.convert(model, (torch.zeros(1, 3, 16, 16),)).export(str(float_model))
    rng = np.random.default_rng(0)
    rows = [{"args_0": rng.normal(size=(1, 3, 16, 16)).astype(np.float32)} for _ in range(8)]
    qsvs, _ = _calibrate(float_model, {SIGNATURE: rows}, 1)
    int8 = tmp_path / "int8.tflite"
    _write(float_model, int8, recipe_for("int8-full"), qsvs)

    ops = kernels(int8)
    assert ops["HARD_SWISH"] == 4 and ops["CONV_2D"] == 4  # still in the file, float
    assert ops["DELEGATE"] == kernels(float_model)["DELEGATE"] == 1  # one partition, as fp32: no int8 HARD_SWISH cut
