"""The chosen artifact as a unit: what `precision: auto` or `build --device` picked in each build.

A release ships the chosen artifact, so when the candidate picked another one than the baseline did, the gate
says so and compares the two picks with each other (beside the like-for-like rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconv.compare.load import Key
from edgeconv.results import parse_row


@dataclass
class Pick:
    selection: str  # the auto target's name, or "device <class>"
    base: dict[str, Any]
    cand: dict[str, Any]

    @property
    def base_key(self) -> Key:
        return str(self.base.get("target")), str(self.base.get("precision"))

    @property
    def cand_key(self) -> Key:
        return str(self.cand.get("target")), str(self.cand.get("precision"))

    @property
    def changed(self) -> bool:
        return self.base.get("precision") is not None and self.cand.get("precision") is not None \
            and self.base_key != self.cand_key

    def label(self) -> str:
        return f"chosen {self.selection}: {'/'.join(self.base_key)} → {'/'.join(self.cand_key)}"

    def record(self) -> dict[str, Any]:
        return {"selection": self.selection, "baseline": _picked(self.base), "candidate": _picked(self.cand),
                "changed": self.base_key != self.cand_key}

    def note(self) -> str:
        if self.base_key == self.cand_key:
            return f"{self.selection}: both builds chose {_picked(self.base)}"
        text = f"{self.selection}: the choice changed: baseline chose {_picked(self.base)}, candidate " \
               f"{_picked(self.cand)}"
        return text + (" (the two picks are compared as one row)" if self.changed else "")


def chosen_pairs(baseline: dict[str, Any], candidate: dict[str, Any]) -> list[Pick]:
    """Each selection both builds made, matched by its device class or its auto target."""
    base = {_selection(s): s for s in baseline.get("selections") or [] if isinstance(s, dict)}
    return [Pick(name, base[name], s) for s in candidate.get("selections") or []
            if isinstance(s, dict) and (name := _selection(s)) in base]


def _selection(choice: dict[str, Any]) -> str:
    if choice.get("device"):
        return f"device {choice['device']}"
    return parse_row(str(choice.get("target", ""))).target  # a pruned candidate "<target>@prune-..." is its target's


def _picked(choice: dict[str, Any]) -> str:
    if choice.get("precision") is None:
        return f"nothing ({choice.get('reason') or 'no artifact qualified'})"
    return f"{choice.get('target')}/{choice.get('precision')}"
