"""report.html: one self-contained page (plotly.js inlined, no network) to choose between a build's artifacts.

Drawn from the report.json dict, so a build, a prune sweep and ``edgeconv compare`` draw the same way:
quality against p50 latency (Pareto front, the ``auto`` choice, the budgets as lines), the latency
distributions from the raw timings, sizes, per-class F1 or per-output fidelity, and the fallback search's
trials. Plotly draws everything; this module only chooses what goes on which axis.
"""

from __future__ import annotations

import html
from typing import Any

from edgeconv.choose import speed_text
from edgeconv.metric_table import is_drop
from edgeconv.report.format import loaded_note, mb, ms, precisions_note

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def render_html(report: dict[str, Any], sweep: list[dict[str, Any]] | None = None) -> str:
    """The whole page for ``report`` (a report.json dict); ``sweep``: the prune sweep's rows, if any."""
    sections = [("Quality against latency", quality_vs_latency(report)),
                ("Latency distribution", latency_distribution(report)),
                ("Size", sizes(report)),
                ("Per class" if _per_class(report) else "Per output", per_class_or_output(report)),
                ("Int8 search", fallback_trials(report)),
                ("Pruning sweep", prune_sweep(sweep or []))]
    verdict = "passed: every budget met" if report.get("passed") else "FAILED"
    return page(f"edgeconv build: {report.get('name') or 'build'}", verdict, _table(report), sections)


def page(title: str, verdict: str, table: str, sections: list[tuple[str, Any]]) -> str:
    """A self-contained page: plotly.js inlined once, one section per figure (None: left out)."""
    from plotly.offline import get_plotlyjs

    body = "\n".join(f'<section><h2>{html.escape(name)}</h2>{fig.to_html(full_html=False, include_plotlyjs=False)}'
                     "</section>" for name, fig in sections if fig is not None)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='verdict'>{html.escape(verdict)}</p>{table}{body}</body></html>\n")


STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
         "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,td:nth-child(2)"
         "{text-align:left}.verdict{font-weight:bold}")


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The reference and every artifact, each with a label."""
    rows = [{**report["reference"], "label": "reference fp32"}]
    rows += [{**a, "label": f"{a['target']} {a['precision']}"} for a in report["artifacts"]]
    return rows


def _measured(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in _rows(report) if r.get("latency_ms")]


def _colour(report: dict[str, Any], target: str) -> str:
    targets = sorted({a["target"] for a in report["artifacts"]})
    return "#555555" if target == "reference" else PALETTE[targets.index(target) % len(PALETTE)]


def quality(row: dict[str, Any]) -> tuple[float | None, str]:
    """The figure a row is judged by: the task metric where the set is labelled, else the worst output's cosine."""
    value = row.get("metric_value") if row.get("metric_value") is not None else row.get("accuracy")
    if value is not None:
        return value, "metric"
    cosines = [o["cosine"] for o in (row.get("outputs") or {}).values() if o.get("cosine") is not None]
    if cosines:
        return min(cosines), "cosine"
    return (1.0, "cosine") if row.get("target") == "reference" else (None, "cosine")


def _quality_name(report: dict[str, Any]) -> str:
    """What the quality column holds: the evaluation metric (a custom one by its function's name), else the worst
    output's cosine."""
    from edgeconv.report.format import metric_name

    if quality(report["reference"])[1] == "cosine":
        return "worst output cosine"
    return metric_name((report.get("evaluation") or {}).get("metric", "accuracy"))


def _chosen(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s["target"], s["precision"]) for s in report.get("selections") or [] if s.get("precision")}


def quality_vs_latency(report: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    rows = [r for r in _measured(report) if quality(r)[0] is not None]
    if not rows:
        return None
    kind = quality(rows[0])[1]
    axis = (report.get("evaluation") or {}).get("metric", "metric") if kind == "metric" else "worst output cosine"
    fig = go.Figure()
    for target in dict.fromkeys(r["target"] for r in rows):
        mine = [r for r in rows if r["target"] == target]
        fig.add_trace(go.Scatter(
            x=[r["latency_ms"]["p50"] for r in mine], y=[quality(r)[0] for r in mine], mode="markers+text",
            name=target, text=[r["precision"] for r in mine], textposition="top center",
            marker={"size": 12, "color": _colour(report, target)},
            hovertext=[f"{r['label']}: {r.get('status')}" for r in mine]))
    front = pareto(rows)
    fig.add_trace(go.Scatter(x=[r["latency_ms"]["p50"] for r in front], y=[quality(r)[0] for r in front],
                             mode="lines", name="Pareto front", line={"dash": "dot", "color": "#888"}))
    chosen = [r for r in rows if (r["target"], r["precision"]) in _chosen(report)]
    if chosen:
        fig.add_trace(go.Scatter(x=[r["latency_ms"]["p50"] for r in chosen], y=[quality(r)[0] for r in chosen],
                                 mode="markers", name="auto's choice",
                                 marker={"symbol": "star", "size": 22, "color": "gold", "line": {"width": 1}}))
    for name, limit in _limits(report).items():
        reference = quality(report["reference"])[0]
        if is_drop(name) and kind == "metric" and reference is not None:
            fig.add_hline(y=reference - limit, line_dash="dash", line_color="red",
                          annotation_text=f"budget: {name} {limit:g}", name=f"budget {name}")
        elif name == "min_cosine" and kind == "cosine":
            fig.add_hline(y=limit, line_dash="dash", line_color="red", annotation_text=f"budget: min_cosine {limit:g}")
        elif name == "p90_latency_ms":
            fig.add_vline(x=limit, line_dash="dash", line_color="red", annotation_text=f"budget: p90 {limit:g} ms")
    fig.update_layout(xaxis_title="p50 latency (ms, lower is better)", yaxis_title=axis, height=480)
    return fig


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows no other row beats on both latency (lower) and quality (higher), by latency."""
    ordered = sorted(rows, key=lambda r: (r["latency_ms"]["p50"], -(quality(r)[0] or 0.0)))
    front: list[dict[str, Any]] = []
    for row in ordered:
        if not front or (quality(row)[0] or 0.0) > (quality(front[-1])[0] or 0.0):
            front.append(row)
    return front


def _limits(report: dict[str, Any]) -> dict[str, float]:
    """Each budget's limit as the artifacts were held to it (report.json records the checks, not the spec)."""
    limits: dict[str, float] = {}
    for artifact in report["artifacts"]:
        for check in artifact.get("budgets") or []:
            limits.setdefault(check["name"], check["limit"])
    return limits


def latency_distribution(report: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    rows = [r for r in _rows(report) if r.get("timings_ms")]
    if not rows:
        return None
    fig = go.Figure()
    for r in rows:
        fig.add_trace(go.Box(x=r["timings_ms"], name=r["label"], boxpoints=False,
                             marker_color=_colour(report, r["target"])))
    limit = _limits(report).get("p90_latency_ms")
    if limit:
        fig.add_vline(x=limit, line_dash="dash", line_color="red", annotation_text=f"budget: p90 {limit:g} ms")
    fig.update_layout(xaxis_title="latency per call (ms), every timed run", showlegend=False,
                      height=120 + 40 * len(rows))
    return fig


def sizes(report: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    rows = [r for r in _rows(report) if r.get("size_bytes")]
    if not rows:
        return None
    fig = go.Figure(go.Bar(x=[r["size_bytes"] / 1e6 for r in rows], y=[r["label"] for r in rows], orientation="h",
                           marker_color=[_colour(report, r["target"]) for r in rows]))
    limit = _limits(report).get("max_size_mb")
    if limit:
        fig.add_vline(x=limit, line_dash="dash", line_color="red", annotation_text=f"budget: {limit:g} MB")
    fig.update_layout(xaxis_title="size (MB)", height=120 + 40 * len(rows))
    return fig


def _per_class(report: dict[str, Any]) -> bool:
    return bool(report["reference"].get("per_class"))


def per_class_or_output(report: dict[str, Any]) -> Any:
    """Per-class F1 for classifiers (where int8 lost accuracy), else each output's SNR against the reference."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if _per_class(report):
        scores = []
        for r in _rows(report):
            classes = r.get("per_class") or {}
            scores += [c.get("f1") or 0.0 for c in classes.values()]
            fig.add_trace(go.Bar(x=list(classes), y=[c.get("f1") for c in classes.values()], name=r["label"]))
        low = max(0.0, min(scores, default=0.0) - 0.05)  # zoomed in: the differences are points, not tens
        fig.update_layout(barmode="group", yaxis_title="F1", yaxis_range=[low, 1.0], height=420)
        return fig
    for r in report["artifacts"]:
        outputs = r.get("outputs") or {}
        cosines = [f"cosine {_six(o.get('cosine'))} mean, {_six(o.get('cosine_min'))} worst example"
                   for o in outputs.values()]
        for key, what, pattern in (("snr_db", "whole set", ""), ("snr_db_min", "worst example", "/")):
            if outputs and any(key in o for o in outputs.values()):
                fig.add_trace(go.Bar(x=list(outputs), y=[o.get(key) for o in outputs.values()], hovertext=cosines,
                                     name=f"{r['target']} {r['precision']} ({what})",
                                     marker_pattern_shape=pattern))
    if not fig.data:
        return None
    for name, limit in _limits(report).items():
        if name.startswith("min_snr_db"):
            fig.add_hline(y=limit, line_dash="dash", line_color="red", annotation_text=f"budget: {name} {limit:g}")
    fig.update_layout(barmode="group", yaxis_title="SNR against the fp32 reference (dB): the whole set, and its "
                      "worst example (hatched)", height=420)
    return fig


def _six(value: float | None) -> str:
    return "–" if value is None else f"{value:.6f}"


def fallback_trials(report: dict[str, Any]) -> Any:
    """Each int8 search: its trials in order (remedies, then nodes kept float) against the figure judged."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for a in report["artifacts"]:
        trials = ((a.get("quantization") or {}).get("fallback") or {}).get("trials") or []
        if len(trials) < 2:
            continue
        key = "accuracy" if trials[0].get("accuracy") is not None else "agreement"
        steps = [" + ".join(t.get("remedies") or []) or "plain" for t in trials]
        steps = [f"{s}, {len(t.get('float_nodes') or [])} float" for s, t in zip(steps, trials, strict=True)]
        fig.add_trace(go.Scatter(x=list(range(len(trials))), y=[t.get(key) for t in trials], text=steps,
                                 mode="lines+markers", name=f"{a['target']} {a['precision']} ({key})"))
    if not fig.data:
        return None
    fig.update_layout(xaxis_title="trial (hover: remedies, nodes kept float)", yaxis_title="trial's figure",
                      height=420)
    return fig


def prune_sweep(rows: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    measured = [r for r in rows if r.get("p50_ms") is not None and r.get("accuracy") is not None]
    if not measured:
        return None
    fig = go.Figure()
    for precision in dict.fromkeys(r["precision"] for r in measured):
        mine = [r for r in measured if r["precision"] == precision]
        fig.add_trace(go.Scatter(x=[r["p50_ms"] for r in mine], y=[r["accuracy"] for r in mine],
                                 mode="markers+text", name=precision, text=[f"ratio {r['ratio']:g}" for r in mine],
                                 textposition="top center",
                                 marker={"size": [16 if r.get("pareto") else 9 for r in mine]}))
    fig.update_layout(xaxis_title="p50 latency (ms)", yaxis_title="accuracy (large: Pareto-optimal)", height=420)
    return fig


def _table(report: dict[str, Any]) -> str:
    head = f"<tr><th>target</th><th>precision</th><th>{html.escape(_quality_name(report))}</th><th>p50 ms</th>" \
           "<th>speed-up</th><th>MB</th><th>status</th></tr>"
    cells = []
    for r in _rows(report):
        value, _ = quality(r)
        p50 = (r.get("latency_ms") or {}).get("p50")
        reference = r["target"] == "reference"
        speed = r.get("speedup_vs_reference") or (1.0 if reference else None)
        low, high = r.get("speedup_interval") or (None, None)
        star = " ★ auto" if (r["target"], r["precision"]) in _chosen(report) else ""
        speedup = speed_text(speed, low, high, r.get("identical_to"), reference=reference, cell=True)
        cells.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r["target"], r["precision"] + star, "–" if value is None else f"{value:.4f}", ms(p50), speedup,
            mb(r.get("size_bytes") or None), r.get("status") or "reference",
        )) + "</tr>")
    choices = "".join(f"<li><b>{html.escape(str(c.get('target')))}: {html.escape(str(c.get('precision') or 'none'))}"
                      f"</b>: {html.escape(str(c.get('reason', '')))}</li>" for c in report.get("selections") or [])
    note = " ".join(n + "." for n in (loaded_note(report.get("timing")), precisions_note(report.get("machine"))) if n)
    return (f"<table>{head}{''.join(cells)}</table>"
            + (f"<p>Speed-ups: the median of per-round paired ratios to the reference, with their 95% interval; "
               f"≈: not distinguishable from the reference. {html.escape(note)}</p>")
            + (f"<h2>Choices</h2><ul>{choices}</ul>" if choices else ""))
