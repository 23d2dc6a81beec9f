"""Parsers for what a Jetson says about itself: ``/etc/nv_tegra_release`` and ``nvpmodel -q``.

Written by hand because no maintained library parses them outside the device (jetson-stats reads
them only on the board itself, through its own service). Tested on real output (tests/remote/samples.py).
"""

from __future__ import annotations

import re
from typing import Any

_RELEASE = re.compile(r"#\s*R(?P<major>\d+)\s*\((?P<kind>[^)]*)\),\s*REVISION:\s*(?P<revision>[\d.]+)(?P<rest>.*)")
_FIELD = re.compile(r"(?P<key>[A-Z]+):\s*(?P<value>[^,]+)")


def parse_nv_tegra_release(text: str) -> dict[str, Any] | None:
    """``# R35 (release), REVISION: 4.1, GCID: ..., BOARD: t186ref, ...`` -> {"l4t": "35.4.1", ...}; None if absent."""
    for line in text.splitlines():
        match = _RELEASE.search(line)
        if not match:
            continue
        revision = match["revision"]
        facts: dict[str, Any] = {
            "l4t": f"{match['major']}.{revision}" + (".0" if revision.count(".") == 0 else ""),
            "l4t_major": int(match["major"]), "release": match["kind"].strip(),
        }
        for field in _FIELD.finditer(match["rest"]):
            facts[field["key"].lower()] = field["value"].strip()
        return facts
    return None


def parse_nvpmodel(text: str) -> dict[str, Any] | None:
    """``nvpmodel -q`` (plain or --verbose): the power mode's name and id; None when it printed none."""
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if "NV Power Mode:" not in line:
            continue
        name = line.split("NV Power Mode:", 1)[1].strip()
        mode_id = next((int(x) for x in lines[i + 1 : i + 3] if x.isdigit()), None)
        return {"name": name, "id": mode_id}
    return None
