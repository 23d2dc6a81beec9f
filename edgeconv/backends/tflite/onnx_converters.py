"""onnx2torch converters the ONNX -> TFLite route adds: Pad (reflect/edge on any rank, opset 18's axes), LSTM, GRU.

Imported by the conversion worker only (onnx2torch lives on its path, not the main environment's).
Why each (measured on the zoo, docs/tflite.md):
- Pad: onnx2torch 1.5.15 drops the last two torch pad pairs for reflect/edge, assuming NCHW, so a 2-D
  [batch, samples] reflect pad (Silero VAD's STFT) loses its padding and a 3-D one padding a leading axis
  raises; it has no converter for opset 18's Pad (``axes`` input). Here the padded axes are found from the
  pads themselves and the tensor is reshaped to the rank ``torch.nn.functional.pad`` takes for them.
- LSTM / GRU: onnx2torch has no converter. They map onto ``torch.nn.LSTM`` / ``torch.nn.GRU`` with the
  gate blocks reordered (ONNX iofc -> torch ifgo, ONNX zrh -> torch rzn). On CPU those trace to
  ``aten.mkldnn_rnn_layer``, which litert-torch cannot lower, so the worker traces with oneDNN off
  (``torch.backends.mkldnn.flags``): the cells unroll into matmuls and activations at the static length.
What torch's modules cannot express (peepholes, clip, non-default activations, sequence_lens, GRU with
``linear_before_reset=0``) raises NotImplementedError naming the attribute, which the route reports.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F  # noqa: N812  # torch's own spelling
from onnx2torch.node_converters.registry import OperationDescription, add_converter
from onnx2torch.onnx_graph import OnnxGraph
from onnx2torch.onnx_node import OnnxNode
from onnx2torch.utils.common import OnnxMapping, OnnxToTorchModule, OperationConverterResult
from torch import nn

PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}


class OnnxPad(nn.Module, OnnxToTorchModule):
    """ONNX Pad (opsets 11-19) at any rank: torch's reflect/replicate pad only the last 1-3 axes of a tensor
    with one or two more axes, so the axes before the first padded one are folded into one batch axis."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor, pads: torch.Tensor, constant_value: torch.Tensor | None = None,
                axes: torch.Tensor | None = None) -> torch.Tensor:
        rank = x.dim()
        values = [int(p) for p in pads.tolist()]
        chosen = [a % rank for a in axes.tolist()] if axes is not None else list(range(rank))
        begin, end = [0] * rank, [0] * rank
        for i, axis in enumerate(chosen):
            begin[axis], end[axis] = values[i], values[len(chosen) + i]
        if self.mode == "constant":
            value = float(constant_value) if constant_value is not None else 0.0
            return F.pad(x, _torch_pads(begin, end, 0), mode="constant", value=value)
        first = next((a for a in range(rank) if begin[a] or end[a]), rank)
        if first == rank:
            return x
        if rank - first > 3:
            raise NotImplementedError(f"Pad mode {self.mode} on {rank - first} axes: torch pads at most 3 that way")
        # one batch axis in front of the padded ones: the rank torch's reflect/replicate pads take
        folded = x.reshape(math.prod(x.shape[:first]), *x.shape[first:])
        out = F.pad(folded, _torch_pads(begin, end, first), mode=self.mode)
        return out.reshape(*x.shape[:first], *out.shape[1:])


def _torch_pads(begin: list[int], end: list[int], first: int) -> list[int]:
    """ONNX [b0, b1, ..., e0, e1, ...] from axis ``first`` on as torch's (last axis first) [b_n, e_n, ...]."""
    out: list[int] = []
    for axis in reversed(range(first, len(begin))):
        out += [begin[axis], end[axis]]
    return out


def _pad(node: OnnxNode, graph: OnnxGraph) -> OperationConverterResult:  # onnx2torch's signature
    mode = node.attributes.get("mode", "constant")
    if mode not in PAD_MODES:
        raise NotImplementedError(f"Pad mode {mode} has no torch equivalent")
    return OperationConverterResult(torch_module=OnnxPad(PAD_MODES[mode]),
                                    onnx_mapping=OnnxMapping(inputs=node.input_values, outputs=node.output_values))


class OnnxRecurrent(nn.Module, OnnxToTorchModule):
    """ONNX LSTM / GRU (layout 0: X [seq, batch, input]) as torch's module; returns (Y, Y_h[, Y_c]) in ONNX's
    shapes: Y [seq, directions, batch, hidden], states [directions, batch, hidden]. A reverse-only layer runs
    the forward torch layer over the time-reversed sequence."""

    def __init__(self, rnn: nn.LSTM | nn.GRU, reverse: bool) -> None:
        super().__init__()
        self.rnn = rnn
        self.reverse = reverse

    def forward(self, x: torch.Tensor, initial_h: torch.Tensor | None = None,
                initial_c: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        seq, batch = x.shape[0], x.shape[1]
        dirs, hidden = 2 if self.rnn.bidirectional else 1, self.rnn.hidden_size
        zeros = x.new_zeros(dirs, batch, hidden)
        h0 = initial_h if initial_h is not None else zeros
        if self.reverse:
            x = x.flip(0)
        if isinstance(self.rnn, nn.LSTM):
            y, (h, c) = self.rnn(x, (h0, initial_c if initial_c is not None else zeros))
            states: tuple[torch.Tensor, ...] = (h, c)
        else:
            y, h = self.rnn(x, h0)
            states = (h,)
        if self.reverse:
            y = y.flip(0)
        return (y.reshape(seq, batch, dirs, hidden).permute(0, 2, 1, 3), *states)


def _weights(node: OnnxNode, graph: OnnxGraph) -> list[torch.Tensor | None]:
    """W, R, B as tensors (B may be absent); each must be an initializer to become the torch module's weights."""
    names = list(node.input_values[1:4]) + [""] * (4 - len(node.input_values))
    out: list[torch.Tensor | None] = []
    for name in names[:3]:
        if not name:
            out.append(None)
        elif name in graph.initializers:
            out.append(graph.initializers[name].to_torch())
        else:
            raise NotImplementedError(f"{node.operation_type} weight '{name}' is computed, not a constant")
    return out


def _check_recurrent(node: OnnxNode, activations: list[str], dirs: int) -> None:
    attributes = node.attributes
    given = [a.decode() if isinstance(a, bytes) else a for a in attributes.get("activations", [])]
    refused = {"clip": "clip" in attributes, "input_forget": bool(attributes.get("input_forget", 0)),
               "layout=1": bool(attributes.get("layout", 0)),
               f"activations {given}": bool(given) and [g.lower() for g in given] != activations * dirs,
               "sequence_lens": len(node.input_values) > 4 and bool(node.input_values[4]),
               "peepholes (P)": len(node.input_values) > 7 and bool(node.input_values[7])}
    named = [name for name, present in refused.items() if present]
    if named:
        raise NotImplementedError(f"{node.operation_type} with {', '.join(named)} has no torch.nn equivalent")


def _recurrent(node: OnnxNode, graph: OnnxGraph, kind: str) -> OperationConverterResult:
    lstm = kind == "LSTM"
    direction = node.attributes.get("direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    dirs, hidden = DIRECTIONS[direction], int(node.attributes["hidden_size"])
    _check_recurrent(node, ["sigmoid", "tanh", "tanh"] if lstm else ["sigmoid", "tanh"], dirs)
    if not lstm and not node.attributes.get("linear_before_reset", 0):
        raise NotImplementedError("GRU with linear_before_reset=0 has no torch.nn equivalent (torch applies the "
                                  "reset gate after the recurrent matmul)")
    weight, recurrence, bias = _weights(node, graph)
    assert weight is not None and recurrence is not None  # ONNX requires W and R
    # ONNX gate blocks -> torch's: LSTM i,o,f,c -> i,f,g(c),o; GRU z,r,h -> r,z,n
    order = [0, 2, 3, 1] if lstm else [1, 0, 2]
    cls = nn.LSTM if lstm else nn.GRU
    rnn = cls(weight.shape[2], hidden, bidirectional=dirs == 2)

    def blocks(t: torch.Tensor) -> torch.Tensor:
        parts = t.reshape(len(order), hidden, *t.shape[1:])
        return torch.cat([parts[i] for i in order])

    with torch.no_grad():
        for d in range(dirs):
            suffix = "_reverse" if d == 1 else ""
            getattr(rnn, f"weight_ih_l0{suffix}").copy_(blocks(weight[d]))
            getattr(rnn, f"weight_hh_l0{suffix}").copy_(blocks(recurrence[d]))
            b = bias[d] if bias is not None else weight.new_zeros(2 * len(order) * hidden)
            getattr(rnn, f"bias_ih_l0{suffix}").copy_(blocks(b[: len(order) * hidden]))
            getattr(rnn, f"bias_hh_l0{suffix}").copy_(blocks(b[len(order) * hidden:]))
    inputs = (node.input_values[0], *(node.input_values[5:7] if lstm else node.input_values[5:6]))
    return OperationConverterResult(torch_module=OnnxRecurrent(rnn.eval(), reverse=direction == "reverse"),
                                    onnx_mapping=OnnxMapping(inputs=inputs, outputs=node.output_values))


def _lstm(node: OnnxNode, graph: OnnxGraph) -> OperationConverterResult:
    return _recurrent(node, graph, "LSTM")


def _gru(node: OnnxNode, graph: OnnxGraph) -> OperationConverterResult:
    return _recurrent(node, graph, "GRU")


@functools.cache
def register() -> None:
    """Add the converters to onnx2torch's registry, for every opset version ONNX defines each op in. onnx2torch's
    own Pad converters (opsets 11, 13) are replaced: its registry refuses a second converter for an op, so their
    entries are removed first (onnx2torch has no public way to override one)."""
    from onnx import defs
    from onnx2torch.node_converters import registry

    for version in (11, 13):
        registry._CONVERTER_REGISTRY.pop(OperationDescription("", "Pad", version), None)
    converters = {"Pad": _pad, "LSTM": _lstm, "GRU": _gru}
    for schema in defs.get_all_schemas_with_history():
        if schema.domain == "" and schema.name in converters and schema.since_version >= 7 \
                and (schema.name != "Pad" or schema.since_version >= 11):
            add_converter(operation_type=schema.name, version=schema.since_version)(converters[schema.name])
