"""TFLite quantization recipes on ai-edge-quantizer (AEQ), applied to the float flatbuffer.

- fp16: weights cast to float16 (AEQ ``float_casting``), compute in float: half the size, same outputs.
- int8-dynamic: AEQ's ``dynamic_wi8_afp32``: int8 per-channel weights, activations quantized on the fly
  by the kernels (XNNPACK's dynamically-quantized fully-connected): the fast CPU default.
- int8-full: static int8 weights and activations from a representative dataset (the spec's calibration
  set, never random data), embedding tables int8, and the numerically sensitive ops (softmax, GELU,
  the layer-norm reductions) at int16 activations (16x8), where AEQ supports them. The attention mask
  adds float-min sentinels (-3.4e38) to the scores; a min/max range that spans them leaves no
  resolution for the real scores, so ranges beyond +-1e4 are clipped to +-``SENTINEL_CLIP`` first
  (exp(-32) is nothing next to 1 in a softmax). AEQ has no percentile calibration to do this for us.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError

SENTINEL = 1e4
SENTINEL_CLIP = 32.0
SIGNATURE = "serving_default"  # litert-torch's default signature key
INT16_OPS = ("SOFTMAX", "GELU", "MEAN", "RSQRT")  # sensitive ops AEQ can run at 16x8


def recipe_for(precision: str, int16_sensitive: bool = False) -> Any:
    from ai_edge_quantizer import qtyping, recipe, recipe_manager

    ops = qtyping.TFLOperationName
    if precision == "int8-dynamic":
        return recipe.dynamic_wi8_afp32()
    manager = recipe_manager.RecipeManager()
    if precision == "fp16":
        manager.add_weight_only_config(".*", ops.ALL_SUPPORTED, 16, algorithm_key="float_casting")
    elif precision == "int8-full":
        manager.add_static_config(".*", ops.ALL_SUPPORTED, 8, 8)
        if int16_sensitive:
            for name in INT16_OPS:
                manager.add_static_config(".*", ops[name], 16, 8)
        # Static configs leave EMBEDDING_LOOKUP float (measured: 58.6 MB of 90 on the sample); int8 tables.
        manager.add_dynamic_config(".*", ops.EMBEDDING_LOOKUP, 8)
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


def quantize(float_model: Path, dst: Path, precision: str, calibration: dict[str, Any] | None = None,
             threads: int = 1, int16_sensitive: bool = False) -> dict[str, Any]:
    """Write the quantized flatbuffer; return what was done (for report.json's ``quantization``)."""
    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(str(float_model))
    q.load_quantization_recipe(recipe_for(precision, int16_sensitive))
    record: dict[str, Any] = {"precision": precision, "tool": "ai-edge-quantizer"}
    qsvs = None
    try:
        if q.need_calibration:
            if not calibration:
                raise StageError(f"tflite {precision} needs a calibration set", fix="add calibration.path to the spec")
            qsvs = q.calibrate(calibration, num_threads=threads)
            record["calibration_examples"] = len(calibration[SIGNATURE])
            record["clipped_sentinel_ranges"] = clip_sentinel_ranges(qsvs)
        result = q.quantize(qsvs, enable_progress_report=False)
    except (ValueError, RuntimeError) as exc:
        raise StageError(f"tflite {precision}: ai-edge-quantizer failed: {str(exc).splitlines()[0][:300]}") from exc
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(result.quantized_model)
    tmp.replace(dst)
    record.update(_describe(precision, int16_sensitive))
    return record


def _describe(precision: str, int16_sensitive: bool) -> dict[str, Any]:
    if precision == "fp16":
        return {"weight_type": "float16", "activation_type": "float32"}
    if precision == "int8-dynamic":
        return {"recipe": "dynamic_wi8_afp32", "weight_type": "int8", "activation_type": "float32 (int8 on the fly)",
                "per_channel": True}
    return {"recipe": "static a8w8" + (" + 16x8 " + "/".join(INT16_OPS) if int16_sensitive else ""),
            "weight_type": "int8", "activation_type": "int8", "per_channel": True, "embeddings": "int8"}
