"""Map label values in a data file (names or class indices) to the model's class indices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import DataError


def encode_labels(values: list[Any], labels: list[str], path: Path) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        if isinstance(value, str) and value in index:
            out[i] = index[value]
        elif isinstance(value, int | np.integer) or (isinstance(value, str) and value.strip().isdigit()):
            out[i] = int(value)
        else:
            raise DataError(
                f"'{path.name}' example {i + 1}: label {value!r} is not one of the model's labels {labels}",
                fix="use the model's label names or class indices (model.labels in the spec sets the names)",
            )
        if labels and not 0 <= out[i] < len(labels):
            raise DataError(f"'{path.name}' example {i + 1}: class index {out[i]} is out of range for {labels}")
    return out
