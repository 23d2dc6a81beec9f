"""What kind of network a graph is, from where its weights live: convolutional or MatMul-heavy.

The int8 recipes that pay off differ (measured on the zoo, ONNX Runtime CPU, 2 threads, batch 1):
- dynamic int8 turns Conv into ConvInteger, which ran 2-15x slower than float Conv on a YOLOv8n
  detector and a MobileNetV3 classifier, while MatMul-heavy transformers gain (0.6x of fp32);
- static int8 of Conv/MatMul only leaves a Q/DQ pair around every activation of a CNN (YOLOv8n 0.89x
  of fp32); quantizing every op ONNX Runtime has an int8 kernel for keeps tensors int8 from layer
  to layer (0.73x), while on the transformer sample all-op static int8 measured slower than fp32.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

CONV_OPS = ("Conv", "ConvTranspose")
MATMUL_OPS = ("MatMul", "Gemm")


def weight_counts(path: Path) -> dict[str, int]:
    """Parameters held by initializers that feed Conv-like and MatMul-like nodes."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    sizes = {i.name: _numel(i.dims) for i in graph.initializer}
    counts = {"conv": 0, "matmul": 0}
    for node in graph.node:
        kind = "conv" if node.op_type in CONV_OPS else "matmul" if node.op_type in MATMUL_OPS else None
        if kind:
            counts[kind] += sum(sizes.get(name, 0) for name in node.input[1:2])
    return counts


def is_convolutional(path: Path) -> bool:
    """More weights in convolutions than in MatMul/Gemm (a ViT's patch embedding or wav2vec2's feature
    encoder does not make a transformer convolutional)."""
    counts = weight_counts(path)
    return counts["conv"] > counts["matmul"]


def decode_tail(path: Path) -> list[str]:
    """Nodes after the last Conv/MatMul/Gemm on every path to an output: a model's post-processing.

    A detector's box decode (DFL softmax, anchors, strides), a final Sigmoid/Softmax and the Concat that
    joins box pixels with class probabilities are cheap element-wise work whose int8 rounding costs
    accuracy and buys no speed. Measured on YOLOv8n (nudenet, 24 photos, COCO mAP@0.5:0.95 against the fp32
    boxes): all ops int8 0.916, this tail float 0.971, at the same p50 (7.42 vs 7.43 ms).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    weighted = {*CONV_OPS, *MATMUL_OPS}
    feeds_weighted: dict[str, bool] = {}
    # Reverse topological order (ONNX stores nodes sorted): a node's consumers are settled before it.
    for node in reversed(graph.node):
        feeds_weighted[node.name] = any(
            c.op_type in weighted or feeds_weighted.get(c.name, False) for out in node.output for c in consumers[out])
    return [n.name for n in graph.node if n.op_type not in weighted and not feeds_weighted[n.name]]


def hard_activations(path: Path) -> int:
    """HardSigmoid/HardSwish nodes: a mobile CNN's activations and squeeze-excitation gates (MobileNetV3, PP-LCNet)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(1 for n in graph.node if n.op_type in ("HardSigmoid", "HardSwish"))


def stem_convs(path: Path, max_channels: int = 4) -> list[str]:
    """Conv nodes reading a graph input of at most ``max_channels`` channels: the stem that reads the image.

    With 3 input channels ONNX Runtime's int8 convolution (im2col, then a GEMM only 27 deep) ran 1.9-3.3x
    slower than its fp32 kernel on PP-LCNet, and quantizing the image itself cost it accuracy.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    inputs = {i.name: i.type.tensor_type.shape.dim for i in graph.input}
    weights = {i.name: i.dims for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "Conv" and n.input[0] in inputs
            and len(weights.get(n.input[1], [])) == 4 and weights[n.input[1]][1] <= max_channels]


def all_static_op_types() -> list[str]:
    """Every op ONNX Runtime's static quantizer has a rule for (what it uses when given none)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def _numel(dims: list[int]) -> int:
    total = 1
    for d in dims:
        total *= int(d)
    return total
