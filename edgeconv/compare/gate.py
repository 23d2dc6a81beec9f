"""`edgeconv build --baseline`: hold a finished build against an earlier one with the noise-aware comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.results import BuildResult


def gate_on_baseline(result: BuildResult, baseline: Path, spec: Any) -> Any:
    """Compare this build with a baseline (``compare_paths``, limits from the spec's budgets, its custom metric
    recomputed per example when it trusts that code); writes compare.md and compare-junit.xml."""
    from edgeconv.compare.metrics import Thresholds
    from edgeconv.compare.render import render_junit, render_markdown
    from edgeconv.compare.run import compare_paths, spec_facts
    from edgeconv.fsutil import write_text

    out = Path(result.out_dir)
    budgets, metric = spec_facts(spec)
    comparison = compare_paths(Path(baseline), out, Thresholds.from_budgets(budgets), metric=metric)
    write_text(out / "compare.md", render_markdown(comparison))
    write_text(out / "compare-junit.xml", render_junit(comparison))
    return comparison
