"""A Comparison as Markdown (a pull-request comment), JUnit XML (one test case per artifact x metric), JSON, or an
HTML page of plots (compare/render_html.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter

from edgeconv.compare.change import NOT_COMPARED, REGRESSION, MetricChange
from edgeconv.compare.core import Comparison
from edgeconv.compare.metrics import limit_text
from edgeconv.metric_table import BYTES, definition


def _value(metric: str, value: float | None) -> str:
    return "–" if value is None else definition(metric).unit.value(value)


def _change(m: MetricChange) -> str:
    if m.change is None:
        return "–"
    d = definition(m.metric)
    if m.metric == "size_bytes" and m.candidate is not None and m.baseline is not None:
        return f"{m.change:+.2%} ({BYTES.change(m.candidate - m.baseline)})"
    text = d.change(m.change)
    if m.low is None or m.high is None or m.low == m.high == m.change:
        return text
    return f"{text} [{d.change(m.low)}, {d.change(m.high)}]"


def _limit(m: MetricChange) -> str:
    return limit_text(m.metric, m.threshold)


def _verdict(m: MetricChange) -> str:
    return {REGRESSION: "**regression**", NOT_COMPARED: "not compared"}.get(m.status, "ok")


def render_markdown(result: Comparison) -> str:
    t = result.thresholds
    head = (f"### edgeconv compare: {len(result.regressions)} regression(s)" if result.regressed
            else "### edgeconv compare: no regression")
    lines = [head, "", f"Baseline `{result.baseline}` vs candidate `{result.candidate}`; "
             f"{t.confidence:.0%} confidence intervals in brackets. A metric regresses only when its whole "
             "interval is past the limit.", ""]
    if result.regressed:
        lines += [f"- **{a.label}**: {m.metric} {_change(m)}" for a, m in result.regressions] + [""]
    lines += ["| artifact | metric | baseline | candidate | change | limit | verdict |",
              "|---|---|---|---|---|---|---|"]
    for a in result.artifacts:
        for m in a.metrics:
            lines.append(f"| {a.label} | {m.metric} | {_value(m.metric, m.baseline)} | "
                         f"{_value(m.metric, m.candidate)} | {_change(m)} | {_limit(m)} | {_verdict(m)} |")
    methods = sorted({m.method for a in result.artifacts for m in a.metrics if m.method and m.method != "exact"})
    counted = Counter(m.note for a in result.artifacts for m in a.metrics if m.note)
    notes = [f"{note} ({count} metric{'s' if count > 1 else ''})" for note, count in sorted(counted.items())]
    extra = [f"only in baseline: {', '.join(result.only_in_baseline)}"] if result.only_in_baseline else []
    extra += [f"only in candidate: {', '.join(result.only_in_candidate)}"] if result.only_in_candidate else []
    details = [f"- interval: {m}" for m in methods] + [f"- {n}" for n in notes + result.notes + extra]
    if details:
        lines += ["", "<details><summary>method and notes</summary>", "", *details, "", "</details>"]
    return "\n".join(lines) + "\n"


def render_junit(result: Comparison) -> str:
    suite = ET.Element("testsuite", name="edgeconv.compare")
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for a in result.artifacts:
        for m in a.metrics:
            case = ET.SubElement(suite, "testcase", classname=f"edgeconv.compare.{a.target}.{a.precision}",
                                 name=m.metric)
            counts["tests"] += 1
            if m.status == REGRESSION:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=f"{a.label} {m.metric} regressed: {_change(m)}")
                failure.text = f"baseline {m.baseline}, candidate {m.candidate}, limit {_limit(m)}, {m.method}"
            elif m.status == NOT_COMPARED:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=m.note or NOT_COMPARED)
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def render_json(result: Comparison) -> str:
    return json.dumps(result.to_dict(), indent=2, default=str) + "\n"


def render_html(result: Comparison) -> str:
    from edgeconv.compare.render_html import render_html as page

    return page(result)


RENDERERS = {"md": render_markdown, "json": render_json, "junit": render_junit, "html": render_html}
