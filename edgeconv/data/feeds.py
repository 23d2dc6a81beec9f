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


TARGETS_FILE = "eval-targets.npz"  # beside eval.npz: the dense ground truth, for comparing builds image by image


def targets_arrays(targets: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-image boxes or masks as flat arrays with per-image counts or shapes (npz holds no ragged lists)."""
    if "mask" in targets[0]:
        return {"masks": np.concatenate([t["mask"].reshape(-1) for t in targets]),
                "mask_shapes": np.array([t["mask"].shape for t in targets], np.int64)}
    return {"boxes": np.concatenate([np.asarray(t["boxes"], np.float64).reshape(-1, 4) for t in targets]),
            "classes": np.concatenate([np.asarray(t["classes"], np.int64).reshape(-1) for t in targets]),
            "counts": np.array([len(t["boxes"]) for t in targets], np.int64)}


def targets_sha256(targets: list[dict[str, Any]]) -> str:
    """A content hash of the ground truth (the data stage's key holds it)."""
    import hashlib

    digest = hashlib.sha256()
    for name, array in sorted(targets_arrays(targets).items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def save_targets(targets: list[dict[str, Any]], path: Path) -> None:
    with Path(path).open("wb") as f:
        np.savez(f, **targets_arrays(targets))


def load_targets(path: Path) -> list[dict[str, Any]]:
    """``save_targets``'s file read back: one {"boxes", "classes"} or {"mask"} per image."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if "masks" in arrays:
        sizes = np.prod(arrays["mask_shapes"], axis=1)
        cuts = np.split(arrays["masks"], np.cumsum(sizes)[:-1])
        return [{"mask": m.reshape(shape)} for m, shape in zip(cuts, arrays["mask_shapes"], strict=True)]
    ends = np.cumsum(arrays["counts"])[:-1]
    return [{"boxes": b, "classes": c} for b, c in zip(np.split(arrays["boxes"], ends),
                                                       np.split(arrays["classes"], ends), strict=True)]
