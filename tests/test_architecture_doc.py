"""docs/architecture.md's map lists the layers tests/test_layers.py enforces, in the same order."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_layers import LAYERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_the_map_names_every_layer_in_order() -> None:
    rows = [line for line in DOC.read_text().splitlines() if re.match(r"\| `", line)]
    mapped = [tuple(name.rstrip("/") for name in re.findall(r"`([a-z_]+/?)`", row.split("|")[1])) for row in rows]
    assert mapped == LAYERS
