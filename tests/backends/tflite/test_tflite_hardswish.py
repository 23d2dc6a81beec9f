"""int8-full of a mobile CNN: HARD_SWISH stays float so the whole graph stays inside XNNPACK's delegate; DIV stays
float (TFLite's int8 DIV stops the interpreter when a divisor rounds to its zero point)."""

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


class Normalise(torch.nn.Module):
    """x / (1 + mean |x| over channels): a DIV by an activation, as Magika's and PP-OCR's graphs have."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / (x.abs().mean(dim=1, keepdim=True) + 1)


def float_ops(path: Path) -> set[str]:
    """The op types whose outputs are float32 in the flatbuffer."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    return {op["op_name"] for op in interpreter._get_ops_details() if dtypes[op["outputs"][0]] == np.float32}


def test_int8_full_keeps_hard_swish_float_and_xnnpack_takes_the_graph_whole(tmp_path: Path) -> None:
    import litert_torch

    from edgeconv.backends.tflite.quantize import SIGNATURE, _calibrate, _write, recipe_for

    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.Hardswish()]
    for _ in range(3):
        layers += [torch.nn.Conv2d(16, 16, 1), torch.nn.Hardswish()]
    model = torch.nn.Sequential(*layers, Normalise()).eval()
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
    assert {"DIV", "HARD_SWISH"} <= float_ops(int8) and "CONV_2D" not in float_ops(int8)
