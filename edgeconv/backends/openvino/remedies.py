"""OpenVINO int8-static remedies as NNCF options, cheapest first: the ladder compress/search.py climbs.

Each rung is one ``nncf.quantize`` (or, last, ``nncf.quantize_with_accuracy_control``) with the settings kept so
far plus its own; the search keeps it when it brings the candidate closer to the reference, and falls back to
float op by op (ranked by backends/openvino/sensitivity.py) only when no rung met the budgets.

- ``recurrent-float``: LSTM/GRU/RNN sequence ops stay float (NNCF's ignored scope, by type). NNCF quantizes a
  recurrent op's input and weights, and the rounding error compounds over every time step: Resemblyzer's
  3-layer LSTM encoder lost all fidelity (SNR -0.1 dB, cosine 0.48) int8, and reached 25.7 dB with its three
  LSTMSequence ops float, everything around them int8.
- ``mixed-preset``: asymmetric int8 activations (NNCF's MIXED preset) where the default was the symmetric
  PERFORMANCE one: a ReLU-less activation range is not wasted on half the codes.
- ``smoothquant``: NNCF's SmoothQuant at alpha 0.5 (its transformer default is 0.95): activation outlier
  channels migrate into the MatMul weights.
- ``bias-correction``: NNCF's full bias correction instead of the fast one (slower to quantize, same artifact
  cost): the shift int8 weights add to each layer's output mean, measured layer by layer.
- ``overflow-fix``: 7-bit weights in the first layer, only where the CPU lacks VNNI (its int8 kernels saturate).
- ``nncf-accuracy-control``: NNCF reverts the ops that cost the most to float until the spec's budget holds
  (backends/openvino/control.py builds its validation function from the budgets).
"""

from __future__ import annotations

from typing import Any

from edgeconv.compress.search import Rung

RECURRENT = ("LSTMSequence", "GRUSequence", "RNNSequence", "LSTMCell", "GRUCell", "RNNCell")
SMOOTHQUANT_ALPHA = 0.5
REMEDIES = ["recurrent-float", "mixed-preset", "smoothquant", "bias-correction", "overflow-fix",
            "nncf-accuracy-control"]
# The ONNX Runtime remedies NNCF has no counterpart for (or applies by itself), said in report.json.
LEFT_OUT = {
    "float-outputs": "NNCF never quantizes an op's output by itself, only the inputs of the next int8 op",
    "percentile": "NNCF's range estimators are chosen by its preset and model type, not per trial here",
    "entropy": "NNCF's range estimators are chosen by its preset and model type, not per trial here",
    "weighted-ops": "NNCF quantizes only the inputs of ops with int8 kernels already",
    "reduce-range": "NNCF's counterpart is overflow-fix",
    "int16-activations": "OpenVINO's CPU plugin has no 16-bit integer kernels",
    "symmetric": "symmetric int8 activations are NNCF's PERFORMANCE preset; mixed-preset tries the other way",
}


def openvino_ladder(model: Any, common: dict[str, Any], saturates: bool, control: str | None,
                    wanted: list[str] | None) -> tuple[list[Rung], list[dict[str, str]]]:
    """The rungs for ``model`` (an ov.Model) under the default recipe ``common``, and those left out with why.
    ``saturates``: the CPU's int8 kernels saturate (x86 without VNNI); ``control``: what NNCF's accuracy control
    would restore (None: nothing it can); ``wanted``: the spec's ``quantize.fallback.remedies`` (None: every
    one that applies)."""
    names = REMEDIES if wanted is None else [n for n in wanted if n in REMEDIES]
    skipped = [{"remedy": n, "why": LEFT_OUT.get(n, "not an OpenVINO remedy")}
               for n in (wanted if wanted is not None else LEFT_OUT) if n not in REMEDIES]
    types: dict[str, list[str]] = {}
    for op in model.get_ops():
        types.setdefault(op.get_type_name(), []).append(op.get_friendly_name())
    rungs = []
    for name in names:
        rung, why = _rung(name, types, common, saturates, control)
        if rung is not None:
            rungs.append(rung)
        else:
            skipped.append({"remedy": name, "why": why})
    return rungs, skipped


def _rung(name: str, types: dict[str, list[str]], common: dict[str, Any], saturates: bool,
          control: str | None) -> tuple[Rung | None, str]:
    """One remedy as a rung, or None and why it does not apply to this model."""
    if name == "recurrent-float":
        found = [t for t in RECURRENT if t in types]
        if not found:
            return None, "the model has no LSTM/GRU/RNN op"
        ops = [n for t in found for n in types[t]]
        return Rung(name, {"ignored_types": found},
                    f"{', '.join(ops)} ({'/'.join(found)}) kept float: int8 rounding of a recurrent op's input and "
                    "weights compounds over every time step"), ""
    if name == "mixed-preset":
        if common["preset"] == "mixed":
            return None, "the default recipe uses the MIXED preset (asymmetric activations) already"
        return Rung(name, {"preset": "mixed"}, "asymmetric int8 activations (NNCF's MIXED preset)"), ""
    if name == "smoothquant":
        if "MatMul" not in types:
            return None, "no MatMul to move activation outliers into"
        return Rung(name, {"model_type": "transformer", "smooth_quant_alpha": SMOOTHQUANT_ALPHA},
                    f"activation outlier channels moved into the MatMul weights (alpha {SMOOTHQUANT_ALPHA})"), ""
    if name == "bias-correction":
        return Rung(name, {"fast_bias_correction": False},
                    "NNCF's full bias correction: each layer's output shift from int8 weights measured and removed"), ""
    if name == "overflow-fix":
        if not saturates:
            return None, "this CPU's int8 kernels do not saturate (VNNI, or not x86)"
        return Rung(name, {"overflow_fix": "enable"}, "7-bit weights: int8 kernels without VNNI saturate"), ""
    if name == "nncf-accuracy-control":
        if control is None:
            return None, "no budget NNCF's accuracy control can restore (it needs a task metric with labels, "\
                         "min_agreement or a cosine/SNR fidelity budget)"
        return Rung(name, {"accuracy_control": True}, f"NNCF reverts the costliest ops to float until {control} "
                    "is within its budget"), ""
    return None, "unknown remedy"
