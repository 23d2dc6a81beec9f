"""`edgeconv build --shard I/N`: one deterministic slice of the build's target x precision (x board) matrix.

Cells (a target's precision, on one board of a pool) are dealt round-robin in matrix order (cell k goes to
shard k mod N + 1), so the heavy precisions of one target (int8-static, int8-full) land on different shards.
Every shard exports and verifies the same reference (shared through the stage cache) and times its own cells
interleaved with it; `edgeconv merge` joins the shards and makes the `auto` choices over all cells (see
choose.py: across timing passes it ranks speed-ups over the reference timed in the same pass, never raw times
from different processes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from edgeconv.errors import SpecError
from edgeconv.spec.targets import TargetProfile

Selected = list[tuple[TargetProfile, list[str]]]


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if not found or not 1 <= int(found.group(1)) <= int(found.group(2)):
            raise SpecError(f"--shard '{text}' is not I/N with 1 <= I <= N",
                            fix="give e.g. --shard 1/2 and --shard 2/2 (see `edgeconv ci matrix`)")
        return cls(int(found.group(1)), int(found.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def cell(target: str, precision: str, board: str | None = None) -> str:
    """A matrix cell's name: ``target/precision``, or ``target/precision@board`` for a board of a pool."""
    return f"{target}/{precision}" + (f"@{board}" if board else "")


def _boards(profile: TargetProfile) -> list[str | None]:
    return [d.label for d in profile.devices] or [None]


def cells(selected: Selected) -> list[str]:
    """The build's matrix, in build order: each precision of each target, on each board of a pool."""
    return [cell(profile.name, precision, board) for profile, precisions in selected for precision in precisions
            for board in _boards(profile)]


def take(selected: Selected, shard: Shard) -> tuple[Selected, dict[str, Any]]:
    """The slice of ``selected`` this shard builds (a pool's profile keeps only this shard's boards of each
    precision), and the record merge checks it against."""
    matrix = cells(selected)
    mine = set(matrix[shard.index - 1::shard.count])
    sliced: Selected = []
    for profile, precisions in selected:
        if not profile.devices:
            kept = [p for p in precisions if cell(profile.name, p) in mine]
            sliced += [(profile, kept)] if kept else []
            continue
        for precision in precisions:  # the artifact is built on every shard that has a board for it (cached)
            boards = [d for d in profile.devices if cell(profile.name, precision, d.label) in mine]
            sliced += [(profile.model_copy(update={"devices": boards}), [precision])] if boards else []
    record = {"index": shard.index, "count": shard.count, "matrix": matrix,
              "cells": [c for c in matrix if c in mine]}
    return sliced, record


def ci_matrix(selected: Selected, shards: int | None = None) -> dict[str, Any]:
    """A CI job matrix (GitHub Actions ``strategy.matrix``): one entry per shard, with the cells it builds.
    ``shards`` defaults to one per cell."""
    matrix = cells(selected)
    count = len(matrix) if shards is None else shards
    if count < 1:
        raise SpecError("--shards must be at least 1")
    count = min(count, max(len(matrix), 1))  # never an empty shard
    return {"include": [{"shard": f"{i}/{count}", "cells": matrix[i - 1::count]} for i in range(1, count + 1)]}
