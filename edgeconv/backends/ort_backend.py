"""ONNX Runtime backend: artifacts are ONNX files (fp32 fused, fp16, int8 dynamic, int8 static QDQ)."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.backends.protocol import BuildContext, BuiltArtifact, RunnerSpec
from edgeconv.compress import quantize
from edgeconv.compress.architecture import is_convolutional, weight_counts
from edgeconv.compress.fallback import budget_judge, quantize_with_fallback
from edgeconv.errors import NothingToDo
from edgeconv.fsutil import sha256_file
from edgeconv.machine import physical_cores, u8s8_saturates
from edgeconv.spec import QuantizeSpec
from edgeconv.targets import TargetProfile


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def unavailable_reason(self, profile: TargetProfile) -> str | None:
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed (pip install onnxruntime)"
        missing = [p for p in profile.providers if p not in ort.get_available_providers()]
        if missing:
            return (f"ONNX Runtime here has no {', '.join(missing)} "
                    "(install onnxruntime-gpu with a CUDA driver for the CUDA provider)")
        return None

    def build(self, ctx: BuildContext, profile: TargetProfile, precision: str) -> BuiltArtifact:
        return onnx_artifact(ctx, profile, precision, f"artifacts/{profile.name}-{precision}")

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        return RunnerSpec(
            "edgeconv.backends.onnxruntime:OnnxRuntimeRunner",
            {"path": str(artifact.path), "providers": profile.providers or None, "threads": threads_for(profile)},
        )


def onnx_artifact(ctx: BuildContext, profile: TargetProfile, precision: str, stage: str) -> BuiltArtifact:
    """An ONNX model of one precision in stage ``stage``: the ORT artifact, or another backend's input
    (TensorRT builds its int8 engine from the QDQ model made here, with its profile's settings)."""
    key: dict[str, Any] = {
        "reference": ctx.reference_sha256, "precision": precision, "family": asdict(ctx.family),
        "onnxruntime": versions.of("onnxruntime"), "onnx": versions.of("onnx"), "edgeconv": versions.of("edgeconv"),
    }
    if precision == "fp32":  # the graph is chosen by timing on this machine's threads
        key["threads"] = threads_for(profile)
    settings = with_reduce_range(profile, profile.quantize_settings(ctx.spec.quantize))
    if precision.startswith("int8"):
        key["fallback"] = settings.fallback.model_dump()
        key["budgets"] = ctx.spec.budgets.model_dump()
        key["eval"] = {"feeds": ctx.evaluation_sha256, "metric": ctx.spec.evaluation.metric}
        key["dynamic"] = settings.dynamic.model_dump()
    if precision == "int8-static":
        key["calibration"] = ctx.calibration_sha256
        key["static"] = settings.static.model_dump()

    def produce(folder: Path) -> dict[str, Any]:
        dst = folder / "model.onnx"
        src = ctx.reference_onnx
        if precision == "fp32":
            record = quantize.make_fp32(src, dst, ctx.family, ctx.evaluation.example(0), threads_for(profile))
        elif precision == "fp16":
            record = quantize.make_fp16(src, dst, ctx.family)
        else:
            record = build_int8(ctx, precision, dst, settings)
        return {"file": dst.name, "sha256": sha256_file(dst), "quantization": record.to_dict()}

    folder, meta = ctx.stages.run(stage, key, produce)
    return BuiltArtifact(folder / meta["file"], quantization=meta["quantization"])


def with_reduce_range(profile: TargetProfile, settings: QuantizeSpec) -> QuantizeSpec:
    """``static.reduce_range`` decided: the spec's; else None ("8-bit weights, then 7-bit if they miss the
    budgets") where this machine runs the artifact on ONNX Runtime's CPU kernels and they saturate (no VNNI);
    else False (a VNNI CPU, TensorRT or CUDA: full 8-bit weights)."""
    if settings.static.reduce_range is not None:
        return settings
    on_cpu = profile.backend == "onnxruntime" and not [p for p in profile.providers if p != "CPUExecutionProvider"]
    if on_cpu and u8s8_saturates():
        return settings
    decided = settings.model_copy(deep=True)
    decided.static.reduce_range = False
    return decided


def build_int8(ctx: BuildContext, precision: str, dst: Path, settings: QuantizeSpec) -> quantize.QuantRecord:
    """An int8 artifact, backing off sensitive nodes to float when the accuracy budgets need it."""
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "float.onnx"
        fused = quantize.float_graph(precision, ctx.reference_onnx, graph, ctx.family)
        nodes = quantize.candidates(precision, graph, settings)
        if not nodes:
            raise NothingToDo(nothing_to_quantize(precision, graph))
        record = _quantize(ctx, precision, graph, fused, dst, settings, nodes)
        if precision == "int8-static" and settings.static.reduce_range is None and not _met(record):
            record = _seven_bit_weights(ctx, graph, fused, dst, settings, nodes, record)
        if quantize.quantized_nodes(dst) == 0:
            trials = (record.fallback or {}).get("trials", [])
            kept = len(trials[record.fallback["chosen_trial"]]["float_nodes"]) if trials else 0  # type: ignore[index]
            why = (f"the accuracy-aware fallback kept all {kept} quantized nodes in float to meet the budgets"
                   if kept else nothing_to_quantize(precision, graph))
            raise NothingToDo(f"{precision} would be the fp32 model under another name: {why}")
        return record


def _met(record: quantize.QuantRecord) -> bool:
    return bool((record.fallback or {}).get("met_budgets", True))


def _quantize(ctx: BuildContext, precision: str, graph: Path, fused: bool, dst: Path, settings: QuantizeSpec,
              nodes: list[str]) -> quantize.QuantRecord:
    """One recipe under the budgets: the fallback's trials, and a conv net's Conv/MatMul/Gemm-only rung."""

    def make(path: Path, float_nodes: list[str]) -> quantize.QuantRecord:
        if precision == "int8-dynamic":
            return quantize.make_int8_dynamic(graph, path, fused, settings.dynamic, float_nodes)
        assert ctx.calibration is not None  # the spec validator requires it for int8-static
        return quantize.make_int8_static(graph, path, ctx.calibration, settings.static, float_nodes)

    judge = budget_judge(ctx, physical_cores())
    if judge is None:
        return make(dst, [])
    ranking_feeds = (ctx.calibration or ctx.evaluation).head(settings.fallback.sensitivity_examples)
    record = quantize_with_fallback(make, graph, dst, judge, ranking_feeds, settings.fallback, nodes)
    if precision == "int8-static" and not _met(record) and settings.static.op_types is None \
            and is_convolutional(graph):
        record = _weighted_ops_only(ctx, settings, graph, dst, record, judge, ranking_feeds)
    return record


def _seven_bit_weights(ctx: BuildContext, graph: Path, fused: bool, dst: Path, settings: QuantizeSpec,
                       nodes: list[str], eight_bit: quantize.QuantRecord) -> quantize.QuantRecord:
    """On an x86 CPU without VNNI, ONNX Runtime's uint8 x int8 kernels saturate: when 8-bit weights miss the
    budgets, 7-bit ones (reduce_range) are tried. Measured on an AMD EPYC (AVX2): PaddleOCR's classifier
    -2.5 pt with 8-bit weights, within 1 pt with 7-bit; the MiniLM sample the other way round (8-bit passed,
    7-bit lost 0.4 pt of agreement), so neither is the default for every model."""
    seven = settings.model_copy(deep=True)
    seven.static.reduce_range = True
    candidate = dst.with_name("reduce-range.onnx")
    record = _quantize(ctx, "int8-static", graph, fused, candidate, seven, nodes)
    first = len((eight_bit.fallback or {}).get("trials", []))
    if _met(record):
        candidate.replace(dst)
        record.notes.append(f"8-bit weights missed the budgets in {first} trial(s) on this CPU without VNNI; "
                            "7-bit weights met them")
        return record
    candidate.unlink(missing_ok=True)
    eight_bit.notes.append("7-bit weights (reduce_range), tried because this CPU has no VNNI, missed the "
                           "budgets too")
    return eight_bit


WEIGHTED_OPS = ["Conv", "MatMul", "Gemm"]


def _weighted_ops_only(ctx: BuildContext, settings: QuantizeSpec, graph: Path, dst: Path,
                       every_op: quantize.QuantRecord, judge: Any, ranking_feeds: Any) -> quantize.QuantRecord:
    """The second rung of a convolutional network's static int8: when every-op int8 misses the budgets even
    after the fallback, quantize only Conv/MatMul/Gemm. The fallback restores weighted nodes, so it cannot
    undo int8 on element-wise ops; on Magika (a conv net with jax2tf's decomposed LayerNorm), every-op int8
    kept 2% accuracy with all three weighted nodes float, Conv/MatMul/Gemm alone lost 0.8 points."""
    assert ctx.calibration is not None
    narrow = settings.model_copy(deep=True)
    narrow.static.op_types = WEIGHTED_OPS

    def make(path: Path, float_nodes: list[str]) -> quantize.QuantRecord:
        assert ctx.calibration is not None
        return quantize.make_int8_static(graph, path, ctx.calibration, narrow.static, float_nodes)

    candidate = dst.with_name("weighted-ops.onnx")
    record = quantize_with_fallback(make, graph, candidate, judge, ranking_feeds, narrow.fallback,
                                    quantize.candidates("int8-static", graph, narrow))
    first = every_op.fallback or {}
    missed = f"every-op int8 missed the budgets in {len(first.get('trials', []))} trial(s)"
    if (record.fallback or {}).get("met_budgets"):
        candidate.replace(dst)
        record.notes = [f"ops quantized: Conv/MatMul/Gemm only ({missed}; these met them)", *record.notes[1:]]
        record.fallback = {**(record.fallback or {}), "every_op_trials": first.get("trials", [])}
        return record
    candidate.unlink(missing_ok=True)
    every_op.notes.append(f"{missed}; Conv/MatMul/Gemm only missed them too")
    return every_op


def nothing_to_quantize(precision: str, graph: Path) -> str:
    """Why a recipe found nothing to quantize in ``graph``, in words a user can act on."""
    hidden = quantize.subgraph_nodes(graph)
    if hidden:
        return (f"{precision} has nothing to quantize: the model's compute ({hidden} nodes) sits inside If/Loop/Scan "
                "subgraphs, which ONNX Runtime's quantizer does not enter; export the model without control flow")
    counts = weight_counts(graph)
    if precision == "int8-dynamic" and counts["conv"]:
        return (f"int8-dynamic has nothing to quantize: the model has no MatMul/Gemm, and its convolutions "
                f"({counts['conv']:,} weights) stay float because ConvInteger runs slower than float Conv on CPU; "
                "int8-static quantizes convolutional networks (or set quantize.dynamic.conv: true)")
    return f"{precision} has nothing to quantize: the model has no MatMul, Gemm or Conv with weights"


def threads_for(profile: TargetProfile) -> int:
    """The profile's thread count, else the physical cores (oversubscribing measured 2-3x slower)."""
    return profile.threads or physical_cores()
