"""What sparsity survives in an ONNX file: the 2:4 pattern in its weights, and its compressed size.

The 2:4 check follows each weight through DequantizeLinear (QDQ int8) and reads the int8 or float
initializer along the axis the op reduces over (the "input" axis the 2:4 pattern is defined on),
so it works on the fp32 export, the fused graph and both int8 forms.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

# op type -> (input index of the weight, the weight's reduction (input) axis, or None: read the attribute)
WEIGHT_INPUTS: dict[str, tuple[int, int | None]] = {
    "MatMul": (1, 0), "MatMulInteger": (1, 0), "DynamicQuantizeMatMul": (1, 0), "MatMulIntegerToFloat": (1, 0),
    "QLinearMatMul": (3, 0), "Attention": (1, 0), "QAttention": (1, 0), "Gemm": (1, None),
    "Conv": (1, 1), "ConvInteger": (1, 1), "QLinearConv": (3, 1),
}


def gzip_size(path: Path) -> int:
    """Bytes of the file after gzip level 6: zeros left by unstructured pruning only show up here."""
    stat = Path(path).stat()
    return _gzip_size(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _gzip_size(path: str, size: int, mtime_ns: int) -> int:  # size/mtime: a changed file is re-read
    with Path(path).open("rb") as f:
        return len(gzip.compress(f.read(), compresslevel=6))


def holds_two_four(weight: np.ndarray, axis: int) -> bool:
    """Every group of 4 consecutive weights along ``axis`` has at least 2 zeros."""
    moved = np.moveaxis(weight, axis, -1)
    if moved.shape[-1] % 4:
        return False
    return bool(((moved.reshape(-1, 4) == 0).sum(-1) >= 2).all())


def two_four_report(path: Path) -> dict[str, Any]:
    """How many weight tensors of the model's MatMul/Gemm/Conv(-like) ops hold the 2:4 pattern."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: i for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    checked: list[dict[str, Any]] = []
    for node in graph.node:
        if node.op_type not in WEIGHT_INPUTS or len(node.input) <= WEIGHT_INPUTS[node.op_type][0]:
            continue
        index, axis = WEIGHT_INPUTS[node.op_type]
        name = node.input[index]
        producer = producers.get(name)
        if producer is not None and producer.op_type == "DequantizeLinear":
            name = producer.input[0]
        if name not in inits:
            continue  # an activation (e.g. attention scores), not a weight
        weight = numpy_helper.to_array(inits[name])
        if axis is None:  # Gemm: B is (K, N), or (N, K) with transB
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            axis = 1 if trans_b else 0
        if weight.ndim < 2 or weight.shape[axis] % 4:
            continue
        checked.append({"node": node.name, "weight": name, "dtype": str(weight.dtype),
                        "holds": holds_two_four(weight, axis)})
    holding = sum(c["holds"] for c in checked)
    return {"weights_checked": len(checked), "weights_2_4": holding,
            # weights of layers that were ignored or skipped show up here too
            "without_pattern": [c["weight"] for c in checked if not c["holds"]][:10]}
