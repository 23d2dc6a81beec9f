"""Save a pruned torch model and load it back safely: a state dict plus its new shapes as JSON.

Structured pruning changes layer shapes, so the original architecture no longer fits the weights.
We record each changed module's parameter/buffer shapes and size attributes (JSON, no pickle) and
rebuild them on a freshly loaded unpruned model before ``load_state_dict``; the weights are read
with ``torch.load(weights_only=True)``. (Torch-Pruning's own serialization pickles whole module
``__dict__``s, which cannot be loaded safely.) Dropping blocks shortens a ModuleList: every list's
length is recorded, and a longer one is cut to it before the (renumbered) weights are loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS, STRUCTURE = "pruned.pt", "structure.json"
SIZE_ATTRS = ("in_features", "out_features", "in_channels", "out_channels", "num_features", "normalized_shape",
              "num_attention_heads", "attention_head_size", "all_head_size", "groups", "embedding_dim")


def describe(model: nn.Module) -> dict[str, Any]:
    """Per module: the shapes of its own parameters/buffers and its size attributes."""
    out: dict[str, Any] = {}
    for name, module in model.named_modules():
        tensors = {k: list(v.shape) for k, v in [*module._parameters.items(), *module._buffers.items()]
                   if v is not None}
        attrs = {a: _plain(getattr(module, a)) for a in SIZE_ATTRS if isinstance(getattr(module, a, None), int | tuple)}
        if tensors or attrs:
            out[name] = {"tensors": tensors, "attrs": attrs}
    return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def save_pruned(model: nn.Module, folder: Path) -> None:
    torch.save(model.state_dict(), folder / WEIGHTS)
    lists = {name: len(m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList)}
    (folder / STRUCTURE).write_text(json.dumps({"modules": describe(model), "lists": lists}), encoding="utf-8")


def load_pruned(model: nn.Module, folder: Path) -> nn.Module:
    """Reshape ``model`` (the unpruned architecture) to the recorded structure, then load the weights."""
    from edgeconv.compress.depth import set_blocks

    structure = json.loads((folder / STRUCTURE).read_text(encoding="utf-8"))
    for name, length in structure["lists"].items():
        blocks = model.get_submodule(name)
        if len(blocks) > length:
            set_blocks(model, name, list(blocks)[:length])
    modules = dict(model.named_modules())
    for name, entry in structure["modules"].items():
        module = modules[name]
        for key, shape in entry["tensors"].items():
            current = module._parameters.get(key) if key in module._parameters else module._buffers.get(key)
            if current is None or list(current.shape) == shape:
                continue
            fresh = torch.empty(shape, dtype=current.dtype)
            if key in module._parameters:
                module._parameters[key] = nn.Parameter(fresh, requires_grad=current.requires_grad)
            else:
                module._buffers[key] = fresh
        for attr, value in entry["attrs"].items():
            setattr(module, attr, tuple(value) if isinstance(value, list) else value)
    state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
