"""torch modules that give every source the same calling form: positional tensors in, logits out.

This is the shape ``torch.onnx.export`` and the torch runner want. Imported only where torch is.
"""

from __future__ import annotations

from typing import Any

import torch


class NamedLogits(torch.nn.Module):
    """A transformers model called with keyword inputs, returning ``.logits``."""

    def __init__(self, model: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, args, strict=True))).logits


class FirstOutput(torch.nn.Module):
    """A torch.export / TorchScript model whose first output is the logits.

    ``source`` keeps what was loaded (an ExportedProgram or a ScriptModule): the exporter takes it
    as it is, since neither can be traced again from inside a Python module.
    """

    def __init__(self, source: Any) -> None:
        super().__init__()
        self.source = source
        self.model = source.module() if isinstance(source, torch.export.ExportedProgram) else source
        # Not .eval(): a torch.export module refuses train()/eval() calls; it is already inference-only.
        self.training = False

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        out = self.model(*args)
        return out[0] if isinstance(out, tuple | list) else out
