"""The row-label grammar of report.json, stated once: ``<target>[@<board>][@prune-<level>]``.

A pool's board measures its own rows (``pool@pi-5``, the board's name may itself hold an ``@``: ``pi@host:22``);
a ``prune.auto`` level or a sweep ratio builds candidate rows beside the unpruned ones (``cpu@prune-r0.5``).
"""

from __future__ import annotations

from dataclasses import dataclass

PRUNE = "prune-"  # every prune level's tag starts so: prune-r0.5, prune-b2-r0.35, prune-2:4-r0.5
_PRUNED = f"@{PRUNE}"


@dataclass(frozen=True)
class RowLabel:
    """A row's target as its three parts: the profile, the pool board (if any) and the prune level's tag."""

    target: str
    board: str | None = None
    prune: str | None = None  # the level's whole tag, "prune-..."

    def __str__(self) -> str:
        return row_label(self.target, self.board, self.prune)


def row_label(target: str, board: str | None = None, prune: str | None = None) -> str:
    """The row target of ``target`` measured on ``board`` at prune level ``prune`` (a tag starting ``prune-``)."""
    if prune is not None and not prune.startswith(PRUNE):
        raise ValueError(f"a prune level's tag starts with '{PRUNE}': {prune!r}")
    return target + (f"@{board}" if board else "") + (f"@{prune}" if prune else "")


def parse_row(label: str) -> RowLabel:
    """The parts of a row target (the inverse of ``row_label``)."""
    head, sep, level = label.partition(_PRUNED)
    target, _, board = head.partition("@")
    return RowLabel(target, board or None, PRUNE + level if sep else None)


def pruned_label(row_target: str, prune: str) -> str:
    """``row_target`` (a target, or a board's row) as a candidate of prune level ``prune``."""
    parts = parse_row(row_target)
    return row_label(parts.target, parts.board, prune)


def candidate_of(target: str, row_target: str) -> bool:
    """``row_target`` is ``target``'s own row or one of its pruned candidates (not a board of a pool)."""
    parts = parse_row(row_target)
    return parts.target == target and parts.board is None
