"""What a build produced and measured: the typed objects behind report.json (see README, 'report contract').

``rows``: one artifact's row (``ArtifactResult``, its ``Measurement``); ``facts``: the typed records a row
carries (runner, timing, remote, prune, backend facts, budgets); ``labels``: the row-label grammar
``<target>[@board][@prune-...]``; ``report_file``: the whole build (``BuildResult``) and ``read_report``.
Every report.json edgeconv writes validates back into these models and dumps to the same JSON.
"""

from edgeconv.results.facts import (
    BackendFacts,
    BudgetCheck,
    Facts,
    Figure,
    Num,
    PruneFacts,
    PruneRecord,
    RemoteFacts,
    RunnerRecord,
    RunnerSpec,
    Timing,
    TimingPass,
    json_safe,
)
from edgeconv.results.generation import GenerationFigures
from edgeconv.results.labels import PRUNE, RowLabel, candidate_of, parse_row, pruned_label, row_label
from edgeconv.results.report_file import BuildResult, read_report, report_json
from edgeconv.results.rows import ERROR, FAILED, PASSED, SKIPPED, ArtifactResult, Measurement

__all__ = [
    "ERROR", "FAILED", "PASSED", "PRUNE", "SKIPPED", "ArtifactResult", "BackendFacts", "BudgetCheck", "BuildResult",
    "Facts", "Figure", "GenerationFigures", "Measurement", "Num", "PruneFacts", "PruneRecord", "RemoteFacts",
    "RowLabel", "RunnerRecord", "RunnerSpec", "Timing", "TimingPass", "candidate_of", "json_safe", "parse_row",
    "pruned_label", "read_report", "report_json", "row_label",
]
