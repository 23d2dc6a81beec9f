"""`edgeconv compare --format html`: each metric's change per artifact with its confidence interval, the
limit as a line, regressions in red (the page and plotting of edgeconv.report.html)."""

from __future__ import annotations

import html
from typing import Any

from edgeconv.compare.change import REGRESSION
from edgeconv.compare.core import Comparison
from edgeconv.metric_table import POINTS, definition
from edgeconv.report.html import page


def render_html(result: Comparison) -> str:
    named = dict.fromkeys(m.metric for a in result.artifacts for m in a.metrics)  # snr_db[out], module:function
    sections = [(metric, _figure(result, metric)) for metric in named]
    verdict = (f"{len(result.regressions)} regression(s): " + ", ".join(f"{a.label} {m.metric}" for a, m in
                                                                        result.regressions)
               if result.regressed else "no regression")
    table = "".join(f"<p>{html.escape(n)}</p>" for n in result.notes)
    return page(f"edgeconv compare: {result.baseline} → {result.candidate}", verdict, table, sections)


def _figure(result: Comparison, metric: str) -> Any:
    import plotly.graph_objects as go

    d = definition(metric)
    title = d.title if d.name != "metric" else f"{metric} change (candidate - baseline)"
    title += f": {metric[len(d.name):]}" if metric.startswith(d.name + "[") else ""
    sign, scale = -d.direction, 100.0 if d.unit is POINTS or d.relative else 1.0  # points and percent
    points = [(a.label, m) for a in result.artifacts for m in a.metrics if m.metric == metric and m.change is not None]
    if not points:
        return None
    fig = go.Figure(go.Scatter(
        x=[label for label, _ in points], y=[m.change * scale for _, m in points], mode="markers",  # type: ignore[operator]
        marker={"size": 12, "color": ["#d62728" if m.status == REGRESSION else "#1f77b4" for _, m in points]},
        error_y={"type": "data", "symmetric": False,
                 "array": [((m.high if m.high is not None else m.change) - m.change) * scale for _, m in points],  # type: ignore[operator]
                 "arrayminus": [(m.change - (m.low if m.low is not None else m.change)) * scale for _, m in points]},  # type: ignore[operator]
        hovertext=[f"{m.status}: {m.note or m.method}" for _, m in points]))
    thresholds = {m.threshold for _, m in points if m.threshold is not None}
    for threshold in thresholds:
        fig.add_hline(y=sign * threshold * scale, line_dash="dash", line_color="red", annotation_text="limit")
    fig.add_hline(y=0, line_color="#888")
    fig.update_layout(yaxis_title=title, height=380)
    return fig
