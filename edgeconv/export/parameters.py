"""How many weights an ONNX model holds: the ``parameters`` figure of a build given an ONNX file.

A torch model's count is its module's (``compress.prune.count_params``), taken before export: the exporter
stores identical tensors once (a fresh model's LayerNorm ones, zero biases), so the ONNX count can be lower.
"""

from __future__ import annotations

import math
from pathlib import Path

FLOATS = (1, 10, 11, 16)  # onnx.TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16: weights, not shapes or indices


def onnx_parameters(path: Path) -> int:
    """The elements of the graph's floating-point initializers (main graph; external data is not read)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(math.prod(t.dims) for t in graph.initializer if t.data_type in FLOATS)
