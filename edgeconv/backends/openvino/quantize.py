"""NNCF int8 post-training quantization of an OpenVINO model, held to the spec's budgets by the same search as
ONNX Runtime's int8 (compress/search.py): diagnosis, remedies cheapest first, then float fallback.

Trial 0 is NNCF's default recipe (``nncf.quantize``: the transformer model type and mixed preset for MatMul-heavy
models, the performance preset for convolutional ones) on the spec's calibration set. When it misses a budget:
1. **diagnosis**: which int8 ops add the most error (backends/openvino/sensitivity.py), kept in report.json;
2. **remedies** as NNCF options (backends/openvino/remedies.py): recurrent ops float, the MIXED preset,
   SmoothQuant, full bias correction, overflow fix, and last NNCF's accuracy control driven by the spec's budget
   (backends/openvino/control.py: the labelled metric, fidelity, or agreement);
3. **float fallback**: the ops the diagnosis ranks worst go into NNCF's ignored scope, k = 1, 2, 4, ...
Each trial is judged by the same ``Judge`` as ONNX Runtime's search, run in OpenVINO, and timed beside the fp32
reference on a CPU device. The record names every trial, what each kept float and why.
"""

from __future__ import annotations

import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.backends.backend import BuildContext
from edgeconv.compress.architecture import is_convolutional
from edgeconv.compress.judge import Judge, budget_judge
from edgeconv.compress.search import search_int8
from edgeconv.machine import u8s8_saturates
from edgeconv.progress.steps import Task
from edgeconv.verify.worker import stack_outputs

IR = "model.xml"  # a trial is a folder holding model.xml and model.bin (an IR is two files)


@dataclass
class OpenVINOJudge(Judge):
    """The ORT judge's budgets and scoring (Judge.__call__), with the candidate compiled by OpenVINO."""

    device: str = "CPU"

    def run(self, model: Path) -> tuple[dict[str, np.ndarray], float]:
        from edgeconv.backends.openvino.runner import OpenVINORunner

        xml = model / IR if model.is_dir() else model
        with OpenVINORunner(str(xml), self.device, self.threads, inference_precision="f32") as runner:
            outputs, _ = stack_outputs([runner.infer(b) for b in self.evaluation.batches(1)])
            return outputs, self.p50_beside_reference(model, runner.infer)


WEIGHTED = {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul"}  # the ops NNCF quantizes weights of


def quantize_static(ctx: BuildContext, model: Any, dst: Path, device: str, threads: int) -> dict[str, Any]:
    """Write the chosen int8 IR to ``dst``; the record says the recipe and, under budgets, every trial."""
    import openvino as ov

    from edgeconv.backends.openvino.control import accuracy_control, why_no_control
    from edgeconv.backends.openvino.remedies import openvino_ladder
    from edgeconv.backends.openvino.sensitivity import diagnosis, rank_ops

    assert ctx.calibration is not None  # the spec validator requires it for int8-static
    transformer = not is_convolutional(ctx.reference_onnx)
    common = {"preset": "mixed" if transformer else "performance", "model_type": "transformer" if transformer
              else None}
    record: dict[str, Any] = {"precision": "int8-static", "method": "nncf.quantize",
                              "calibration_examples": len(ctx.calibration), **common}
    judge = budget_judge(ctx, threads, cls=OpenVINOJudge, device=device,
                         reference_model=ctx.reference_onnx if device == "CPU" else None)
    kept = spec_float_ops(model, ctx.spec.quantize.static.exclude_nodes)
    if kept:
        record["ignored_scope"] = {"names": kept, "types": [], "why": "quantize.static.exclude_nodes"}
    if judge is None:
        ov.save_model(quantize(model, ctx, common, kept), str(dst), compress_to_fp16=False)
        return record
    control = accuracy_control(judge, ctx.evaluation.labels, ctx.spec.evaluation.metric)
    settings = ctx.spec.quantize.fallback
    probe = ctx.calibration.head(settings.sensitivity_examples)

    def make(folder: Path, float_ops: list[str], change: dict[str, Any]) -> dict[str, Any]:
        shutil.rmtree(folder, ignore_errors=True)  # a remedy that failed may have left its trial's folder
        folder.mkdir()
        quantized = quantize(model, ctx, {**common, **change}, [*kept, *float_ops], control)
        ov.save_model(quantized, str(folder / IR), compress_to_fp16=False)
        own = trial_record(record, {**common, **change}, [*kept, *float_ops])
        if change.get("accuracy_control") and control is not None:
            own["accuracy_control"] = f"{control[0]}, max_drop {control[1]:.4f}"
        return own

    def rank(trial: Path) -> list[Any]:  # an op whose int8 output measured exact gains nothing from float
        return [r for r in rank_ops(model, trial / IR, probe) if r.output_error > 0]

    def localise(trial: Path) -> dict[str, Any]:
        return diagnosis(rank_ops(model, trial / IR, probe))

    def ladder(_: dict[str, Any] | None) -> tuple[Any, list[dict[str, str]]]:
        return openvino_ladder(model, common, u8s8_saturates(), control[0] if control else None,
                               settings.remedies)

    work = dst.parent / ".search"
    work.mkdir()
    chosen, fallback = search_int8(make, work / "chosen", judge, settings, rank, ladder, localise)
    for suffix in (".xml", ".bin"):
        (work / "chosen" / IR).with_suffix(suffix).replace(dst.with_suffix(suffix))
    shutil.rmtree(work, ignore_errors=True)
    if control is None:
        chosen["accuracy_control"] = "not run: " + why_no_control(judge, ctx.evaluation.labels)
    return {**chosen, "fallback": fallback}


def spec_float_ops(model: Any, onnx_names: list[str]) -> list[str]:
    """The OpenVINO ops of the ONNX nodes the spec keeps float (``quantize.static.exclude_nodes``, written for ONNX
    Runtime). The ONNX frontend names a node's op after it (a biased Conv/MatMul ``<name>/WithoutBiases``), and an
    op that absorbed neighbours joins their names with ';' (tf2onnx names do too): a weighted op is the node's when
    one of its name's parts is the node's, or lies under it (``<part>/Squeeze``)."""
    wanted = {part for name in onnx_names for part in name.split(";")}
    kept = []
    for op in model.get_ops():
        name = op.get_friendly_name()
        parts = {part.removesuffix("/WithoutBiases") for part in name.split(";")}
        exact = name in onnx_names or name.removesuffix("/WithoutBiases") in onnx_names
        under = op.get_type_name() in WEIGHTED and any(p == w or p.startswith(w + "/") for p in parts for w in wanted)
        if exact or under:
            kept.append(name)
    return kept


def quantize(model: Any, ctx: BuildContext, options: dict[str, Any], float_ops: list[str],
             control: tuple[str, float, Any] | None = None) -> Any:
    """``nncf.quantize`` of ``model`` with the options a trial holds (the recipe's and its remedies'), or NNCF's
    accuracy control when a remedy asks for it; ``float_ops`` stay float."""
    import nncf

    assert ctx.calibration is not None
    items = [ctx.calibration.example(i) for i in range(len(ctx.calibration))]
    kwargs = nncf_options(options, float_ops)
    task = Task("NNCF int8 quantization", total=1)
    if options.get("accuracy_control") and control is not None:
        _, max_drop, validation = control
        advanced = kwargs.pop("advanced_parameters", None)
        try:
            result = nncf.quantize_with_accuracy_control(
                model, nncf.Dataset(items), nncf.Dataset(list(enumerate(ctx.evaluation.batches(1)))), validation,
                max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE, advanced_quantization_parameters=advanced,
                **kwargs)
        except Exception as exc:  # NNCF's own failure on this graph: the search records it as this remedy's outcome
            where = traceback.extract_tb(exc.__traceback__)[-1]
            raise RuntimeError(f"NNCF's accuracy control failed on this graph in {where.name} "
                               f"({type(exc).__name__}: {exc}; nncf {nncf.__version__})") from exc
    else:
        result = nncf.quantize(model, nncf.Dataset(items), **kwargs)
    task.advance()
    return result


def nncf_options(options: dict[str, Any], float_ops: list[str]) -> dict[str, Any]:
    """NNCF's keyword arguments for a trial's settings: preset, model type, ignored scope, advanced options."""
    import nncf

    kwargs: dict[str, Any] = {
        "preset": nncf.QuantizationPreset(options["preset"]), "subset_size": 10_000,
        "model_type": nncf.ModelType.TRANSFORMER if options.get("model_type") == "transformer" else None,
        "fast_bias_correction": options.get("fast_bias_correction", True)}
    types = options.get("ignored_types", [])
    if float_ops or types:
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=list(float_ops), types=list(types), validate=False)
    advanced: dict[str, Any] = {}
    if "smooth_quant_alpha" in options:
        advanced["smooth_quant_alphas"] = nncf.AdvancedSmoothQuantParameters(matmul=options["smooth_quant_alpha"])
    if "overflow_fix" in options:
        advanced["overflow_fix"] = nncf.OverflowFix(options["overflow_fix"])
    if advanced:
        kwargs["advanced_parameters"] = nncf.AdvancedQuantizationParameters(**advanced)
    return kwargs


def trial_record(base: dict[str, Any], options: dict[str, Any], float_ops: list[str]) -> dict[str, Any]:
    """The record of one trial's artifact: its NNCF method and options, and what it kept float."""
    record = {**base, **{k: v for k, v in options.items() if k in ("preset", "model_type")}}
    if options.get("accuracy_control"):
        record["method"] = "nncf.quantize_with_accuracy_control"
    extra = {k: v for k, v in options.items() if k in ("smooth_quant_alpha", "fast_bias_correction", "overflow_fix")}
    if extra:
        record["nncf_options"] = extra
    if float_ops or options.get("ignored_types"):
        record["ignored_scope"] = {"names": list(float_ops), "types": list(options.get("ignored_types", []))}
    return record
