"""report.json through the typed results and back: the check tests/conftest.py runs on every report the suite
writes, and tests/test_results.py on a real one."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from edgeconv.results import BuildResult


def as_written(report: dict[str, Any]) -> str:
    """report.json's bytes as edgeconv.fsutil.write_json writes them."""
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


def assert_round_trips(text: str, dump: Any = None, where: str = "report.json") -> None:
    """``text`` (a report.json) validates into BuildResult and dumps back to the same bytes. ``dump``: the
    unpatched ``BuildResult.to_dict`` when the conftest hook wraps it."""
    typed = BuildResult.from_report(json.loads(text))
    again = as_written((dump or BuildResult.to_dict)(typed))
    if again != text:
        diff = "\n".join(difflib.unified_diff(text.splitlines(), again.splitlines(), "written", "round-tripped",
                                              lineterm="", n=2))
        raise AssertionError(f"{where} does not round-trip through edgeconv.results:\n{diff[:4000]}")


def written_by_edgeconv(path: Path) -> str | None:
    """The report's text when it is formatted as edgeconv writes it (a test that edits a report rewrites it in
    its own format, and is left out), else None."""
    try:
        text = path.read_text(encoding="utf-8")
        report = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(report, dict) or "artifacts" not in report or as_written(report) != text:
        return None
    return text
