"""Compare two builds: the noise-aware regression gate (``compare_paths``: every metric of edgeconv.metric_table's
table with its interval), per-example evidence, renderers, the determinism check."""

from edgeconv.compare.change import MetricChange
from edgeconv.compare.core import ArtifactComparison, Comparison, compare_reports, compare_sides
from edgeconv.compare.determinism import DeterminismReport, compare_builds
from edgeconv.compare.load import Side, load_side
from edgeconv.compare.metrics import Thresholds
from edgeconv.compare.run import compare_paths
from edgeconv.metric_table import METRICS, Metric

__all__ = [
    "METRICS", "ArtifactComparison", "Comparison", "DeterminismReport", "Metric", "MetricChange", "Side",
    "Thresholds", "compare_builds", "compare_paths", "compare_reports", "compare_sides", "load_side",
]
