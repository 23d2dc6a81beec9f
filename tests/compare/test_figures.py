"""The gate on the figures report.json holds only as totals: per-output fidelity of a real two-output model built
twice, a custom metric (per example, or recomputed on resamples, or not compared and why), --limit, the chosen
artifact as a unit, and latency refused across machines."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from edgeconv.compare import Thresholds, compare_paths, compare_reports
from edgeconv.compare.change import NOT_COMPARED, OK, REGRESSION
from tests.compare.helpers import compare as run
from tests.compare.helpers import metric as change
from tests.fakebuild import CUSTOM_MEAN_METRIC, CUSTOM_METRIC, TARGET, make_build, recall_of_a, report_of, top1_match
from tests.test_generic import make_two_output_model


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A two-output streaming model (scores, next_state) built as a release, and a candidate whose recurrent weights
    gained outliers (int8 then loses next_state, not scores): same evaluation data, real builds."""
    from edgeconv.cli import main

    root = tmp_path_factory.mktemp("streams")
    rng = np.random.default_rng(1)

    def feeds(n: int) -> dict[str, np.ndarray]:
        state = rng.normal(size=(n, 2, 1, 6)).astype(np.float32)
        state[..., 0] = 0.0  # the feature the outlier weights read: zero in real use
        return {"x": rng.normal(size=(n, 8)).astype(np.float32), "state": state,
                "gain": rng.uniform(0.5, 1.5, size=n).astype(np.float32)}

    data = {"eval": feeds(60), "calib": feeds(30)}
    found = {}
    for name, outlier in (("base", None), ("outlier", 500.0)):
        folder = root / name
        folder.mkdir()
        make_two_output_model(folder / "stream.onnx", outlier=outlier)
        for kind, arrays in data.items():
            np.savez(folder / f"{kind}.npz", **arrays)
        spec = {"name": "stream", "model": {"path": "stream.onnx", "task": "generic"},
                "calibration": {"path": "calib.npz"}, "evaluation": {"path": "eval.npz"},
                "targets": [{"name": "x86-cpu-ort", "precisions": ["fp32", "int8-static"]}],
                "quantize": {"fallback": {"enabled": False}},
                "latency": {"warmup": 2, "runs": 11, "min_time_s": 0}, "output": "out"}
        (folder / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
        result = CliRunner().invoke(main, ["build", str(folder / "edgeconv.yaml")])
        assert result.exit_code == 0, result.stdout + result.stderr
        found[name] = folder / "out"
    return found


def test_an_snr_drop_on_one_output_of_a_generic_model_is_exit_1_naming_that_output(streams: dict[str, Path],
                                                                                    tmp_path: Path) -> None:
    base, cand = (report_of(streams[k])["artifacts"][1]["outputs"] for k in ("base", "outlier"))
    assert base["next_state"]["snr_db"] - cand["next_state"]["snr_db"] > 10  # what the candidate really lost
    result = run(streams["base"], streams["outlier"])
    assert result.exit_code == 1, result.output
    assert "- **x86-cpu-ort/int8-static**: snr_db[next_state]" in result.output
    comparison = compare_paths(streams["base"], streams["outlier"])
    lost = change(comparison, "x86-cpu-ort/int8-static", "snr_db[next_state]")
    assert lost.status == REGRESSION and lost.high < -3 and lost.method.startswith("paired bootstrap over 60")
    assert change(comparison, "x86-cpu-ort/int8-static", "snr_db[scores]").status == OK  # the other output held
    assert change(comparison, "x86-cpu-ort/fp32", "snr_db[next_state]").status == OK
    # a limit by name lets this output fall further; the others keep theirs
    loose = run(streams["base"], streams["outlier"], "--limit", "snr_db[next_state]=100", "--limit",
                "cosine=1", "--limit", "within_tolerance=1", "--format", "json")
    assert "snr_db[next_state]" not in " ".join(json.loads(loose.output)["regressions"]), loose.output
    assert run(streams["base"], streams["outlier"], "--limit", "snr_db").exit_code == 2
    # from report.json alone there are no per-example outputs: the change is shown, not gated
    alone = compare_paths(streams["base"] / "report.json", streams["outlier"] / "report.json")
    row = change(alone, "x86-cpu-ort/int8-static", "snr_db[next_state]")
    assert row.status == NOT_COMPARED and "report.json alone" in row.note and row.change < -10


def test_junit_has_one_case_per_artifact_and_metric_including_fidelity(streams: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "compare.xml"
    assert run(streams["base"], streams["outlier"], "--format", "junit", "--output", out).exit_code == 1
    cases = ET.parse(out).getroot().findall("testcase")
    comparison = compare_paths(streams["base"], streams["outlier"])
    assert len(cases) == sum(len(a.metrics) for a in comparison.artifacts)
    names = {(c.get("classname"), c.get("name")) for c in cases}
    for output in ("scores", "next_state"):
        for family in ("cosine", "snr_db", "within_tolerance", "max_abs_error"):
            assert ("edgeconv.compare.x86-cpu-ort.int8-static", f"{family}[{output}]") in names
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert "snr_db[next_state]" in failed and "snr_db[scores]" not in failed
    html = tmp_path / "compare.html"
    run(streams["base"], streams["outlier"], "--format", "html", "--output", html)
    assert "<h2>snr_db[next_state]</h2>" in html.read_text()


def test_a_custom_metric_is_gated_with_its_interval_when_the_spec_trusts_it(tmp_path: Path) -> None:
    base = make_build(tmp_path / "base", timing_seed=1, metric=CUSTOM_METRIC)
    drop = make_build(tmp_path / "drop", timing_seed=3, flip_fraction=0.2, metric=CUSTOM_METRIC)
    label = f"{TARGET}/int8-dynamic"
    plain = change(compare_paths(base, drop), label, CUSTOM_METRIC)  # user code is not run without the spec
    assert plain.status == NOT_COMPARED and "pass --spec" in plain.note and plain.change < 0
    gated = change(compare_paths(base, drop, metric=recall_of_a), label, CUSTOM_METRIC)
    assert gated.status == REGRESSION and gated.low <= gated.change <= gated.high < -0.01
    assert "recomputed on each resample" in gated.method  # recall of one class is no mean over examples
    spec = tmp_path / "edgeconv.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "tiny", "model": {"path": str(base / "export" / "model.onnx")},
        "evaluation": {"path": str(base / "data" / "eval.npz"), "metric": CUSTOM_METRIC, "trust_code": True},
        "targets": [{"name": "x86-cpu-ort", "precisions": ["fp32"]}]}))
    cli_run = run(base, drop, "--spec", spec)
    assert cli_run.exit_code == 1 and f"- **{label}**: {CUSTOM_METRIC}" in cli_run.output, cli_run.output
    assert run(base, drop, "--spec", spec, "--max-metric-drop", "0.5", "--max-accuracy-drop", "0.5",
               "--max-agreement-drop", "0.5").exit_code == 0


def test_a_custom_metric_that_is_a_mean_is_compared_per_example(tmp_path: Path) -> None:
    base = make_build(tmp_path / "base", timing_seed=1, metric=CUSTOM_MEAN_METRIC)
    drop = make_build(tmp_path / "drop", timing_seed=3, flip_fraction=0.05, metric=CUSTOM_MEAN_METRIC)
    row = change(compare_paths(base, drop, metric=top1_match), f"{TARGET}/int8-dynamic", CUSTOM_MEAN_METRIC)
    assert "per-example values" in row.method and "2000 resamples" in row.method
    agreement = change(compare_paths(base, drop), f"{TARGET}/int8-dynamic", "agreement")
    assert row.change == pytest.approx(agreement.change)  # the same per-example facts
    assert row.status == agreement.status == REGRESSION


def test_a_metric_that_needs_labels_says_not_compared_and_why(tmp_path: Path) -> None:
    base = make_build(tmp_path / "base", metric=CUSTOM_METRIC)
    cand = make_build(tmp_path / "cand", timing_seed=2, metric=CUSTOM_METRIC)
    with np.load(cand / "data" / "eval.npz") as data:
        np.savez(cand / "data" / "eval.npz", x=data["x"])  # the candidate's evaluation set lost its labels
    row = change(compare_paths(base, cand, metric=recall_of_a), f"{TARGET}/int8-dynamic", CUSTOM_METRIC)
    assert row.status == NOT_COMPARED
    assert "raised AssertionError" in row.note and "the evaluation set has no labels" in row.note


def test_a_changed_choice_is_said_and_the_chosen_artifacts_are_compared(builds: dict[str, Path]) -> None:
    base, cand = copy.deepcopy(report_of(builds["base"])), copy.deepcopy(report_of(builds["drop"]))
    base["selections"] = [{"target": TARGET, "precision": "fp32", "reason": "r"}]
    cand["selections"] = [{"target": TARGET, "precision": "int8-dynamic", "reason": "r"}]
    result = compare_reports(base, cand)
    assert result.chosen == [{"selection": TARGET, "baseline": f"{TARGET}/fp32",
                              "candidate": f"{TARGET}/int8-dynamic", "changed": True}]
    assert any("the choice changed" in note for note in result.notes)
    unit = next(a for a in result.artifacts if a.label.startswith("chosen"))
    assert unit.label == f"chosen {TARGET}: {TARGET}/fp32 → {TARGET}/int8-dynamic"
    accuracy = next(m for m in unit.metrics if m.metric == "accuracy")
    b, c = (next(a for a in r["artifacts"] if a["precision"] == p) for r, p in ((base, "fp32"),
                                                                                 (cand, "int8-dynamic")))
    assert accuracy.change == pytest.approx(c["accuracy"] - b["accuracy"]) and accuracy.status == REGRESSION
    cand["selections"] = base["selections"]
    same = compare_reports(base, cand)
    assert not any(a.label.startswith("chosen") for a in same.artifacts) and same.chosen[0]["changed"] is False


def test_latency_from_different_machines_is_refused(builds: dict[str, Path]) -> None:
    base, cand = copy.deepcopy(report_of(builds["base"])), copy.deepcopy(report_of(builds["slow"]))
    for report, cpu in ((base, "CPU A"), (cand, "CPU B")):
        for row in [report["reference"], *report["artifacts"]]:
            row["timing"] = {"machine": {"cpu": cpu, "physical_cores": 2}}
    latency = change(compare_reports(base, cand), f"{TARGET}/fp32", "latency_p50")
    assert latency.status == NOT_COMPARED and "different machines" in latency.note and "--repeat" in latency.note
    for report in (base, cand):
        for row in [report["reference"], *report["artifacts"]]:
            row["remeasured"] = True  # what --repeat marks: both timed here, interleaved
    assert change(compare_reports(base, cand), f"{TARGET}/fp32", "latency_p50").status == REGRESSION


def test_limits_come_from_the_budgets_flags_and_names() -> None:
    budgets = type("Budgets", (), {"map_drop": 0.03, "miou_drop": None, "accuracy_drop": None})()
    t = Thresholds.from_budgets(budgets, max_snr_db_drop=6.0, limits={"map50": 0.05})
    assert t.limit("map50_95_vs_reference") == 0.03 and t.limit("map50") == 0.05
    assert t.limit("snr_db[logits]") == 6.0 and t.limit("miou") == 0.01
    assert t.limit("mypkg.metrics:score") == t.max_metric_drop and t.limit("max_abs_error[x]") is None
