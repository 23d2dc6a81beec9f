"""The model family facts graph optimizers need (ONNX Runtime's fusions need heads and hidden size)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelFamily:
    model_type: str | None = None  # the HF config's model_type, e.g. "bert"
    num_heads: int = 0  # 0: unknown (the optimizer then guesses, and often fails to fuse attention)
    hidden_size: int = 0

    @classmethod
    def from_config(cls, config: Any) -> ModelFamily:
        return cls(
            getattr(config, "model_type", None),
            int(getattr(config, "num_attention_heads", 0) or 0),
            int(getattr(config, "hidden_size", 0) or 0),
        )
