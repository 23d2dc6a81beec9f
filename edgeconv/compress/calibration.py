"""Feed ONNX Runtime's calibrators from a FeedSet made of the user's real calibration data."""

from __future__ import annotations

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from edgeconv.data.feeds import FeedSet


class FeedSetReader(CalibrationDataReader):
    """Streams one example at a time (batch 1), so calibration memory stays bounded."""

    def __init__(self, feeds: FeedSet) -> None:
        self.feeds = feeds
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self.feeds):
            return None
        example = self.feeds.example(self._next)
        self._next += 1
        return example

    def rewind(self) -> None:
        self._next = 0


class ShapeGroupReader(FeedSetReader):
    """A calibration set of several input shapes, read one shape group per call of ORT's strided calibration.

    ONNX Runtime's histogram collector (percentile, entropy) stacks every activation a ``collect_data`` call
    gathered into one array, which fails when the examples differ in shape. Its strided calibration
    (``extra_options={"CalibStridedMinMax": 1}``, which runs for every method) calls ``set_range`` and
    ``collect_data`` once per unit of ``len()``, and the collector merges each call's histograms into the last.
    Here a unit is a shape group, largest first (it sets the histograms' bins), so every call stacks one shape.
    """

    def __init__(self, feeds: FeedSet) -> None:
        super().__init__(feeds)
        groups: dict[tuple, list[int]] = {}
        for i in range(len(feeds)):
            groups.setdefault(tuple((k, v.shape) for k, v in feeds.example(i).items()), []).append(i)
        self.groups = sorted(groups.values(), key=len, reverse=True)
        self._indices = [i for group in self.groups for i in group]

    def __len__(self) -> int:
        return len(self.groups)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._indices = [i for group in self.groups[start_index:end_index] for i in group]
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._indices):
            return None
        example = self.feeds.example(self._indices[self._next])
        self._next += 1
        return example
