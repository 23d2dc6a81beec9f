"""Stream examples from JSONL / CSV files and pick a reproducible subset with bounded memory."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeconv.errors import DataError


def iter_records(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    """Yield one dict per example; a line that is not of the declared format is a DataError."""
    if not path.is_file():
        raise DataError(f"data file '{path}' not found", fix="check the path in the spec")
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"'{path.name}' line {number} is not JSON ({exc.msg})",
                        fix="give one JSON object per line, or set format: csv",
                    ) from exc
                if not isinstance(record, dict):
                    raise DataError(f"'{path.name}' line {number} is not a JSON object")
                yield record
    elif fmt == "csv":
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                return
            yield from reader
    else:
        raise DataError(f"'{path.name}': format '{fmt}' holds tensors, not records")


def select(records: Iterator[dict[str, Any]], count: int | None, seed: int) -> list[dict[str, Any]]:
    """All records, or ``count`` of them drawn uniformly with a seeded reservoir, in file order.

    Reservoir sampling keeps memory bounded by ``count`` however large the file is.
    """
    if count is None:
        return list(records)
    rng = random.Random(seed)
    reservoir: list[tuple[int, dict[str, Any]]] = []
    for i, record in enumerate(records):
        if i < count:
            reservoir.append((i, record))
        else:
            j = rng.randint(0, i)
            if j < count:
                reservoir[j] = (i, record)
    return [r for _, r in sorted(reservoir, key=lambda pair: pair[0])]


def field_values(records: list[dict[str, Any]], field: str, path: Path) -> list[Any]:
    missing = next((i for i, r in enumerate(records) if field not in r), None)
    if missing is not None:
        keys = ", ".join(sorted(records[missing])) or "none"
        raise DataError(
            f"'{path.name}' example {missing + 1} has no field '{field}' (it has: {keys})",
            fix="set text_field / label_field in the spec's data section",
        )
    return [r[field] for r in records]
