"""report.html's content, read from the plotly figures it embeds (the rendering itself: test_html_browser.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeconv.report.html import pareto, render_html
from tests.cligroup import cli
from tests.fakebuild import TARGET, make_build, report_of


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_build(tmp_path_factory.mktemp("html") / "out")


def figures(page: str) -> list[dict]:
    """Each figure's data and layout, as plotly wrote them into the page."""
    found = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"responsive"', page, re.S):
        found.append({"data": json.loads(match.group(1)), "layout": json.loads(match.group(2))})
    return found


def sections(page: str) -> list[str]:
    return re.findall(r"<section><h2>([^<]+)</h2>", page)


def test_a_build_page_has_every_plot_and_plotly_inlined_once(build: Path) -> None:
    report = report_of(build)
    for a in report["artifacts"]:
        a["budgets"] = [{"name": "accuracy_drop", "limit": 0.01, "value": 0.0, "passed": True},
                        {"name": "max_size_mb", "limit": 1.0, "value": 0.0, "passed": True}]
    page = render_html(report)
    assert "<script src=" not in page and "<link" not in page  # no network: plotly.js is inline
    assert page.count("Plotly.newPlot(") == 4
    assert sections(page) == ["Quality against latency", "Latency distribution", "Size", "Per class"]
    scatter, boxes, size, per_class = figures(page)
    reference = report["reference"]["accuracy"]
    lines = [s for s in scatter["layout"]["shapes"] if s["type"] == "line"]
    assert [round(s["y0"], 6) for s in lines] == [round(reference - 0.01, 6)]  # the accuracy budget
    assert {t["name"] for t in scatter["data"]} >= {"reference", TARGET, "Pareto front"}
    assert len(boxes["data"]) == 3 and len(boxes["data"][0]["x"]) == 200  # every raw timing
    assert [s["x0"] for s in size["layout"]["shapes"]] == [1.0]  # max_size_mb
    assert [t["name"] for t in per_class["data"]] == ["reference fp32", f"{TARGET} fp32", f"{TARGET} int8-dynamic"]


def test_auto_choice_and_fallback_trials_are_drawn(build: Path) -> None:
    report = report_of(build)
    report["selections"] = [{"target": TARGET, "precision": "int8-dynamic", "reason": "fastest"}]
    int8 = report["artifacts"][1]
    int8["quantization"]["fallback"] = {"trials": [
        {"float_nodes": [], "accuracy": 0.88}, {"float_nodes": [], "accuracy": 0.89, "remedies": ["smoothquant"]},
        {"float_nodes": ["a", "b"], "accuracy": 0.9, "remedies": ["smoothquant"]}]}
    page = render_html(report)
    scatter = figures(page)[0]
    (star,) = [t for t in scatter["data"] if t["name"] == "auto's choice"]
    assert star["y"] == [int8["accuracy"]] and star["marker"]["symbol"] == "star"
    assert "int8-dynamic ★ auto" in page
    assert "Int8 search" in sections(page)
    trials = figures(page)[sections(page).index("Int8 search")]
    assert trials["data"][0]["x"] == [0, 1, 2] and trials["data"][0]["y"] == [0.88, 0.89, 0.9]
    assert trials["data"][0]["text"] == ["plain, 0 float", "smoothquant, 0 float", "smoothquant, 2 float"]


def test_an_unlabelled_build_is_judged_by_cosine_and_snr(build: Path) -> None:
    report = report_of(build)
    for row in [report["reference"], *report["artifacts"]]:
        row["metric_value"] = row["accuracy"] = None
        row["per_class"] = None
    for i, a in enumerate(report["artifacts"]):
        a["outputs"] = {"logits": {"cosine": 0.999 - i / 100, "snr_db": 40.0 - i}}
    page = render_html(report)
    assert sections(page)[-1] == "Per output"
    scatter = figures(page)[0]
    assert scatter["layout"]["yaxis"]["title"]["text"] == "worst output cosine"
    assert figures(page)[-1]["data"][1]["y"] == [39.0]


def test_pareto_front_keeps_only_unbeaten_rows() -> None:
    rows = [{"latency_ms": {"p50": p50}, "metric_value": m, "target": "t"} for p50, m in
            [(10, 0.90), (5, 0.80), (7, 0.85), (8, 0.84), (12, 0.89)]]
    assert [r["latency_ms"]["p50"] for r in pareto(rows)] == [5, 7, 10]


def test_every_build_writes_report_html_and_compare_draws_one(build: Path, tmp_path: Path) -> None:
    from edgeconv.report import write_reports  # noqa: F401  (the build path: tests/test_sample_e2e.py checks it)

    other = make_build(tmp_path / "b", timing_seed=1, flip_fraction=0.05, latency_scale=1.3)
    out = tmp_path / "compare.html"
    result = CliRunner().invoke(cli, ["compare", str(build), str(other), "--format", "html", "--output", str(out)])
    assert result.exit_code == 1, result.output  # the flipped rows are a regression
    page = out.read_text()
    assert sections(page) == ["accuracy", "agreement", "latency_p50", "size_bytes"]
    accuracy = figures(page)[0]
    assert "#d62728" in accuracy["data"][0]["marker"]["color"]  # the regression in red
    assert any(s.get("y0") == -1.0 for s in accuracy["layout"]["shapes"])  # the 1-point limit
