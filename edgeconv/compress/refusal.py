"""A quantized candidate that ONNX Runtime refuses to load: which node, why, and the remedy to try next.

ORT names the node it refuses (``Node (NAME) Op (TYPE) [KIND] reason``). The quantizer keeps float node names and
names its own Q/DQ nodes after the tensor they carry (``<tensor>_QuantizeLinear``), so the refused node maps back to
the float graph by name, or through the tensor its Q/DQ neighbour carries. Two causes are told apart:

- **a tensor name written twice**: ONNX Runtime's quantizer (1.2x) gives a bias shared by two Conv nodes a copy
  named ``<bias><n+1>`` after the initializers alone, and a tf2onnx graph can already hold an *activation* of that
  name (Basic Pitch: bias ``conv1d_25;conv1d_25``, Conv output ``conv1d_25;conv1d_252``). The copy's
  DequantizeLinear then overwrites the activation and a consumer (there a Transpose) sees a [36] bias where a
  [N, 36, 1, 172] tensor should be. Remedy ``unshare-initializers``: every consumer of a shared bias gets its own
  copy under a name no tensor has, in the float graph before quantization; the nodes stay int8, nothing is kept
  float, and the quantizer has nothing left to copy.
- **anything else**: the refused node (or the float node next to its Q/DQ pair) is kept float, remedy
  ``keep-float``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

# ORT's load errors: "... Node (NAME) Op (TYPE) [ShapeInferenceError] reason" / "Node (NAME) output arg ..."
_NODE = re.compile(r"Node \((?P<node>.*?)\) Op \((?P<op>[\w.]+)\)\s*(?:\[(?P<kind>\w+)\])?\s*(?P<reason>.*)", re.S)
_QDQ_SUFFIXES = ("_QuantizeLinear", "_DequantizeLinear")
UNSHARE = "unshare-initializers"
BIAS_OPS = ("Conv", "ConvTranspose", "Gemm")  # the ops whose bias ORT's QDQ quantizer copies when shared
KEEP_FLOAT = "keep-float"


def parse(message: str) -> dict[str, str] | None:
    """The node, op and reason of an ONNX Runtime refusal, or None when the message names no node."""
    found = _NODE.search(message)
    if found is None:
        return None
    reason = " ".join(found.group("reason").split())[:300]
    return {"node": found.group("node"), "op": found.group("op"), "kind": found.group("kind") or "",
            "reason": reason}


def localise(float_graph: Path, candidate: Path, message: str) -> dict[str, Any] | None:
    """Why ONNX Runtime refused ``candidate`` (quantized from ``float_graph``), as report.json's search keeps it:
    the node, op and reason, the float nodes involved, and the remedy (``remedy``, ``keep_float``, ``change``).
    None when the message is not a refusal of a node (then it is not the search's to handle)."""
    import onnx

    refused = parse(message)
    if refused is None:
        return None
    float_graph_proto = onnx.load(str(float_graph), load_external_data=False).graph
    graph = onnx.load(str(candidate), load_external_data=False).graph
    float_nodes = {n.name for n in float_graph_proto.node}
    found: dict[str, Any] = {**refused, "float_nodes": _in_float_graph(refused["node"], graph, float_nodes)}
    swapped = constant_for_activation(float_graph_proto, graph)
    if swapped:
        first = swapped[0]
        found["constant_for_activation"] = swapped[:10]
        found["why"] = (f"the quantized graph feeds {first['node']} a constant where the float graph feeds it "
                        f"'{first['tensor']}' (written by {first['writer']}): the quantizer's copy of a bias that "
                        "several nodes share took that tensor's name")
        if shared_initializers(float_graph):
            return {**found, "remedy": UNSHARE, "keep_float": [], "change": {"unshare_initializers": True}}
        found["float_nodes"] = sorted({*found["float_nodes"], *(s["node"] for s in swapped),
                                       *(s["writer"] for s in swapped)})
    else:
        found["why"] = f"ONNX Runtime refuses the quantized {refused['op']} node: {refused['reason']}"
    return {**found, "remedy": KEEP_FLOAT, "keep_float": found["float_nodes"], "change": {}}


def constant_for_activation(float_graph: Any, graph: Any) -> list[dict[str, str]]:
    """Float nodes that the quantized ``graph`` feeds a constant (an initializer, or the DequantizeLinear of one)
    at an input where ``float_graph`` feeds them a node's output: a tensor name the quantizer reused."""
    writers = {o: n.name for n in float_graph.node for o in n.output}
    float_inputs = {n.name: list(n.input) for n in float_graph.node}
    constants = {i.name for i in graph.initializer}
    constant_dq = {o for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in constants
                   for o in n.output}
    found = []
    for node in graph.node:
        before = float_inputs.get(node.name)
        if before is None or len(before) != len(node.input):
            continue
        for was, now in zip(before, node.input, strict=True):
            if was in writers and (now in constants or now in constant_dq):
                found.append({"node": node.name, "tensor": was, "writer": writers[was]})
    return found


def _in_float_graph(node: str, graph: Any, float_nodes: set[str]) -> list[str]:
    """The float graph's node(s) behind a node of the quantized graph: itself, or for a Q/DQ node the float nodes
    that write or read the tensor it carries."""
    if node in float_nodes:
        return [node]
    tensor = next((node[: -len(s)] for s in _QDQ_SUFFIXES if node.endswith(s)), None)
    if tensor is None:
        return []
    return sorted({n.name for n in graph.node if n.name in float_nodes and tensor in (*n.input, *n.output)})


def shared_initializers(graph_path: Path) -> dict[str, int]:
    """Bias initializers that several Conv/Gemm nodes read, with how many: the ones the quantizer copies (a
    shared weight is quantized once and its DequantizeLinear shared, so weights are left alone)."""
    import onnx

    graph = onnx.load(str(graph_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    readers = Counter(_bias(n) for n in graph.node if _bias(n) in initializers)
    return {name: k for name, k in readers.items() if k > 1}


def _bias(node: Any) -> str | None:
    return node.input[2] if node.op_type in BIAS_OPS and len(node.input) > 2 and node.input[2] else None


def unshare_initializers(src: Path, dst: Path) -> int:
    """Write ``src`` with every reader but the first of a shared bias given its own copy, under a name no tensor
    of the graph has. Returns how many copies were made."""
    import onnx

    model = onnx.load(str(src))
    graph = model.graph
    shared = shared_initializers(src)
    taken = {i.name for i in graph.initializer} | {t for n in graph.node for t in (*n.input, *n.output)} \
        | {v.name for v in (*graph.input, *graph.output)}
    originals = {i.name: i for i in graph.initializer if i.name in shared}
    seen: set[str] = set()
    copies = 0
    for k, node in enumerate(graph.node):
        name = _bias(node)
        if name not in originals:
            continue
        if name not in seen:
            seen.add(name)
            continue
        copy = onnx.TensorProto()
        copy.CopyFrom(originals[name])
        copy.name = _free_name(f"{name}_for_{node.name or k}", taken)
        taken.add(copy.name)
        graph.initializer.append(copy)
        node.input[2] = copy.name
        copies += 1
    onnx.save(model, str(dst))
    return copies


def _free_name(wanted: str, taken: set[str]) -> str:
    name, k = wanted, 0
    while name in taken:
        k += 1
        name = f"{wanted}_{k}"
    return name
