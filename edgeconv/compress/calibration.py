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
