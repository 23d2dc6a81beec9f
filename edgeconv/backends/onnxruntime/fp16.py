"""What ONNX Runtime's CPU provider computes an fp16 model in, read from the graph it actually runs.

The CPU provider has fp16 kernels for few ops on x86 (none for MatMul, Gemm or the fused Attention in ORT 1.32);
where one is missing it inserts Casts and runs the node in fp32. So on x86 the fp16 precision saves size, not
arithmetic, and its row says how many of its compute ops ran in fp32 here, read from the graph ORT saves after
partitioning, not from a list of kernels kept by hand.
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path

# ops that move or convert data rather than compute: not counted either way
_DATA_OPS = {"Cast", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Shape", "Gather", "Slice", "Concat",
             "Identity", "Flatten", "Expand", "ConstantOfShape", "Constant"}


# ORT's InsertCastTransformer (onnxruntime/core/optimizer/insert_cast_transformer.cc) names the outputs of each
# node it moves to fp32 for want of an fp16 kernel with this prefix; read from the graph ORT saves, it is the one
# direct record (ONNX's shape inference cannot type the contrib ops of a fused graph to tell otherwise).
MOVED = "InsertedPrecisionFreeCast_"


def fp32_compute(path: Path) -> tuple[int, int]:
    """(compute ops ONNX Runtime's CPU provider moves to fp32, compute ops in all) in ``path``'s graph as the
    provider partitions it (Casts are inserted then, whatever the optimization level)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
    compute = [n for n in graph.node if n.op_type not in _DATA_OPS and n.output]
    return sum(n.output[0].startswith(MOVED) for n in compute), len(compute)


def fp16_note(path: Path) -> str:
    """One line for the fp16 row's quantization record: what this machine's ONNX Runtime computes it in."""
    import onnxruntime as ort

    in_fp32, counted = fp32_compute(path)
    return (f"ONNX Runtime {ort.__version__}'s CPU provider on {platform.machine()} runs {in_fp32} of this model's "
            f"{counted} compute ops in fp32 (Casts inserted where it has no fp16 kernel): fp16 here saves size"
            + (", not arithmetic" if in_fp32 * 2 > counted else ""))
