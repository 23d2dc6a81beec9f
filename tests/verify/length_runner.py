"""A runner whose call time is a function of the sequence length it is fed (no clock involved), standing for a
runtime with a dynamic sequence axis (``onnxruntime``), one with a fixed sequence length (``fixed``: refuses any
other length, as ORT does for a static dimension) or a static-shape runtime (``tflite``; with ``buckets``, one that
runs each input in the smallest length bucket holding its mask, as LiteRT's bucketed runner does)."""

from __future__ import annotations

import numpy as np

from edgeconv.backends.runner import Runner

PADDED = 64


class LengthRunner(Runner):
    def __init__(self, path: str, runtime: str, per_token_s: float, buckets: list[int] | None = None) -> None:
        super().__init__()
        self.name, self.per_token_s, self.buckets = runtime, per_token_s, buckets or []
        self.lengths: list[int] = []

    def activate(self) -> None:
        """Nothing to load."""

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        length = feeds["input_ids"].shape[1]
        if self.buckets:
            used = int(np.flatnonzero(feeds["attention_mask"].reshape(-1))[-1]) + 1
            length = next(b for b in self.buckets if used <= b)
        if self.name == "fixed" and length != PADDED:
            raise RuntimeError(f"Got invalid dimensions for input: input_ids index: 1 Got: {length} Expected: 64")
        self.lengths.append(length)
        self.last_inference_s = self.per_token_s * length
        return {"logits": np.zeros((1, 2), np.float32)}
