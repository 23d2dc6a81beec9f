"""fp16 and int8 ONNX artifacts, made with ONNX Runtime's own tooling.

Recipes, from what was measured on the sample (MEASURED.md, BENCHMARKS.md):
- fp32: ONNX Runtime's transformer fusions (Attention, SkipLayerNorm, Gelu) when the model family
  has them; otherwise the export as it is.
- int8-dynamic: fusions, then ``quantize_dynamic`` (int8 weights, activations quantized on the fly;
  the fused graph becomes QAttention / QEmbedLayerNormalization): the fastest int8 on CPU.
- int8-static: ``quant_pre_process``, then ``quantize_static`` to QDQ with activations calibrated on
  the spec's calibration set. Defaults: MatMul/Gemm/Conv only, uint8 activations, per-channel int8
  weights; S8S8 over all ops measured slower than fp32 on x86. MatMuls of two activations (the
  attention scores and context) stay float: quantizing them cost the sample 0.7 points of
  accuracy and gave no speed (BENCHMARKS.md). Mobile CNNs (HardSigmoid/HardSwish): each HardSigmoid
  becomes an int8 Add (``qdq_hardsigmoid``) and, with uint8 activations, the stem Conv stays float
  (``mobile_stem``; docs/quantization.md, "int8 on mobile CNNs").
- fp16: fusions, then float16 weights and compute with fp32 inputs/outputs kept.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.compress.architecture import (
    CONV_OPS,
    all_static_op_types,
    decode_tail,
    hard_activations,
    is_convolutional,
    stem_convs,
    weight_counts,
)
from edgeconv.compress.qdq_float_weights import keep_weighted_float
from edgeconv.compress.qdq_hardsigmoid import rewrite_hardsigmoids
from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError
from edgeconv.export.onnx_import import MIN_OPSET, default_opset
from edgeconv.models.family import ModelFamily
from edgeconv.spec import DynamicQuantSpec, QuantizeSpec, StaticQuantSpec

# In every int8 stage's cache key: bump it when a change here makes the same inputs give a different int8 model,
# so a build after the upgrade does not reuse the old file (2: Conv/Gemm kept float survive ORT's session load;
# 3: percentile and entropy calibration over several input shapes; 4: the fallback's diagnosed-first order, its
# ceiling and a complementing remedy).
RECIPE = 4
SMOOTHQUANT_EXAMPLES = 64  # calibration examples whose per-channel activation maxima set SmoothQuant's scales

# HF model_type -> the onnxruntime.transformers.optimizer model type whose fusions fit it.
FUSION_TYPES = {
    "bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert", "electra": "bert",
    "camembert": "bert", "mpnet": "bert", "vit": "vit", "deit": "vit", "swin": "swin",
}


@dataclass
class QuantRecord:
    """What was done to make an artifact: goes into report.json as ``quantization``."""

    precision: str
    fused: bool = False
    method: str | None = None
    op_types: list[str] = field(default_factory=list)
    activation_type: str | None = None
    weight_type: str | None = None
    per_channel: bool | None = None
    excluded_nodes: list[str] = field(default_factory=list)
    calibration_examples: int | None = None
    percentile: float | None = None  # calibration method percentile: the percentile of |x| kept
    float_activation_matmuls: int | None = None  # MatMuls of two activations left in float
    fallback: dict[str, Any] | None = None  # trials of the accuracy-aware fallback, when it ran
    fusion_timing: dict[str, float] | None = None  # fp32: plain vs fused p50 that chose the graph
    notes: list[str] = field(default_factory=list)  # choices made for this model, in words

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [])}


def fuse(src: Path, dst: Path, family: ModelFamily) -> bool:
    """Write ONNX Runtime's fused graph for a known transformer family; return whether it fused."""
    ort_type = FUSION_TYPES.get(family.model_type or "")
    if ort_type is None:
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimized = optimize_model(str(src), model_type=ort_type, num_heads=family.num_heads,
                               hidden_size=family.hidden_size, opt_level=0)
    optimized.save_model_to_file(str(dst))
    return True


def make_fp32(
    src: Path, dst: Path, family: ModelFamily, example: dict[str, Any] | None = None, threads: int = 1
) -> QuantRecord:
    """The fused graph when it is faster on ``example`` here, else the export as it is.

    Fusion is not always a win: on the sample at sequence 64 on 2 cores the fused Attention kernel
    measured slower than the plain MatMul/Softmax graph, so both are timed (interleaved) and the
    faster is kept; the timings are recorded.
    """
    with tempfile.TemporaryDirectory() as tmp:
        fused_path = Path(tmp) / "fused.onnx"
        if not fuse(src, fused_path, family):
            _copy(src, dst)
            return QuantRecord("fp32")
        timing = None
        if example is not None:
            plain_ms, fused_ms = interleaved_p50([src, fused_path], example, threads)
            timing = {"plain_p50_ms": round(plain_ms, 3), "fused_p50_ms": round(fused_ms, 3)}
            if fused_ms >= plain_ms:
                _copy(src, dst)
                return QuantRecord("fp32", fused=False, fusion_timing=timing)
        _copy(fused_path, dst)
    return QuantRecord("fp32", fused=True, fusion_timing=timing)


def interleaved_p50(models: list[Path], example: dict[str, Any], threads: int, rounds: int = 5,
                    runs: int = 20) -> list[float]:
    """p50 ms of each model on one example, timed round-robin so noise hits them alike."""
    from edgeconv.verify.timing import ort_session, time_interleaved

    sessions = [ort_session(m, threads) for m in models]
    rows = {i: (lambda s=s: s.run(None, example)) for i, s in enumerate(sessions)}
    p50 = time_interleaved(rows, rounds, runs, warmup=10)
    return [p50[i] for i in range(len(sessions))]


def make_fp16(src: Path, dst: Path, family: ModelFamily) -> QuantRecord:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with tempfile.TemporaryDirectory() as tmp:
        fused_path = Path(tmp) / "fused.onnx"
        fused = fuse(src, fused_path, family)
        model = onnx.load(str(fused_path if fused else src))
    # Inputs/outputs stay fp32 so callers and the verify stage feed the same arrays as for fp32.
    model16 = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True)
    onnx.save(model16, str(dst))
    return QuantRecord("fp16", fused=fused, weight_type="float16")


def float_graph(precision: str, src: Path, dst: Path, family: ModelFamily) -> bool:
    """Write the float graph an int8 recipe quantizes (fused for dynamic, pre-processed for static).

    Node names in this graph are the ones ``exclude`` refers to and sensitivity ranks. Returns
    whether the graph was fused.
    """
    if precision == "int8-dynamic":
        if fuse(src, dst, family):
            return True
        _copy(src, dst)
        return False
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # Symbolic shape inference fails on BERT graphs ("Incomplete symbolic shape inference").
    quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    flatten_gemm_biases(dst)
    return False


def candidates(precision: str, graph_path: Path, quantize: QuantizeSpec) -> list[str]:
    """The nodes the recipe quantizes in ``graph_path`` (before any fallback exclusion)."""
    import onnx

    graph = onnx.load(str(graph_path), load_external_data=False).graph
    if precision == "int8-dynamic":
        dynamic = quantize.dynamic
        op_types = dynamic_op_types(dynamic)
        return [n.name for n in graph.node if n.op_type in op_types and n.name not in dynamic.exclude_nodes]
    settings = quantize.static
    kept_float = set(settings.exclude_nodes)
    if not settings.activation_matmuls:
        kept_float |= set(activation_matmuls(graph_path))
    kept_float |= set(mobile_stem(graph_path, settings))
    op_types, _ = static_op_types(graph_path, settings)
    weighted = {"MatMul", "Gemm", *CONV_OPS}  # the nodes whose int8 error the fallback ranks and restores
    return [n.name for n in graph.node if n.op_type in op_types and n.op_type in weighted and n.name not in kept_float]


def dynamic_op_types(settings: DynamicQuantSpec) -> list[str]:
    """What int8-dynamic quantizes: ORT's integer ops, Conv only when asked (ConvInteger is slow on CPU)."""
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    skip = {*settings.exclude_op_types, *(() if settings.conv else CONV_OPS)}
    return [t for t in IntegerOpsRegistry if t not in skip]


def static_op_types(graph: Path, settings: StaticQuantSpec) -> tuple[list[str], str]:
    """What int8-static quantizes, and why: the spec's list, else chosen by the network's architecture."""
    if settings.op_types is not None:
        chosen, why = settings.op_types, (f"{', '.join(settings.op_types)}, as set by quantize.static.op_types or by "
                                          "the int8 search's weighted-ops remedy")
    elif is_convolutional(graph):
        chosen, why = all_static_op_types(), "every op with an int8 kernel: a convolutional network"
    else:
        chosen, why = ["MatMul", "Gemm", "Conv"], "MatMul/Gemm/Conv: a MatMul-heavy network"
    return [t for t in chosen if t not in settings.exclude_op_types], why


def mobile_stem(graph: Path, settings: StaticQuantSpec) -> list[str]:
    """The stem Conv a mobile CNN (HardSigmoid/HardSwish activations) keeps float on ONNX Runtime's CPU (uint8)."""
    if settings.activation_type != "uint8" or not hard_activations(graph):
        return []
    return [n for n in stem_convs(graph) if n not in settings.exclude_nodes]


def make_int8_dynamic(
    graph: Path, dst: Path, fused: bool, settings: DynamicQuantSpec, exclude: list[str] | None = None
) -> QuantRecord:
    """``quantize_dynamic`` of the float graph from ``float_graph``; ``exclude`` stays float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = [*settings.exclude_nodes, *(exclude or [])]
    op_types = dynamic_op_types(settings)
    quantize_dynamic(
        str(graph), str(dst), weight_type=QuantType.QInt8, per_channel=settings.per_channel,
        op_types_to_quantize=op_types,
        nodes_to_exclude=excluded,
        # The fused graph has weights whose type ORT's quantizer cannot infer without this.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    counts = weight_counts(graph)
    notes = [f"Conv kept float ({counts['conv']:,} weights): ConvInteger runs slower than float Conv on CPU; "
             "int8-static quantizes convolutional networks"] if counts["conv"] and not settings.conv else []
    return QuantRecord("int8-dynamic", fused=fused, method="dynamic", op_types=op_types, weight_type="int8",
                       activation_type="uint8", per_channel=settings.per_channel, excluded_nodes=excluded, notes=notes)


def make_int8_static(
    graph: Path, dst: Path, calibration: FeedSet, settings: StaticQuantSpec, exclude: list[str] | None = None,
) -> QuantRecord:
    """``quantize_static`` (QDQ) of the float graph from ``float_graph``, calibrated on real data."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from edgeconv.compress.calibration import FeedSetReader, ShapeGroupReader

    methods = {
        "minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    activation = QuantType.QUInt8 if settings.activation_type == "uint8" else QuantType.QInt8
    kept_float = [] if settings.activation_matmuls else activation_matmuls(graph)
    op_types, why = static_op_types(graph, settings)
    notes = [f"ops quantized: {why}"]
    tail = decode_tail(graph)
    stem = mobile_stem(graph, settings)
    if stem:
        notes.append(f"mobile CNN ({hard_activations(graph)} HardSigmoid/HardSwish): the stem Conv reading the image "
                     f"({', '.join(stem)}) kept float; ORT's int8 conv of 3 channels ran 1.9-3.3x slower than fp32's")
    if tail:
        notes.append(f"kept float: {len(tail)} post-processing nodes after the last Conv/MatMul (e.g. a "
                     "detector's box decode and the Concat joining box pixels with class probabilities)")
    if settings.reduce_range:
        notes.append("7-bit weights (reduce_range): ONNX Runtime's uint8 x int8 kernels saturate on x86 CPUs "
                     "without VNNI; set quantize.static.reduce_range: false for a VNNI target")
    per_channel = settings.per_channel and graph_opset(graph) >= MIN_OPSET
    if settings.per_channel and not per_channel:
        notes.append("per-tensor weights: per-channel Q/DQ needs opset 13 and this graph could not be upgraded")
    options = {
        "CalibPercentile": settings.percentile,
        # Zero-point 0 activations when int8: the form TensorRT's explicit quantization needs.
        "ActivationSymmetric": settings.activation_type == "int8",
        "CalibTensorRangeSymmetric": settings.activation_type == "int8",
    }
    reader = FeedSetReader(calibration)
    if calibration.shapes and settings.method != "minmax":  # a histogram per shape group, merged (see the reader)
        reader = ShapeGroupReader(calibration)
        options["CalibStridedMinMax"] = 1
        notes.append(f"{settings.method} calibration over {len(reader)} input shapes, one histogram pass per shape")
    if not settings.quantize_outputs:
        options["OpTypesToExcludeOutputQuantization"] = ["MatMul", "Gemm"]
        notes.append("MatMul/Gemm outputs kept float (the residual stream): ONNX Runtime runs MatMulIntegerToFloat")
    if settings.activation_16bit:
        options["UseQDQContribOps"] = True  # com.microsoft Q/DQ: 16-bit types at any opset
        options["TensorQuantOverrides"] = {t: [{"quant_type": QuantType.QUInt16}] for t in settings.activation_16bit}
        notes.append(f"16-bit activations: {len(settings.activation_16bit)} tensor(s)")
    with tempfile.TemporaryDirectory() as tmp:
        source = graph
        if settings.smoothquant is not None:
            from edgeconv.compress.smoothquant import smooth

            source = Path(tmp) / "smoothed.onnx"
            smoothed = smooth(graph, source, calibration.head(SMOOTHQUANT_EXAMPLES), settings.smoothquant)
            notes.append(f"SmoothQuant (alpha {settings.smoothquant}): {len(smoothed)} activations' outlier "
                         "channels moved into the weights")
        try:
            quantize_static(
                str(source), str(dst), reader, quant_format=QuantFormat.QDQ,
                op_types_to_quantize=op_types, per_channel=per_channel,
                activation_type=activation, weight_type=QuantType.QInt8, reduce_range=bool(settings.reduce_range),
                nodes_to_exclude=[*settings.exclude_nodes, *kept_float, *tail, *stem, *(exclude or [])],
                calibrate_method=methods[settings.method], extra_options=options,
            )
        except ValueError as exc:
            raise StageError(f"int8-static calibration failed: {exc}",
                             fix="try quantize.static.method: minmax, or restrict op_types") from exc
    rewritten = rewrite_hardsigmoids(dst)
    if rewritten:
        notes.append(f"{rewritten} HardSigmoid(s) run as int8 Add (QLinearAdd): ORT has no int8 HardSigmoid, and its "
                     "float DequantizeLinear/HardSigmoid/QuantizeLinear are three passes where QLinearAdd is one")
    floated = keep_weighted_float(dst) if settings.activation_type == "uint8" else []  # ORT CPU's form
    if floated:
        notes.append(f"{len(floated)} Conv/Gemm kept float read their input through a per-axis DequantizeLinear: "
                     "ONNX Runtime's load-time WeightBiasQuantization would quantize their weights per tensor")
    return QuantRecord(
        "int8-static", method=settings.method, op_types=op_types,
        percentile=settings.percentile if settings.method == "percentile" else None,
        activation_type=settings.activation_type, weight_type="int8", per_channel=per_channel,
        excluded_nodes=[*settings.exclude_nodes, *(exclude or [])], calibration_examples=len(calibration),
        float_activation_matmuls=len(kept_float), notes=notes,
    )


QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
                 "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention", "QGemm", "QEmbedLayerNormalization",
                 "DynamicQuantizeLSTM"}


def _all_nodes(graph: Any) -> list[Any]:
    """Every node of ``graph`` and of the subgraphs its If/Loop/Scan nodes hold."""
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attribute in node.attribute:
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                nodes += _all_nodes(sub)
    return nodes


def quantized_nodes(path: Path) -> int:
    """How many nodes of the model (subgraphs included) are int8 ops or Q/DQ."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(1 for n in _all_nodes(graph) if n.op_type in QUANTIZED_OPS or n.op_type.startswith("QLinear"))


def subgraph_nodes(path: Path) -> int:
    """Nodes inside If/Loop/Scan subgraphs: what a quantizer working on the top graph never sees."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return len(_all_nodes(graph)) - len(graph.node)


def graph_opset(path: Path) -> int:
    import onnx

    return default_opset(onnx.load(str(path), load_external_data=False))


def flatten_gemm_biases(path: Path) -> int:
    """Rewrite Gemm biases of shape [1, N] as [N] (the same values under ONNX broadcasting); return how many.

    ORT fuses MatMul + Add into a Gemm whose bias keeps the Add's [1, N] shape, and its QDQ quantizer cannot
    handle one: its int32-bias scale check raises "truth value of an array ... is ambiguous" (onnxruntime
    issue 24815) and, with that check off, it writes a per-channel DequantizeLinear that ONNX Runtime then
    refuses. Seen on Magika's tf2onnx graph.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    initializers = {i.name: i for i in model.graph.initializer}
    uses: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    changed = 0
    for node in model.graph.node:
        bias = initializers.get(node.input[2]) if node.op_type == "Gemm" and len(node.input) > 2 else None
        if bias is not None and len(bias.dims) == 2 and bias.dims[0] == 1 and uses[bias.name] == 1:
            bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias).reshape(-1), bias.name))
            changed += 1
    if changed:
        onnx.save(model, str(path))
    return changed


def activation_matmuls(path: Path) -> list[str]:
    """MatMul nodes none of whose inputs is a weight (initializer or Constant output)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {i.name for i in graph.initializer} | {n.output[0] for n in graph.node if n.op_type == "Constant"}
    return [n.name for n in graph.node if n.op_type == "MatMul" and not any(i in constants for i in n.input)]


def _copy(src: Path, dst: Path) -> None:
    import onnx

    onnx.save(onnx.load(str(src)), str(dst))
