"""The int8-static remedies, cheapest first, and which of them pay off on a runtime.

Each remedy is one quantize-and-evaluate trial (compress/search.py keeps it when it brings the
candidate closer to the reference, and tries the next on top of it). Ordered by what they cost the
artifact: the first four leave it as fast (or faster), 7-bit weights cost nothing at run time either;
float fallback (after the ladder) gives up int8 kernels node by node.

- ``float-outputs``: MatMul/Gemm outputs stay float. A transformer's worst-quantized tensors are the
  FFN and attention projections' outputs flowing into the residual Add (channel outliers 40-200x the
  median on MiniLM, 15 dB SQNR); ONNX Runtime then runs MatMulIntegerToFloat, no requantization.
- ``percentile`` / ``entropy``: clip calibration ranges instead of min/max, so a rare outlier value does
  not set the scale for the rest.
- ``smoothquant``: migrate activation outlier channels into the weights (compress/smoothquant.py).
- ``weighted-ops``: a convolutional network's element-wise ops stay float, only Conv/MatMul/Gemm are
  int8 (Magika: every-op int8 lost 2 points; Conv/MatMul/Gemm alone 0.8).
- ``reduce-range``: 7-bit weights, where ORT's uint8 x int8 kernels saturate (x86 without VNNI).
- ``int16-activations``: the worst tensors (from the localisation) in 16 bits: only for runtimes with
  16-bit kernels; never by default here, ORT's CPU EP runs those ops in float.
- ``symmetric``: int8 activations with zero-point 0: TensorRT's form (already its default); on ORT's
  CPU EP, S8S8 kernels measured slower than fp32 (MEASURED.md), so never by default there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.compress.architecture import is_convolutional
from edgeconv.compress.search import Rung
from edgeconv.spec import QuantizeSpec

WEIGHTED_OPS = ["Conv", "MatMul", "Gemm"]
PERCENTILE = 99.99
SMOOTHQUANT_ALPHA = 0.5
INT16_TENSORS = 4  # the worst-quantized activations (by local SQNR) given 16 bits

NOT_BY_DEFAULT = {
    "int16-activations": "ONNX Runtime's CPU EP and TensorRT have no 16-bit integer kernels: a uint16 Q/DQ pair "
                         "runs its op in float, costing what float fallback costs plus the Q/DQ",
    "symmetric": "ONNX Runtime's S8S8 kernels measured slower than fp32 on x86 (MEASURED.md); TensorRT targets "
                 "are symmetric already",
}


def static_ladder(graph: Path, settings: QuantizeSpec, seven_bit_helps: bool,
                  diagnosis: dict[str, Any] | None = None) -> tuple[list[Rung], list[dict[str, str]]]:
    """The remedies to try on ``graph`` in order, and the ones left out with why (for report.json)."""
    static = settings.static
    wanted = settings.fallback.remedies
    names = wanted if wanted is not None else [n for n in REMEDIES if n not in NOT_BY_DEFAULT]
    convolutional = is_convolutional(graph)
    rungs, skipped = [], [{"remedy": n, "why": why} for n, why in NOT_BY_DEFAULT.items()
                          if wanted is None]
    for name in names:
        rung, why = _rung(name, graph, static, convolutional, seven_bit_helps, diagnosis)
        if rung is not None:
            rungs.append(rung)
        else:
            skipped.append({"remedy": name, "why": why})
    return rungs, skipped


def _rung(name: str, graph: Path, static: Any, convolutional: bool, seven_bit_helps: bool,
          diagnosis: dict[str, Any] | None) -> tuple[Rung | None, str]:
    """One remedy as a rung, or None and why it does not apply to this model and setting."""
    if name == "float-outputs":
        if convolutional:
            return None, "a convolutional network: QLinearConv chains need quantized outputs"
        if not static.quantize_outputs:
            return None, "the spec already keeps MatMul/Gemm outputs float"
        return Rung(name, {"quantize_outputs": False}, "the projections' outputs (the residual stream) stay float",
                    complements=True), ""
    if name in ("percentile", "entropy"):
        if static.method != "minmax":
            return None, f"the spec sets quantize.static.method: {static.method}"
        change: dict[str, Any] = {"method": name} | ({"percentile": PERCENTILE} if name == "percentile" else {})
        why = (f"ranges clipped at the {PERCENTILE}th percentile of |x|" if name == "percentile"
               else "ranges chosen by KL divergence of the histograms")
        return Rung(name, change, why), ""
    if name == "smoothquant":
        if static.smoothquant is not None:
            return None, "the spec sets quantize.static.smoothquant"
        if not _has_smoothable(graph):
            return None, "no MatMul/Gemm multiplies an activation by a weight"
        return Rung(name, {"smoothquant": SMOOTHQUANT_ALPHA},
                    f"activation outlier channels moved into the weights (alpha {SMOOTHQUANT_ALPHA})"), ""
    if name == "weighted-ops":
        if not convolutional or static.op_types is not None:
            return None, "only for a convolutional network quantized over every op"
        return Rung(name, {"op_types": WEIGHTED_OPS}, "element-wise ops stay float; Conv/MatMul/Gemm int8",
                    complements=True), ""
    if name == "reduce-range":
        if not seven_bit_helps:
            return None, ("the spec sets quantize.static.reduce_range" if static.reduce_range is not None else
                          "this runtime's int8 kernels do not saturate (VNNI, TensorRT or CUDA)")
        return Rung(name, {"reduce_range": True}, "7-bit weights: ORT's u8 x s8 kernels saturate without VNNI"), ""
    if name == "int16-activations":
        worst = [a["name"] for a in (diagnosis or {}).get("activations", [])[:INT16_TENSORS]]
        if not worst:
            return None, "no localisation of the error to pick tensors from"
        return Rung(name, {"activation_16bit": worst}, f"the {len(worst)} worst-quantized activations in 16 bits"), ""
    if name == "symmetric":
        if static.activation_type == "int8":
            return None, "activations are symmetric int8 already"
        return Rung(name, {"activation_type": "int8"}, "symmetric int8 activations (zero-point 0)"), ""
    return None, "unknown remedy"


def _has_smoothable(graph: Path) -> bool:
    import onnx

    from edgeconv.compress.smoothquant import smoothable

    return bool(smoothable(onnx.load(str(graph), load_external_data=False).graph))


REMEDIES = ["float-outputs", "percentile", "entropy", "smoothquant", "weighted-ops", "reduce-range",
            "int16-activations", "symmetric"]

# TFLite int8-full (ai-edge-quantizer) shares the search with module groups as its float-fallback units; why
# none of the ONNX remedies is a rung there (report.json's remedies_left_out says so for each build).
LEFT_OUT_ON_TFLITE = [
    {"remedy": "float-outputs", "why": "int8-full makes every tensor int8 by definition; keeping tensors float "
                                       "is what the module-group fallback does"},
    {"remedy": "percentile", "why": "ai-edge-quantizer calibrates activations by (moving-average) min/max; it has "
                                    "no histogram calibration"},
    {"remedy": "entropy", "why": "ai-edge-quantizer calibrates activations by (moving-average) min/max; it has no "
                                 "histogram calibration"},
    {"remedy": "smoothquant", "why": "int8-full quantizes the smoothing Mul's own input too, so the outlier is "
                                     "rounded before it is smoothed"},
    {"remedy": "reduce-range", "why": "LiteRT's int8 kernels take full 8-bit weights"},
    {"remedy": "int16-activations", "why": "LiteRT's 16x8 kernels have no XNNPACK path: all-16x8 ran ~30x slower "
                                           "on the sample (docs/tflite.md)"},
]
