from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from tests.cligroup import cli
from tests.fakebuild import TARGET


def run(*args):
    return CliRunner().invoke(cli, ["compare", *map(str, args)])


def test_identical_builds_exit_0_with_markdown(builds):
    result = run(builds["base"], builds["same"])
    assert result.exit_code == 0, result.output
    assert "no regression" in result.output and "| artifact | metric |" in result.output


def test_accuracy_drop_exits_1_and_names_artifact_and_metric(builds):
    result = run(builds["base"], builds["drop"])
    assert result.exit_code == 1
    assert f"**{TARGET}/int8-dynamic**: accuracy" in result.output


def test_flag_accepts_points(builds):
    assert run(builds["base"], builds["drop"], "--max-accuracy-drop", "20pt", "--max-agreement-drop", "0.2"
               ).exit_code == 0
    bad = run(builds["base"], builds["drop"], "--max-accuracy-drop", "lots")
    assert bad.exit_code == 2 and "not a number" in bad.output


def test_junit_has_one_case_per_artifact_metric(builds, tmp_path):
    out = tmp_path / "compare.xml"
    result = run(builds["base"], builds["drop"], "--format", "junit", "--output", out)
    assert result.exit_code == 1
    suite = ET.parse(out).getroot()
    cases = suite.findall("testcase")
    assert len(cases) == 3 * 4  # reference + 2 artifacts, x accuracy/agreement/latency/size
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert (f"edgeconv.compare.{TARGET}.int8-dynamic", "accuracy") in failed
    assert int(suite.get("failures")) == len(failed)


def test_json_output_and_determinism_of_two_dirs(builds):
    result = run(builds["base"], builds["same"], "--format", "json")
    data = json.loads(result.output)
    assert data["regressed"] is False and data["determinism"]["deterministic"] is True


@pytest.mark.parametrize("make", [
    lambda tmp: tmp / "missing.json",
    lambda tmp: (tmp / "x.json").write_text("not json") and tmp / "x.json",
    lambda tmp: (tmp / "y.json").write_text('{"name": 1}') and tmp / "y.json",
    lambda tmp: tmp,  # a folder without report.json
])
def test_bad_input_exits_2_with_one_line(builds, tmp_path, make):
    result = run(make(tmp_path), builds["base"])
    assert result.exit_code == 2
    assert "error:" in result.output and "fix:" in result.output


def test_no_common_artifact_exits_2(builds, tmp_path):
    report = json.loads((builds["base"] / "report.json").read_text())
    for a in report["artifacts"]:
        a["target"] = "elsewhere"
    report["reference"]["target"] = "elsewhere"
    (tmp_path / "other.json").write_text(json.dumps(report))
    result = run(builds["base"] / "report.json", tmp_path / "other.json")
    assert result.exit_code == 2 and "no artifact" in result.output


def test_limits_default_to_the_spec_budgets_and_flags_win(builds, tiny_project):
    spec = tiny_project / "edgeconv.yaml"  # budgets.accuracy_drop: 0.05, wider than the ~4.7 pt injected drop
    assert run(builds["base"], builds["drop"], "--spec", spec).exit_code == 0
    assert run(builds["base"], builds["drop"], "--spec", spec, "--max-accuracy-drop", "1pt").exit_code == 1


def test_repeat_remeasures_both_builds_interleaved(builds):
    """--repeat replaces both sides' stored timings with ones measured here, interleaved (no timing asserted)."""
    from edgeconv.compare.load import entries, load_side
    from edgeconv.compare.repeat import remeasure_interleaved

    base, slow = load_side(builds["base"]), load_side(builds["slow"])
    stored = {k: list(e["timings_ms"]) for k, e in entries(slow.report).items()}
    notes = remeasure_interleaved(base, slow, rounds=2, runs_per_round=12)
    assert any("2 interleaved rounds" in n for n in notes), notes
    for side in (base, slow):
        for key, entry in entries(side.report).items():
            assert len(entry["timings_ms"]) == 2 * 12 and all(t > 0 for t in entry["timings_ms"]), key
    assert all(entries(slow.report)[k]["timings_ms"] != stored[k] for k in stored)
    cli_run = run(builds["base"], builds["slow"], "--repeat", "1", "--format", "json")
    assert any("interleaved rounds" in note for note in json.loads(cli_run.output)["notes"])


def test_a_custom_metric_is_compared_by_its_values_and_change(tmp_path):
    """evaluation.metric: module:function: both builds' values and the change, in Markdown, JSON, JUnit and HTML;
    without the spec that trusts its code it is not recomputed per example, so not gated (test_figures.py gates it)."""
    from tests.fakebuild import CUSTOM_METRIC, make_build, report_of

    base = make_build(tmp_path / "base", timing_seed=1, metric=CUSTOM_METRIC)
    drop = make_build(tmp_path / "drop", timing_seed=3, flip_fraction=0.2, metric=CUSTOM_METRIC)
    b, c = (next(a for a in report_of(x)["artifacts"] if a["precision"] == "int8-dynamic") for x in (base, drop))
    assert b["metric_value"] > c["metric_value"]  # the flipped rows lost recall of class a
    result = run(base, drop)
    row = f"| {TARGET}/int8-dynamic | {CUSTOM_METRIC} | {b['metric_value']:.4g} | {c['metric_value']:.4g} | " \
          f"{c['metric_value'] - b['metric_value']:+.4g} | drop > 0.01 | not compared |"
    assert row in result.output, result.output
    data = json.loads(run(base, drop, "--format", "json").output)
    (entry,) = [a for a in data["artifacts"] if a["precision"] == "int8-dynamic"]
    (custom,) = [m for m in entry["metrics"] if m["metric"] == CUSTOM_METRIC]
    assert (custom["baseline"], custom["candidate"]) == (b["metric_value"], c["metric_value"])
    out = tmp_path / "compare.html"
    run(base, drop, "--format", "html", "--output", out)
    assert f"<h2>{CUSTOM_METRIC}</h2>" in out.read_text()
    plain = run(make_build(tmp_path / "plain"), drop)  # one build measured accuracy, the other the function
    assert f"| {CUSTOM_METRIC} | – | – | – | – | not compared |" in plain.output
