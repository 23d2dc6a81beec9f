"""ONNX -> TFLite in a worker process: static shapes, onnx2torch, constants baked in, litert-torch.

Run as ``python -m edgeconv.backends.tflite.onnx_route_worker MODEL.onnx EXAMPLES.npz OUT.tflite RESULT.json``
with onnx2torch on the path (``onnx_tflite_env``). A process of its own because the converters can crash
or hold gigabytes; the parent turns a failure into one line and a log.

Why each step (measured on the zoo's PaddleOCR classifier / detector / recogniser and YOLOv8n):
- shapes fixed from the examples, then ONNX shape inference: litert-torch converts at static shapes; then
  onnxslim again, which at static shapes folds the If nodes a shape test drives (Silero VAD has five);
- ``auto_pad: SAME_*`` made explicit pads: onnx2torch raises NotImplementedError on SAME_UPPER (PP-OCRv6);
- Pad (reflect/edge on any rank, opset 18), LSTM and GRU converted by ``onnx_converters`` (onnx2torch has
  none that work for them);
- GlobalMaxPool written as the ReduceMax over the spatial axes it is: onnx2torch has no converter for it
  (Magika's tf2onnx graph);
- onnx2torch's modules branch in Python on constant operands (``if torch.any(shape == 0)`` in Reshape,
  ``.tolist()`` in Resize/Split/Pad), which torch.export refuses as data-dependent; tracing with
  ``make_fx`` on real tensors evaluates those branches and bakes the constants in as literals, leaving
  a plain aten graph. Two traces on two different examples must give the same code, so nothing that
  depends on the input's values is baked in silently.
"""

from __future__ import annotations

import json
import math
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

SAME_PADDED = ("Conv", "MaxPool", "AveragePool")


def stub_torchvision_if_broken() -> None:
    """onnx2torch imports torchvision at import time for two converters (NonMaxSuppression, RoiAlign). Where
    torchvision cannot load (a CUDA build beside a CPU torch), those two raise when used instead."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        def unavailable(*_: Any, **__: Any) -> Any:
            raise NotImplementedError("torchvision cannot be imported here: NonMaxSuppression and RoiAlign "
                                      "cannot be converted")

        ops = types.ModuleType("torchvision.ops")
        ops.nms = ops.box_convert = ops.roi_align = unavailable  # type: ignore[attr-defined]
        package = types.ModuleType("torchvision")
        package.ops = ops  # type: ignore[attr-defined]
        sys.modules.update({"torchvision": package, "torchvision.ops": ops})


def fix_shapes(model: Any, shapes: dict[str, tuple[int, ...]]) -> Any:
    """The model with every graph input at its static shape and shapes inferred through the graph."""
    from onnx import shape_inference

    for value in model.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name], strict=True):
                dim.ClearField("dim_param")
                dim.dim_value = size
    for value in model.graph.output:  # symbolic output dims from the export would contradict the fixed ones
        for dim in value.type.tensor_type.shape.dim:
            dim.ClearField("dim_param")
            dim.ClearField("dim_value")
    del model.graph.value_info[:]
    return shape_inference.infer_shapes(model, strict_mode=True)


def slim_at_static_shapes(model: Any, feeds: dict[str, np.ndarray]) -> tuple[Any, bool]:
    """onnxslim's result at the static shapes, where shape tests fold (Silero VAD's five If nodes go), kept only
    when ONNX Runtime gives it the same outputs as the model on ``feeds`` (as the import keeps onnxslim's result)."""
    import contextlib
    import io

    import onnxruntime as ort
    import onnxslim

    with contextlib.redirect_stdout(io.StringIO()):  # onnxslim prints tensor protos it cannot fold
        slim = onnxslim.slim(model)
    if slim is None:
        return model, False
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        before, after = (ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
                         .run(None, feeds) for m in (model, slim))
    except Exception:  # ORT refusing the rewritten graph: keep the model as it was
        return model, False
    same = all(a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in
               zip(before, after, strict=True))
    return (slim, True) if same else (model, False)


def explicit_same_pads(model: Any) -> int:
    """Replace ``auto_pad: SAME_UPPER / SAME_LOWER`` by the pads ONNX defines for them; return how many.

    Written here because neither onnx nor onnxslim rewrites auto_pad, and onnx2torch rejects it.
    ONNX: output = ceil(input / stride); total pad = max(0, (output - 1) * stride + (kernel - 1) * dilation
    + 1 - input); SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start.
    """
    from onnx import helper

    graph = model.graph
    known = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
             for v in [*graph.value_info, *graph.input]}
    weights = {t.name: list(t.dims) for t in graph.initializer}
    changed = 0
    for node in graph.node:
        attributes = {a.name: a for a in node.attribute}
        mode = attributes["auto_pad"].s.decode() if "auto_pad" in attributes else "NOTSET"
        if node.op_type not in SAME_PADDED or mode not in ("SAME_UPPER", "SAME_LOWER"):
            continue
        spatial = known.get(node.input[0], [])[2:]
        if not spatial or not all(spatial):
            raise ValueError(f"node '{node.name}' ({node.op_type}): auto_pad {mode} on an input of unknown size")
        kernel = list(attributes["kernel_shape"].ints) if "kernel_shape" in attributes \
            else weights[node.input[1]][2:]
        strides = list(attributes["strides"].ints) if "strides" in attributes else [1] * len(spatial)
        dilations = list(attributes["dilations"].ints) if "dilations" in attributes else [1] * len(spatial)
        begin, end = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            total = max(0, (math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size)
            low = total // 2 if mode == "SAME_UPPER" else total - total // 2
            begin.append(low)
            end.append(total - low)
        for name in ("auto_pad", "pads"):
            if name in attributes:
                node.attribute.remove(attributes[name])
        node.attribute.append(helper.make_attribute("pads", begin + end))
        changed += 1
    return changed


def global_max_pools_as_reduce_max(model: Any) -> int:
    """GlobalMaxPool(x) is ReduceMax(x, axes=[2, ..., rank-1], keepdims=1) by ONNX's definition; return how many
    were replaced. Opset 18 moved ReduceMax's axes from an attribute to an input."""
    from onnx import helper, numpy_helper

    graph = model.graph
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in [*graph.value_info, *graph.input]}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    changed = 0
    for i, node in enumerate(graph.node):
        if node.op_type != "GlobalMaxPool":
            continue
        axes = list(range(2, ranks[node.input[0]]))
        if opset >= 18:
            axes_name = f"{node.name or node.output[0]}_axes"
            graph.initializer.append(numpy_helper.from_array(np.array(axes, np.int64), axes_name))
            reduce = helper.make_node("ReduceMax", [node.input[0], axes_name], list(node.output), node.name, keepdims=1)
        else:
            reduce = helper.make_node("ReduceMax", [node.input[0]], list(node.output), node.name, axes=axes,
                                      keepdims=1)
        graph.node.remove(node)
        graph.node.insert(i, reduce)
        changed += 1
    return changed


def multi_output_results_via_identity(model: Any) -> int:
    """Give each graph output that a multi-output node (LSTM's Y_h) produces an Identity of its own; return how many.
    onnx2torch returns such a node's whole output tuple as the graph output instead of the one result."""
    from onnx import helper

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    changed = 0
    for value in graph.output:
        node = producers.get(value.name)
        if node is None or len([o for o in node.output if o]) < 2:
            continue
        inner = f"{value.name}__edgeconv_result"
        node.output[list(node.output).index(value.name)] = inner
        graph.node.append(helper.make_node("Identity", [inner], [value.name]))
        changed += 1
    return changed


def refuse_unconvertible(model: Any) -> None:
    """NotImplementedError naming every op onnx2torch has no converter for, before any conversion starts."""
    from onnx2torch.node_converters import get_converter

    opsets = {o.domain or "": o.version for o in model.opset_import}
    missing: set[str] = set()
    for node in model.graph.node:
        try:
            get_converter(operation_type=node.op_type, version=opsets.get(node.domain or "", 1),
                          domain=node.domain or "")
        except NotImplementedError:
            missing.add(node.op_type if not node.domain else f"{node.domain}.{node.op_type}")
    if missing:
        raise NotImplementedError(f"onnx2torch has no converter for ONNX op(s) {', '.join(sorted(missing))}")


def to_torch(model: Any, examples: list[tuple[Any, ...]]) -> tuple[Any, dict[str, int]]:
    """The ONNX model (its inputs already at static shapes) as a plain aten graph, and what was rewritten."""
    import onnx2torch

    from edgeconv.backends.tflite.onnx_converters import register

    register()
    rewrites = {"same_pads_made_explicit": explicit_same_pads(model),
                "global_max_pools_rewritten": global_max_pools_as_reduce_max(model),
                "outputs_given_identity": multi_output_results_via_identity(model)}
    refuse_unconvertible(model)  # after the rewrites, which replace ops onnx2torch lacks (GlobalMaxPool)
    return bake_constants(onnx2torch.convert(model).eval(), examples), rewrites


def bake_constants(module: Any, examples: list[tuple[Any, ...]]) -> Any:
    """A plain aten graph of ``module`` with its constant-driven Python branches evaluated (see the module doc)."""
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    traced = []
    for args in examples:
        # oneDNN off: torch's LSTM/GRU (onnx_converters) would trace to aten.mkldnn_rnn_layer, which litert-torch
        # cannot lower; without it they unroll into matmuls and activations
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
            graph = make_fx(module, tracing_mode="real", _error_on_data_dependent_ops=False)(*args)
        for node in list(graph.graph.nodes):  # the scalar reads themselves: their values are baked in
            if node.op == "call_function" and node.target is torch.ops.aten._local_scalar_dense.default \
                    and not node.users:
                graph.graph.erase_node(node)
        graph.graph.eliminate_dead_code()
        graph.recompile()
        traced.append(graph)
    if len({g.code for g in traced}) > 1:
        raise ValueError("the graph's shapes or control flow depend on the input's values (two examples traced "
                         "differently), so it cannot be converted at static shapes")
    return traced[0].eval()


def examples_from(path: Path, names: list[str]) -> list[tuple[Any, ...]]:
    """Two examples as positional tensors in the graph's input order (the second perturbed if there is one); np.array,
    not np.ascontiguousarray, which makes a scalar input (a sample rate) 1-D."""
    import torch

    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in names}
    count = len(next(iter(arrays.values())))
    first = tuple(torch.from_numpy(np.array(arrays[n][0])) for n in names)
    if count > 1:
        return [first, tuple(torch.from_numpy(np.array(arrays[n][1])) for n in names)]
    shifted = tuple(t + torch.rand_like(t) if t.is_floating_point() else t for t in first)
    return [first, shifted]


def convert(onnx_path: Path, examples_path: Path, out: Path) -> dict[str, Any]:
    import litert_torch
    import onnx

    start = time.perf_counter()
    model = onnx.load(str(onnx_path))
    initializers = {t.name for t in model.graph.initializer}
    names = [v.name for v in model.graph.input if v.name not in initializers]
    examples = examples_from(examples_path, names)
    model = fix_shapes(model, {n: tuple(t.shape) for n, t in zip(names, examples[0], strict=True)})
    model, slimmed = slim_at_static_shapes(model, {n: t.numpy() for n, t in zip(names, examples[0], strict=True)})
    module, rewrites = to_torch(model, examples)
    litert_torch.convert(module, examples[0]).export(str(out))
    return {"input_names": names, "signature_inputs": [f"args_{i}" for i in range(len(names))],
            "output_names": [o.name for o in model.graph.output], **rewrites, "slimmed_at_static_shapes": slimmed,
            "aten_ops": sum(1 for n in module.graph.nodes if n.op == "call_function"),
            "seconds": round(time.perf_counter() - start, 2)}


def main(argv: list[str]) -> None:
    onnx_path, examples_path, out, result = (Path(a) for a in argv)
    stub_torchvision_if_broken()
    result.write_text(json.dumps(convert(onnx_path, examples_path, out)))


if __name__ == "__main__":
    main(sys.argv[1:])
