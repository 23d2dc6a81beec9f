"""ONNX Runtime's entry to the accuracy-aware int8 search (compress/search.py): the float fallback ranks quantized
nodes by the error each adds (``sensitivity.rank_nodes``); candidates are scored by compress/judge.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeconv.compress.judge import Judge
from edgeconv.compress.quantize import QuantRecord
from edgeconv.compress.search import Ladder, Make, Refusal, search_int8
from edgeconv.compress.sensitivity import rank_nodes
from edgeconv.data.feeds import FeedSet
from edgeconv.spec import FallbackSpec


def quantize_with_fallback(
    make: Make[QuantRecord], float_graph: Path, dst: Path, judge: Judge, sensitivity_feeds: FeedSet,
    settings: FallbackSpec, nodes: list[str], ladder: Ladder | None = None,
    localise: Callable[[Path], dict[str, Any]] | None = None, refusal: Refusal | None = None,
) -> QuantRecord:
    """Write the chosen ONNX artifact to ``dst``; its record carries every trial, remedy and the ranking used."""

    def rank(trial: Path) -> list[Any]:
        return rank_nodes(float_graph, trial, nodes, sensitivity_feeds)

    record, fallback = search_int8(make, dst, judge, settings, rank if nodes else None, ladder, localise, refusal)
    record.fallback = fallback
    return record
