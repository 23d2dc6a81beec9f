"""ONNX Runtime backend: artifacts are ONNX files (fp32 fused, fp16, int8 dynamic, int8 static QDQ)."""

from __future__ import annotations

import platform
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.backends.backend import BuildContext, BuiltArtifact
from edgeconv.backends.onnxruntime.fp16 import fp16_note
from edgeconv.compress import qdq_error, quantize, refusal
from edgeconv.compress.architecture import weight_counts
from edgeconv.compress.fallback import quantize_with_fallback
from edgeconv.compress.judge import LoadingJudge, budget_judge
from edgeconv.compress.remedies import static_ladder
from edgeconv.errors import NothingToDo
from edgeconv.fsutil import sha256_file
from edgeconv.machine import physical_cores, u8s8_saturates
from edgeconv.results import RunnerSpec
from edgeconv.spec import QuantizeSpec
from edgeconv.spec.targets import TargetProfile


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
            "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner",
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
    if precision == "fp16" and runs_on_cpu(profile):  # its record says what this CPU's kernels compute it in
        key["arch"] = platform.machine()
    settings = with_reduce_range(profile, profile.quantize_settings(ctx.spec.quantize))
    if precision.startswith("int8"):
        key["fallback"] = settings.fallback.model_dump()
        key["budgets"] = ctx.spec.budgets.model_dump()
        key["eval"] = {"feeds": ctx.evaluation_sha256, "metric": ctx.spec.evaluation.metric}
        key["dynamic"] = settings.dynamic.model_dump()
        key["recipe"] = quantize.RECIPE
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
            if runs_on_cpu(profile):
                record.notes.append(fp16_note(dst))
        else:
            record = build_int8(ctx, precision, dst, settings, runs_on_cpu(profile))
        return {"file": dst.name, "sha256": sha256_file(dst), "quantization": record.to_dict()}

    folder, meta = ctx.stages.run(stage, key, produce)
    return BuiltArtifact(folder / meta["file"], quantization=meta["quantization"])


def with_reduce_range(profile: TargetProfile, settings: QuantizeSpec) -> QuantizeSpec:
    """``static.reduce_range`` decided: the spec's; else None ("8-bit weights, then 7-bit if they miss the
    budgets") where this machine runs the artifact on ONNX Runtime's CPU kernels and they saturate (no VNNI);
    else False (a VNNI CPU, TensorRT or CUDA: full 8-bit weights)."""
    if settings.static.reduce_range is not None:
        return settings
    if runs_on_cpu(profile) and u8s8_saturates():
        return settings
    decided = settings.model_copy(deep=True)
    decided.static.reduce_range = False
    return decided


def runs_on_cpu(profile: TargetProfile) -> bool:
    """The artifact runs on ONNX Runtime's CPU kernels, as the search's judge does (not TensorRT, not CUDA)."""
    return profile.backend == "onnxruntime" and not [p for p in profile.providers if p != "CPUExecutionProvider"]


def build_int8(ctx: BuildContext, precision: str, dst: Path, settings: QuantizeSpec,
               on_cpu: bool = True) -> quantize.QuantRecord:
    """An int8 artifact; under accuracy budgets, the remedies then the float fallback (compress/search.py).
    ``on_cpu``: the candidates run where the judge times them, so a trial slower than fp32 does not end the
    search (a TensorRT or CUDA artifact's speed on ORT's CPU says nothing of its speed there)."""
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "float.onnx"
        fused = quantize.float_graph(precision, ctx.reference_onnx, graph, ctx.family)
        nodes = quantize.candidates(precision, graph, settings)
        if not nodes:
            raise NothingToDo(nothing_to_quantize(precision, graph))
        record = _search(ctx, precision, graph, fused, dst, settings, nodes, on_cpu)
        if quantize.quantized_nodes(dst) == 0:
            trials = (record.fallback or {}).get("trials", [])
            kept = len(trials[record.fallback["chosen_trial"]]["float_nodes"]) if trials else 0  # type: ignore[index]
            why = (f"the accuracy-aware fallback kept all {kept} quantized nodes in float to meet the budgets"
                   if kept else nothing_to_quantize(precision, graph))
            raise NothingToDo(f"{precision} would be the fp32 model under another name: {why}")
        return record


def _search(ctx: BuildContext, precision: str, graph: Path, fused: bool, dst: Path, settings: QuantizeSpec,
            nodes: list[str], on_cpu: bool) -> quantize.QuantRecord:
    """One recipe under the budgets. int8-static: the error localised, then remedies, then float fallback."""

    def make(path: Path, float_nodes: list[str], change: dict[str, Any]) -> quantize.QuantRecord:
        unshared, change = _repaired(graph, change)
        if precision == "int8-dynamic":
            return quantize.make_int8_dynamic(graph, path, fused, settings.dynamic, float_nodes)
        assert ctx.calibration is not None  # the spec validator requires it for int8-static
        static = settings.static.model_copy(update=change)
        record = quantize.make_int8_static(graph, path, ctx.calibration, static, float_nodes)
        if unshared:
            record.notes.append(f"{refusal.UNSHARE}: each Conv/Gemm sharing a bias got its own copy before "
                                "quantizing (ONNX Runtime refused the candidate quantized without)")
        if change.get("reduce_range") and settings.static.reduce_range is None:
            record.notes.append("7-bit weights: tried because this CPU has no VNNI and 8-bit weights missed the "
                                "budgets")
        return record

    def refused(candidate: Path, exc: Exception) -> dict[str, Any] | None:
        return refusal.localise(graph, candidate, str(exc))

    judge = budget_judge(ctx, physical_cores(), reference_model=ctx.reference_onnx if on_cpu else None)
    if judge is None:  # no budgets, no search; but a candidate ORT's CPU refuses is still remedied
        loading = LoadingJudge(ctx.evaluation.example(0), physical_cores())
        record = make(dst, [], {})
        if not on_cpu:  # TensorRT/CUDA: their own runtime verifies the artifact, not ORT's CPU
            return record
        try:
            loading(dst)
            return record
        except Exception as exc:
            if refused(dst, exc) is None:
                raise
        dst.unlink()
        return quantize_with_fallback(make, graph, dst, loading, ctx.evaluation, settings.fallback, [],
                                      refusal=refused)  # type: ignore[arg-type]
    ranking_feeds = (ctx.calibration or ctx.evaluation).head(settings.fallback.sensitivity_examples)

    if precision != "int8-static":
        return quantize_with_fallback(make, graph, dst, judge, ranking_feeds, settings.fallback, nodes,
                                      refusal=refused)
    calibration = ctx.calibration
    assert calibration is not None
    seven_bit_helps = settings.static.reduce_range is None  # with_reduce_range: a CPU without VNNI

    def ladder(diagnosis: dict[str, Any] | None) -> Any:
        return static_ladder(graph, settings, seven_bit_helps, diagnosis)

    def localise(trial: Path) -> dict[str, Any]:
        """A diagnosis for the report: when it cannot be made, the search goes on without it."""
        try:
            return qdq_error.localise(graph, trial, calibration.head(LOCALISE_EXAMPLES)).to_dict()
        except Exception as exc:  # a diagnostic's failure must not cost the artifact
            return {"error": f"the error could not be localised: {type(exc).__name__}: {exc}"}

    return quantize_with_fallback(make, graph, dst, judge, ranking_feeds, settings.fallback, nodes, ladder, localise,
                                  refused)


def _repaired(graph: Path, change: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Whether ``unshare_initializers`` (the remedy for a refusal, compress/refusal.py) applies, and the quantizer
    settings left. It is a repair of the float graph, not a quantizer setting: made in place, once (node names and
    the function unchanged), so the error localisation and the float fallback's ranking read the graph the
    candidates were quantized from."""
    if not change.get("unshare_initializers"):
        return False, change
    refusal.unshare_initializers(graph, graph)  # a second call finds nothing shared and copies nothing
    return True, {k: v for k, v in change.items() if k != "unshare_initializers"}


LOCALISE_EXAMPLES = 16  # calibration examples the error localisation runs (~15 s on MiniLM at length 64)


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
