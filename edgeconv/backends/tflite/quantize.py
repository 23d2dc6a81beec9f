"""TFLite quantization recipes on ai-edge-quantizer (AEQ), applied to the float flatbuffer.

- fp16: weights cast to float16 (AEQ ``float_casting``), compute in float: half the size, same outputs.
- int8-dynamic: AEQ's ``dynamic_wi8_afp32``: int8 per-channel weights, activations quantized on the fly
  by the kernels (XNNPACK's dynamically-quantized fully-connected): the fast CPU default.
- int8-full: static int8 weights and activations from a representative dataset (the spec's calibration
  set, never random data), embedding tables int8, HARD_SWISH and DIV float (XNNPACK has no int8 kernel for them).
  Where that misses the accuracy budgets, the module groups that cost the most keep float activations
  (int8 weights): tflite_fallback.py.
  A float-min attention-mask sentinel (-3.4e38), where a converter emits one, would leave a
  min/max range no resolution for the real scores, so ranges reaching beyond +-1e30 (no real
  activation does) are clipped to +-``SENTINEL_CLIP`` first (exp(-32) is nothing next to 1 in a
  softmax). AEQ has no percentile calibration to do this for us. litert-torch 0.10 emits no such
  sentinel for the sample; the +-1e4 threshold used before also clipped the layer norms' squared
  deviations, which legitimately reach ~5e4 on the sample.
"""

from __future__ import annotations

import copy
import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError
from edgeconv.fsutil import atomic_path
from edgeconv.spec import FallbackSpec

if TYPE_CHECKING:
    from edgeconv.backends.tflite.fallback import OpGroup
    from edgeconv.compress.judge import Judge

NO_QUANTIZE = "no_quantize"  # AEQ's AlgorithmName.NO_QUANTIZE
WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "EMBEDDING_LOOKUP")

# In the int8-full stage's cache key: bump it when the recipe below makes a different file from the same inputs,
# so a build after the upgrade does not reuse the old one (2: DIV float).
INT8_FULL_RECIPE = 2
SENTINEL = 1e30
SENTINEL_CLIP = 32.0
SIGNATURE = "serving_default"  # litert-torch's default signature key


def recipe_for(precision: str, float_groups: Sequence[OpGroup] = (), only: OpGroup | None = None) -> Any:
    """The AEQ recipe; for int8-full, ``float_groups`` keep float activations, ``only`` quantizes one group alone."""
    from ai_edge_quantizer import qtyping, recipe, recipe_manager

    ops = qtyping.TFLOperationName
    if precision == "int8-dynamic":
        return recipe.dynamic_wi8_afp32()
    manager = recipe_manager.RecipeManager()
    if precision == "fp16":
        manager.add_weight_only_config(".*", ops.ALL_SUPPORTED, 16, algorithm_key="float_casting")
    elif precision == "int8-full":
        manager.add_static_config(only.regex if only else ".*", ops.ALL_SUPPORTED, 8, 8)
        # XNNPACK's delegate has no int8 HARD_SWISH: an int8 one runs in TFLite's own kernel and cuts the graph
        # into a delegate partition per activation (PP-LCNet: 31 instead of 3, 0.34x fp32's speed; float, 0.90x).
        manager.add_quantization_config(".*", ops.HARD_SWISH, algorithm_key=NO_QUANTIZE)
        # TFLite's int8 DIV stops the interpreter when a divisor rounds to its zero point ("div.cc data[i] !=
        # zero_point": Magika's and PP-OCR's recogniser's int8-full never ran), and XNNPACK has no int8 DIV.
        manager.add_quantization_config(".*", ops.DIV, algorithm_key=NO_QUANTIZE)
        # Static configs leave EMBEDDING_LOOKUP float (measured: 58.6 MB of 90 on the sample); int8 tables.
        manager.add_dynamic_config(".*", ops.EMBEDDING_LOOKUP, 8)
        for group in float_groups:  # later configs win in AEQ: these ops stay float, their weights int8
            manager.add_quantization_config(group.regex, ops.ALL_SUPPORTED, algorithm_key=NO_QUANTIZE)
            for op in WEIGHT_OPS:
                if op in group.op_types:
                    manager.add_dynamic_config(group.regex, ops(op), 8)
    else:
        raise StageError(f"tflite: no recipe for precision '{precision}'")
    return manager.get_quantization_recipe()


def representative_data(calibration: FeedSet, input_names: list[str], signature_inputs: list[str],
                        dtypes: dict[str, Any], count: int | None = None) -> dict[str, list[dict[str, np.ndarray]]]:
    """The calibration feeds, one example at a time, under the flatbuffer's input names and dtypes."""
    n = min(len(calibration), count or len(calibration))
    rows = []
    for i in range(n):
        example = calibration.example(i)
        rows.append({sig: example[name].astype(dtypes[sig]) for name, sig in zip(input_names, signature_inputs,
                                                                                   strict=True)})
    return {SIGNATURE: rows}


def clip_sentinel_ranges(qsvs: dict[str, Any]) -> int:
    """Clip calibrated ranges that span the float-min mask sentinels; return how many were clipped."""
    clipped = 0
    for qsv in qsvs.values():
        if not qsv or "min" not in qsv or "max" not in qsv:
            continue
        low, high = np.asarray(qsv["min"]), np.asarray(qsv["max"])
        if (low < -SENTINEL).any() or (high > SENTINEL).any():
            qsv["min"] = np.maximum(low, -SENTINEL_CLIP).astype(low.dtype)
            qsv["max"] = np.minimum(high, SENTINEL_CLIP).astype(high.dtype)
            clipped += 1
    return clipped


def quantize(float_model: Path, dst: Path, precision: str) -> dict[str, Any]:
    """fp16 / int8-dynamic: write the quantized flatbuffer; return what was done (report.json)."""
    _write(float_model, dst, recipe_for(precision), None)
    return {"precision": precision, "tool": "ai-edge-quantizer", **_describe(precision)}


def quantize_full(float_model: Path, dst: Path, calibration: dict[str, Any], threads: int,
                  judge: Judge | None, settings: FallbackSpec, probe: FeedSet | None,
                  input_names: list[str]) -> dict[str, Any]:
    """int8-full, calibrated once; with a judge, the accuracy-aware search over module groups."""
    from edgeconv.backends.tflite.fallback import describe_fallback, op_groups, rank_groups
    from edgeconv.compress.remedies import LEFT_OUT_ON_TFLITE
    from edgeconv.compress.search import search_int8

    qsvs, clipped = _calibrate(float_model, calibration, threads)
    groups = op_groups(float_model)
    by_name = {g.name: g for g in groups}
    base = {"precision": "int8-full", "tool": "ai-edge-quantizer", **_describe("int8-full"),
            "calibration_examples": len(calibration[SIGNATURE]), "clipped_sentinel_ranges": clipped}

    def make(path: Path, float_groups: list[str], change: dict[str, Any] | None = None) -> dict[str, Any]:
        _write(float_model, path, recipe_for("int8-full", [by_name[n] for n in float_groups]), qsvs)
        return {**base, **describe_fallback(groups, float_groups)}

    if judge is None or probe is None:
        return make(dst, [])

    def rank(first_trial: Path) -> list[Any]:
        reference = _logits(float_model, probe, threads, input_names)
        score = functools.partial(group_alone, float_model=float_model, qsvs=qsvs, probe=probe,
                                  reference=reference, threads=threads, input_names=input_names)
        return rank_groups(groups, score, threads)

    record, fallback = search_int8(make, dst, judge, settings, rank, lambda _: ([], LEFT_OUT_ON_TFLITE))
    return {**record, "fallback": fallback}


def group_alone(group: Any, float_model: Path, qsvs: dict[str, Any], probe: FeedSet, reference: Any,
                threads: int, input_names: list[str]) -> float:
    """One ranking trial: only ``group`` int8, its logit MSE against the float model's on the probe inputs.
    A module-level function (not a closure) so a Ray worker can run it."""
    with tempfile.TemporaryDirectory(prefix="edgeconv-group-") as tmp:
        path = Path(tmp) / "only.tflite"
        _write(float_model, path, recipe_for("int8-full", only=group), qsvs)
        return float(np.mean((_logits(path, probe, threads, input_names) - reference) ** 2))


def _logits(path: Path, feeds: FeedSet, threads: int, input_names: list[str]) -> Any:
    from edgeconv.backends.tflite.fallback import first_output
    from edgeconv.backends.tflite.runner import TFLiteRunner

    with TFLiteRunner(str(path), threads=threads, input_names=input_names) as runner:
        return first_output(runner, feeds)


def _calibrate(float_model: Path, calibration: dict[str, Any], threads: int) -> tuple[dict[str, Any], int]:
    """Min/max ranges of every tensor on the representative data, for any int8-full recipe."""
    from ai_edge_quantizer import quantizer

    if not calibration or not calibration.get(SIGNATURE):
        raise StageError("tflite int8-full needs a calibration set", fix="add calibration.path to the spec")
    q = quantizer.Quantizer(str(float_model))
    q.load_quantization_recipe(recipe_for("int8-full"))
    try:
        qsvs = q.calibrate(calibration, num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        raise StageError(f"tflite int8-full: calibration failed: {str(exc).splitlines()[0][:300]}") from exc
    return qsvs, clip_sentinel_ranges(qsvs)


def _write(float_model: Path, dst: Path, quant_recipe: Any, qsvs: dict[str, Any] | None) -> None:
    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(str(float_model))
    q.load_quantization_recipe(quant_recipe)
    try:
        # AEQ may update the ranges it is given: each candidate gets its own copy.
        result = q.quantize(copy.deepcopy(qsvs) if qsvs is not None else None, enable_progress_bar=False,
                            enable_progress_report=False)
    except (ValueError, RuntimeError) as exc:
        raise StageError(f"tflite: ai-edge-quantizer failed: {str(exc).splitlines()[0][:300]}") from exc
    with atomic_path(dst) as tmp:
        tmp.write_bytes(result.quantized_model)


def _describe(precision: str) -> dict[str, Any]:
    if precision == "fp16":
        return {"weight_type": "float16", "activation_type": "float32"}
    if precision == "int8-dynamic":
        return {"recipe": "dynamic_wi8_afp32", "weight_type": "int8", "activation_type": "float32 (int8 on the fly)",
                "per_channel": True}
    return {"recipe": "static a8w8", "weight_type": "int8", "activation_type": "int8", "per_channel": True,
            "embeddings": "int8"}
