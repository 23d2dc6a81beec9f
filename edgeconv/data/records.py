"""Stream examples from JSONL / CSV files and pick a reproducible subset with bounded memory."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterator
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


def select(
    make_records: Callable[[], Iterator[dict[str, Any]]],
    count: int | None,
    seed: int,
    stratify_field: str | None = None,
) -> list[dict[str, Any]]:
    """All records, or ``count`` of them drawn with a seeded reservoir, in file order.

    Reservoir sampling keeps memory bounded by ``count`` however large the file is. With
    ``stratify_field``, a first pass counts each label and each label gets its own reservoir with
    a quota proportional to its share (largest remainders), so the subset keeps the proportions.
    """
    if count is None:
        return list(make_records())
    if stratify_field is None:
        return _reservoir(enumerate(make_records()), count, random.Random(seed))
    totals: dict[Any, int] = {}
    for record in make_records():
        key = record.get(stratify_field)
        totals[key] = totals.get(key, 0) + 1
    quotas = _quotas(totals, count)
    rng = random.Random(seed)
    chosen: list[tuple[int, dict[str, Any]]] = []
    for key, quota in quotas.items():
        matching = ((i, r) for i, r in enumerate(make_records()) if r.get(stratify_field) == key)
        chosen += [(i, r) for i, r in _reservoir_indexed(matching, quota, rng)]
    return [r for _, r in sorted(chosen, key=lambda pair: pair[0])]


def _quotas(totals: dict[Any, int], count: int) -> dict[Any, int]:
    size = sum(totals.values())
    count = min(count, size)
    exact = {k: count * n / size for k, n in totals.items()}
    quotas = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(exact, key=lambda k: exact[k] - quotas[k], reverse=True)
    for key in by_remainder[: count - sum(quotas.values())]:
        quotas[key] += 1
    return quotas


def _reservoir_indexed(
    records: Iterator[tuple[int, dict[str, Any]]], count: int, rng: random.Random
) -> list[tuple[int, dict[str, Any]]]:
    reservoir: list[tuple[int, dict[str, Any]]] = []
    for seen, pair in enumerate(records):
        if seen < count:
            reservoir.append(pair)
        else:
            j = rng.randint(0, seen)
            if j < count:
                reservoir[j] = pair
    return reservoir


def _reservoir(records: Iterator[tuple[int, dict[str, Any]]], count: int, rng: random.Random) -> list[dict[str, Any]]:
    return [r for _, r in sorted(_reservoir_indexed(records, count, rng), key=lambda pair: pair[0])]


def field_values(records: list[dict[str, Any]], field: str, path: Path) -> list[Any]:
    missing = next((i for i, r in enumerate(records) if field not in r), None)
    if missing is not None:
        keys = ", ".join(sorted(records[missing])) or "none"
        raise DataError(
            f"'{path.name}' example {missing + 1} has no field '{field}' (it has: {keys})",
            fix="set text_field / label_field in the spec's data section",
        )
    return [r[field] for r in records]
