"""Compare two builds: noise-aware regression gate (core), per-example loading, renderers, determinism check."""

from edgeconv.compare.core import (
    ArtifactComparison,
    Comparison,
    MetricChange,
    Thresholds,
    compare_reports,
    compare_sides,
)
from edgeconv.compare.determinism import DeterminismReport, compare_builds
from edgeconv.compare.load import Side, load_side

__all__ = [
    "ArtifactComparison", "Comparison", "DeterminismReport", "MetricChange", "Side", "Thresholds", "compare_builds",
    "compare_reports", "compare_sides", "load_side",
]
