"""A set of model inputs (and optional labels) as arrays whose first axis is the example."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LABELS_KEY = "__labels__"
UNBATCHED_KEY = "__unbatched__"  # names of inputs fed one example at a time without a batch axis
SHAPE_PREFIX = "__shape__::"  # + an input's name: each example's own shape, where the input is padded


@dataclass
class FeedSet:
    """``unbatched`` inputs have no batch axis in the model (a recurrent state [2, batch, 128], a scalar
    sample rate): their arrays hold one more axis in front, the example, and an example is fed as ``v[i]``."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None = None  # int64 class indices, one per example
    unbatched: frozenset[str] = frozenset()
    # Per example, in the model's input pixels: ground-truth boxes ({"boxes", "classes"}) or a label mask
    # ({"mask"}). Held in memory for scoring only: they never reach a runtime, so they are not saved.
    targets: list[dict[str, Any]] | None = None
    # Inputs whose examples differ in shape (images at their own aspect ratio) are stored zero-padded to the
    # largest; ``shapes[name][i]`` is example i's own shape (without the batch axis), and ``example`` cuts it.
    shapes: dict[str, np.ndarray] = field(default_factory=dict)
    # Per example, what the preprocessing started from (a text, a [text, pair], an image file's path), in
    # memory only: a bundle's golden set carries the first few so the board can replay the preprocessing.
    raw: list[Any] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def example(self, i: int, batch_size: int = 1) -> dict[str, np.ndarray]:
        """Feeds for examples ``i .. i+batch_size`` (keeps the batch axis; unbatched inputs: example ``i``; inputs
        of varying shape: example ``i`` alone, at its own shape)."""
        if self.shapes:
            return {k: v[(i, *(slice(0, int(n)) for n in self.shapes[k][i]))][None] if k in self.shapes
                    else v[i : i + 1] for k, v in self.inputs.items()}
        return {k: np.asarray(v[i]) if k in self.unbatched else v[i : i + batch_size] for k, v in self.inputs.items()}

    def batches(self, batch_size: int = 1) -> Iterator[dict[str, np.ndarray]]:
        step = 1 if self.shapes else batch_size  # examples of varying shape run one at a time
        for i in range(0, len(self), step):
            yield self.example(i, step)

    def head(self, n: int) -> FeedSet:
        labels = None if self.labels is None else self.labels[:n]
        targets = None if self.targets is None else self.targets[:n]
        return FeedSet({k: v[:n] for k, v in self.inputs.items()}, labels, self.unbatched, targets,
                       {k: v[:n] for k, v in self.shapes.items()})

    def save(self, path: Path) -> None:
        arrays = dict(self.inputs)
        if self.labels is not None:
            arrays[LABELS_KEY] = self.labels
        if self.unbatched:
            arrays[UNBATCHED_KEY] = np.array(sorted(self.unbatched))
        arrays.update({SHAPE_PREFIX + k: v for k, v in self.shapes.items()})
        with Path(path).open("wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> FeedSet:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        labels = arrays.pop(LABELS_KEY, None)
        unbatched = frozenset(str(n) for n in arrays.pop(UNBATCHED_KEY, np.array([], dtype=str)))
        shapes = {k[len(SHAPE_PREFIX):]: arrays.pop(k) for k in list(arrays) if k.startswith(SHAPE_PREFIX)}
        return cls(arrays, labels, unbatched, shapes=shapes)
