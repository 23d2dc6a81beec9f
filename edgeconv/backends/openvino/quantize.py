"""NNCF int8 post-training quantization of an OpenVINO model, held to the spec's budgets.

First NNCF's default recipe (``nncf.quantize``: the transformer model type and mixed preset for MatMul-heavy
models, the performance preset for convolutional ones) on the spec's calibration set. When it misses the budgets,
NNCF's own accuracy control (``nncf.quantize_with_accuracy_control``) reverts the layers that cost the most back
to float until the drop is within ``max_drop``, scored by the spec's metric (``budgets.accuracy_drop`` on
labelled data) or by top-1 agreement with the reference (``budgets.min_agreement``). Every trial is judged by the
same ``Judge`` as ONNX Runtime's search, run in OpenVINO, and timed beside the fp32 reference on a CPU device.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.backends.backend import BuildContext
from edgeconv.compress.architecture import is_convolutional
from edgeconv.compress.judge import Judge, budget_judge, first_output
from edgeconv.compress.search import Trial, closeness, trial_fidelity
from edgeconv.progress.steps import Task
from edgeconv.verify.worker import stack_outputs


@dataclass
class OpenVINOJudge(Judge):
    """The ORT judge's budgets and scoring (Judge.__call__), with the candidate compiled by OpenVINO."""

    device: str = "CPU"

    def run(self, model: Path) -> tuple[dict[str, np.ndarray], float]:
        from edgeconv.backends.openvino.runner import OpenVINORunner

        with OpenVINORunner(str(model), self.device, self.threads, inference_precision="f32") as runner:
            outputs, _ = stack_outputs([runner.infer(b) for b in self.evaluation.batches(1)])
            return outputs, self.p50_beside_reference(model, runner.infer)


def quantize_static(ctx: BuildContext, model: Any, dst: Path, device: str, threads: int) -> dict[str, Any]:
    """Write the chosen int8 IR to ``dst``; the record says the recipe and, under budgets, every trial."""
    import nncf
    import openvino as ov

    assert ctx.calibration is not None  # the spec validator requires it for int8-static
    items = [ctx.calibration.example(i) for i in range(len(ctx.calibration))]
    transformer = not is_convolutional(ctx.reference_onnx)
    common: dict[str, Any] = {
        "preset": nncf.QuantizationPreset.MIXED if transformer else nncf.QuantizationPreset.PERFORMANCE,
        "model_type": nncf.ModelType.TRANSFORMER if transformer else None, "subset_size": len(items)}
    record: dict[str, Any] = {
        "precision": "int8-static", "method": "nncf.quantize", "calibration_examples": len(items),
        "preset": common["preset"].value, "model_type": "transformer" if transformer else None}
    task = Task("NNCF int8 quantization", total=1)
    plain = nncf.quantize(model, nncf.Dataset(items), **common)
    task.advance()
    judge = budget_judge(ctx, threads, cls=OpenVINOJudge, device=device,
                         reference_model=ctx.reference_onnx if device == "CPU" else None)
    if judge is None:
        ov.save_model(plain, str(dst), compress_to_fp16=False)
        return record
    with tempfile.TemporaryDirectory() as tmp:
        trials = [_trial(judge, plain, Path(tmp) / "plain.xml", [], [])]
        control = None if trials[0][0].passed else accuracy_control(ctx, judge)
        if control is None and not trials[0][0].passed:
            record["accuracy_control"] = "not run: " + _why_no_control(ctx, judge)
        if control is not None:
            metric, max_drop, validation = control
            record["accuracy_control"] = f"{metric}, max_drop {max_drop:.4f}"
            task = Task("NNCF accuracy control", total=1)
            controlled = nncf.quantize_with_accuracy_control(
                model, nncf.Dataset(items), nncf.Dataset(list(enumerate(ctx.evaluation.batches(1)))),
                validation, max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE, **common)
            task.advance()
            reverted = sorted(quantized_ops(plain) - quantized_ops(controlled))
            trials.append(_trial(judge, controlled, Path(tmp) / "controlled.xml", reverted, ["nncf-accuracy-control"]))
        # the first trial within the budgets, else the closer one (accuracy control that misses can end worse)
        chosen = next((i for i, (t, _) in enumerate(trials) if t.passed),
                      max(range(len(trials)), key=lambda i: closeness(trials[i][0])))
        path = trials[chosen][1]
        path.replace(dst)
        path.with_suffix(".bin").replace(dst.with_suffix(".bin"))
    if chosen:
        record["method"] = "nncf.quantize_with_accuracy_control"
    record["fallback"] = {"trials": [asdict(t) for t, _ in trials], "chosen_trial": chosen,
                          "met_budgets": trials[chosen][0].passed, "sensitivity_top": []}
    return record


def _trial(judge: Judge, model: Any, path: Path, float_ops: list[str], remedies: list[str]) -> tuple[Trial, Path]:
    import openvino as ov

    ov.save_model(model, str(path), compress_to_fp16=False)
    score, agreement, p50, figures = judge(path)
    return Trial(float_ops, score, agreement, p50, judge.passes(score, agreement, figures), trial_fidelity(figures),
                 remedies, judge.reference_p50_ms), path


def quantized_ops(model: Any) -> set[str]:
    """The ops that read a FakeQuantize output: NNCF's int8 ops (accuracy control reverts some to float)."""
    return {op.get_friendly_name() for op in model.get_ops()
            if any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())
            and op.get_type_name() != "FakeQuantize"}


def accuracy_control(ctx: BuildContext, judge: Judge) -> tuple[str, float, Any] | None:
    """(metric name, max_drop, NNCF validation function) from the budgets; None when no budget is a single
    higher-is-better figure NNCF can restore (fidelity, mAP and mIoU budgets are judged, not controlled)."""
    budgets, labels = ctx.spec.budgets, ctx.evaluation.labels
    reference = np.asarray(ctx.reference_outputs)
    if budgets.accuracy_drop is not None and labels is not None and not judge.generic and judge.detection is None \
            and judge.segmentation is None:
        metric = ctx.spec.evaluation.metric

        def task_metric(compiled: Any, data: Any) -> tuple[float, None]:
            rows = list(data)
            outputs = np.concatenate([_first(compiled, feeds) for _, feeds in rows])
            return judge.metric(outputs, labels[[i for i, _ in rows]]), None

        return metric, budgets.accuracy_drop, task_metric
    if budgets.min_agreement is not None and judge.detection is None and judge.segmentation is None \
            and not judge.generic:
        def agreement(compiled: Any, data: Any) -> tuple[float, list[float]]:
            hits = [float(_first(compiled, feeds).argmax(-1)[0] == reference[i].argmax(-1)) for i, feeds in data]
            return float(np.mean(hits)), hits

        return "agreement with the reference", 1.0 - budgets.min_agreement, agreement
    return None


def _why_no_control(ctx: BuildContext, judge: Judge) -> str:
    if judge.generic or judge.detection is not None or judge.segmentation is not None:
        return "its budgets are fidelity, mAP or mIoU budgets, not one metric NNCF can restore"
    if ctx.evaluation.labels is None:
        return "the evaluation set has no labels and the spec sets no min_agreement"
    return "the spec sets neither accuracy_drop nor min_agreement"


def _first(compiled: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(first_output({o.get_any_name(): v for o, v in compiled(feeds).items()}))
