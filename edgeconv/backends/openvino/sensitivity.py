"""Which of NNCF's int8 ops hurt fidelity most: the diagnosis of an OpenVINO int8 candidate and the order of
its float fallback (NNCF's ignored scope, by name).

The float IR and the candidate run side by side on calibration examples with every quantized op's output and
the outputs feeding it exposed (``Model.add_outputs``; NNCF keeps the float model's op names). An op's score
is the relative error of its output minus the largest relative error among its inputs: the noise the op adds
itself, not what it inherited (as compress/sensitivity.py scores ONNX nodes).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.compress.sensitivity import NodeSensitivity
from edgeconv.data.feeds import FeedSet

PASS_THROUGH = ("FakeQuantize", "Convert", "Constant", "Parameter")
NO_VALUES = ("ShapeOf", "Result")  # ops that read a quantized tensor but compute no float values from it


def quantized_ops(model: Any) -> dict[str, Any]:
    """The ops that read a FakeQuantize output (NNCF's int8 ops), by name."""
    return {op.get_friendly_name(): op for op in model.get_ops()
            if op.get_type_name() not in ("FakeQuantize", *NO_VALUES)
            and any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())}


def rank_ops(float_model: Any, candidate: Path, feeds: FeedSet) -> list[NodeSensitivity]:
    """NNCF's int8 ops of ``candidate`` (an IR), most harmful first, measured on ``feeds``."""
    import openvino as ov

    core = ov.Core()
    quantized = core.read_model(str(candidate))
    ops = quantized_ops(quantized)
    float_ops = {op.get_friendly_name(): op for op in float_model.get_ops()}
    watched = {name: _sources(op) for name, op in ops.items() if name in float_ops}
    tensors = sorted({name for name in watched} | {s for sources in watched.values() for s in sources}
                     & set(float_ops))
    runs = [_exposed(core, model, tensors) for model in (float_model.clone(), quantized)]
    noise, signal = Counter[str](), Counter[str]()
    for k in range(len(feeds)):
        example = feeds.example(k)
        reference, outputs = (run(example) for run in runs)
        for name in tensors:
            if name in reference and name in outputs and reference[name].shape == outputs[name].shape:
                noise[name] += float(np.sum((outputs[name].astype(np.float64) - reference[name]) ** 2))
                signal[name] += float(np.sum(reference[name].astype(np.float64) ** 2))
    error = {n: float(np.sqrt(noise[n] / signal[n])) if signal[n] > 0 else 0.0 for n in signal}
    ranked = [NodeSensitivity(name, ops[name].get_type_name(),
                              error.get(name, 0.0) - max((error.get(s, 0.0) for s in sources), default=0.0),
                              error.get(name, 0.0))
              for name, sources in watched.items()]
    return sorted(ranked, key=lambda r: -r.score)


def diagnosis(ranked: list[NodeSensitivity], top: int = 8) -> dict[str, Any]:
    """What report.json keeps: the ops adding the most error, and the error added per op type."""
    by_type: Counter[str] = Counter()
    for r in ranked:
        by_type[r.op_type] += max(r.score, 0.0)
    return {"ops": [{"name": r.name, "op_type": r.op_type, "added_error": round(r.score, 5),
                     "output_error": round(r.output_error, 5)} for r in ranked[:top]],
            "added_error_by_type": {t: round(v, 5) for t, v in by_type.most_common()}}


def _sources(op: Any) -> list[str]:
    """The ops whose float outputs feed ``op``, looking through FakeQuantize and Convert (weights excluded)."""
    found = []
    for port in op.inputs():
        node = port.get_source_output().get_node()
        while node.get_type_name() in ("FakeQuantize", "Convert") and node.get_input_size():
            node = node.input(0).get_source_output().get_node()
        if node.get_type_name() not in PASS_THROUGH:
            found.append(node.get_friendly_name())
    return found


def _exposed(core: Any, model: Any, names: list[str]) -> Any:
    """A callable running ``model`` with output 0 of each named op exposed: feeds -> {op name: array}."""
    by_name = {op.get_friendly_name(): op for op in model.get_ops()}
    ports = [by_name[n].output(0) for n in names if n in by_name and by_name[n].get_output_size()]
    model.add_outputs(ports)
    # the op each output comes from: the producer of its Result
    producers = [out.get_node().input_value(0).get_node().get_friendly_name() for out in model.outputs]
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = compiled(feeds)
        return {name: np.asarray(result[k]) for k, name in enumerate(producers)}

    return run
