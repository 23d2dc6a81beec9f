"""`edgeconv build --baseline`: hold a finished build against an earlier one with the noise-aware comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.results import BuildResult


def gate_on_baseline(result: BuildResult, baseline: Path, budgets: Any) -> Any:
    """Compare this build with a baseline (noise-aware intervals); writes compare.md and compare-junit.xml."""
    from edgeconv.compare.core import Thresholds, compare_sides
    from edgeconv.compare.load import load_side
    from edgeconv.compare.render import render_junit, render_markdown
    from edgeconv.fsutil import write_text

    out = Path(result.out_dir)
    comparison = compare_sides(load_side(Path(baseline)), load_side(out), Thresholds.from_budgets(budgets))
    write_text(out / "compare.md", render_markdown(comparison))
    write_text(out / "compare-junit.xml", render_junit(comparison))
    return comparison
