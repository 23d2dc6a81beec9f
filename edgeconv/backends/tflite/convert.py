"""PyTorch -> TFLite with litert-torch, at static shapes taken from the spec and its data.

litert-torch traces the model at one example's shapes, so every dynamic axis must be fixed
before conversion: the batch axis becomes 1 (the latency batch on a device), the text 'sequence'
axis the spec's ``text.max_length`` (only when ``padding: max_length`` makes every feed that
long), every other named axis (image height/width, a torch model's declared axes) the size of the
evaluation feeds, which the preprocessing or the .npz file fixes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.backends.tflite.quantize import SIGNATURE
from edgeconv.data.feeds import FeedSet
from edgeconv.data.trim import MASK
from edgeconv.errors import SpecError, StageError
from edgeconv.models.loaded import LoadedModel
from edgeconv.spec import Spec

BATCH_AXES = {"batch", "batch_size", "N"}


def static_shapes(spec: Spec, model: LoadedModel, feeds: FeedSet) -> dict[str, tuple[int, ...]]:
    """The fixed shape of every input, or SpecError naming the axis the spec leaves dynamic."""
    text = spec.text_for(spec.evaluation)
    shapes: dict[str, tuple[int, ...]] = {}
    for info in model.inputs:
        data_shape = feeds.inputs[info.name].shape
        fixed: list[int] = []
        for axis, dim in enumerate(info.shape):
            if isinstance(dim, int):
                fixed.append(dim)
            elif axis == 0 or dim in BATCH_AXES:
                fixed.append(1)
            elif dim == "sequence" and spec.evaluation.format != "npz" and text.padding != "max_length":
                raise SpecError(
                    f"input '{info.name}' axis {axis} ('{dim}') is dynamic: padding: {text.padding} does not fix "
                    "its length and the TFLite route needs static shapes",
                    fix=f"set model.text.padding: max_length (length: model.text.max_length, now {text.max_length})",
                )
            elif axis < len(data_shape):
                fixed.append(int(data_shape[axis]))
            else:
                raise SpecError(
                    f"input '{info.name}' axis {axis} ('{dim}') is dynamic and the data does not fix it",
                    fix=f"give it a size in model.inputs (shape of '{info.name}')",
                )
        shapes[info.name] = tuple(fixed)
    return shapes


def sample_args(model: LoadedModel, feeds: FeedSet, shapes: dict[str, tuple[int, ...]]) -> tuple[Any, ...]:
    """The first evaluation example, at the static shapes, as the positional tensors the module takes."""
    import torch

    args = []
    for info in model.inputs:
        value = np.ascontiguousarray(feeds.inputs[info.name][:1])
        if value.shape != shapes[info.name]:
            raise SpecError(
                f"input '{info.name}': the evaluation feeds have shape {value.shape[1:]}, the model's fixed shape "
                f"is {shapes[info.name][1:]}", fix="make the data's preprocessing match model.inputs")
        args.append(torch.from_numpy(value))
    return tuple(args)


def bucket_args(model: LoadedModel, args: tuple[Any, ...], edges: list[int]) -> dict[int, tuple[Any, ...]]:
    """The sample arguments cut to each bucket's length: every input shaped like the attention mask (token ids,
    token types, positions) is cut with it; the others pass whole."""
    names = [i.name for i in model.inputs]
    mask = args[names.index(MASK)]
    return {edge: tuple(a[:, :edge] if a.shape == mask.shape else a for a in args) for edge in edges}


def signature_name(edge: int) -> str:
    """A bucket's signature key: the runner reads its length from the inputs' shapes, not from this name."""
    return f"len_{edge}"


def convert(model: LoadedModel, args: tuple[Any, ...], out: Path, edges: list[int] | None = None) -> dict[str, Any]:
    """Convert and write the float flatbuffer: one signature at the given shapes, or with ``edges`` one signature
    per length bucket in the same file (the weights stored once); unconvertible ops become one StageError."""
    import litert_torch

    try:  # the loaders hand over eval-mode modules
        if edges:
            (first, cut), *rest = bucket_args(model, args, edges).items()
            converter = litert_torch.signature(signature_name(first), model.module, cut)
            for edge, cut in rest:
                converter.signature(signature_name(edge), model.module, cut)
            edge_model = converter.convert()
        else:
            edge_model = litert_torch.convert(model.module, args)
    except Exception as exc:  # litert-torch raises bare RuntimeError/ValueError for what it cannot lower
        raise conversion_error(exc) from exc
    edge_model.export(str(out))
    return {"signature_inputs": [f"args_{i}" for i in range(len(args))],
            "signatures": [signature_name(e) for e in edges] if edges else [SIGNATURE]}


_LOWERING = re.compile(r"Lowering not found: ([\w.:]+)")


def conversion_error(exc: BaseException) -> StageError:
    """One line: which ops could not be converted, and what the user can do about it."""
    text = str(exc)
    ops = sorted(set(_LOWERING.findall(text)))
    if ops:
        return StageError(
            f"tflite: litert-torch cannot convert op(s) {', '.join(ops)}",
            fix="replace them in the model with supported torch ops, register a lowering "
                "(litert_torch.backend.lowerings), or build this model for an ONNX Runtime target (x86-cpu-ort)",
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return StageError(f"tflite: litert-torch conversion failed: {first[:300]}",
                      fix="run with --debug for the trace; torch.export must be able to trace the model")
