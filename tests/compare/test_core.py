from __future__ import annotations

import copy

import numpy as np
import pytest

from edgeconv.compare import Thresholds, compare_reports, compare_sides, load_side
from edgeconv.compare.change import NOT_COMPARED, OK, REGRESSION
from edgeconv.errors import SpecError
from tests.fakebuild import TARGET, report_of


def metric(result, label, name):
    artifact = next(a for a in result.artifacts if a.label == label)
    return next(m for m in artifact.metrics if m.metric == name)


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_identical_builds_do_not_regress_although_raw_latencies_differ(builds, kind):
    base, same = builds["base"], builds["same"]
    assert report_of(base)["artifacts"][0]["timings_ms"] != report_of(same)["artifacts"][0]["timings_ms"]
    pick = (lambda p: p) if kind == "dir" else (lambda p: p / "report.json")
    result = compare_sides(load_side(pick(base)), load_side(pick(same)))
    assert not result.regressed
    lat = metric(result, f"{TARGET}/int8-dynamic", "latency_p50")
    # same distribution: the point estimate may be off zero, but the interval stays inside the ±10 % limit
    assert lat.status == OK and lat.change != 0 and -0.10 < lat.low <= lat.high < 0.10
    acc = metric(result, f"{TARGET}/int8-dynamic", "accuracy")
    assert acc.method.startswith("paired") == (kind == "dir")
    assert ("Newcombe" in acc.method) == (kind == "file")


def test_injected_accuracy_drop_names_artifact_and_metric(builds):
    result = compare_sides(load_side(builds["base"]), load_side(builds["drop"]))
    named = {(a.label, m.metric) for a, m in result.regressions}
    assert (f"{TARGET}/int8-dynamic", "accuracy") in named
    assert (f"{TARGET}/fp32", "accuracy") not in named  # only the perturbed artifact
    acc = metric(result, f"{TARGET}/int8-dynamic", "accuracy")
    assert acc.high < -0.01 and acc.low <= acc.change <= acc.high


def test_paired_interval_is_narrower_than_unpaired(builds):
    paired = compare_sides(load_side(builds["base"]), load_side(builds["drop"]))
    unpaired = compare_sides(load_side(builds["base"] / "report.json"), load_side(builds["drop"] / "report.json"))
    p = metric(paired, f"{TARGET}/int8-dynamic", "accuracy")
    u = metric(unpaired, f"{TARGET}/int8-dynamic", "accuracy")
    assert p.change == pytest.approx(u.change)
    assert p.high - p.low < u.high - u.low


def test_drop_within_a_generous_threshold_is_not_a_regression(builds):
    result = compare_sides(load_side(builds["base"]), load_side(builds["drop"]), Thresholds(max_accuracy_drop=0.2,
                                                                                           max_agreement_drop=0.2))
    assert not result.regressed


def test_latency_regression_only_when_the_interval_clears_the_threshold(builds):
    base, slow = load_side(builds["base"]), load_side(builds["slow"])
    tight = compare_sides(base, slow, Thresholds(max_latency_increase=0.10))
    lat = metric(tight, f"{TARGET}/int8-dynamic", "latency_p50")
    assert lat.status == REGRESSION and lat.low > 0.10
    # a threshold inside the interval: the point estimate is past it, the whole interval is not
    inside = (lat.low + lat.change) / 2
    loose = compare_sides(base, slow, Thresholds(max_latency_increase=inside))
    assert lat.change > inside
    assert metric(loose, f"{TARGET}/int8-dynamic", "latency_p50").status == OK


def test_bootstrap_is_seeded(builds):
    a = compare_sides(load_side(builds["base"]), load_side(builds["slow"]))
    b = compare_sides(load_side(builds["base"]), load_side(builds["slow"]))
    assert a.to_dict() == b.to_dict()


def test_size_change_is_exact_and_gated_only_when_asked(builds):
    base, cand = report_of(builds["base"]), report_of(builds["same"])
    entry = next(a for a in cand["artifacts"] if a["precision"] == "fp32")
    entry["size_bytes"] = int(entry["size_bytes"] * 1.5)
    size = metric(compare_reports(base, cand), f"{TARGET}/fp32", "size_bytes")
    assert size.status == OK and size.change == pytest.approx(0.5, abs=1e-3)
    gated = compare_reports(base, cand, Thresholds(max_size_increase=0.2))
    assert metric(gated, f"{TARGET}/fp32", "size_bytes").status == REGRESSION


def test_skipped_artifact_is_not_compared(builds):
    base, cand = report_of(builds["base"]), copy.deepcopy(report_of(builds["same"]))
    entry = next(a for a in cand["artifacts"] if a["precision"] == "fp32")
    entry.update(status="skipped", reason="no GPU here", accuracy=None, agreement=None, timings_ms=None)
    result = compare_reports(base, cand)
    acc = metric(result, f"{TARGET}/fp32", "accuracy")
    assert acc.status == NOT_COMPARED and "no GPU here" in acc.note
    assert not result.regressed


def test_unmatched_artifacts_are_listed_and_none_in_common_is_refused(builds):
    base, cand = report_of(builds["base"]), report_of(builds["same"])
    cand["artifacts"] = [a for a in cand["artifacts"] if a["precision"] == "fp32"]
    result = compare_reports(base, cand)
    assert result.only_in_baseline == [f"{TARGET}/int8-dynamic"]
    cand["artifacts"], cand["reference"] = [], None
    with pytest.raises(SpecError, match="no artifact"):
        compare_reports(base, cand)


def test_paired_falls_back_when_evaluation_sets_differ(builds, tmp_path):
    import shutil

    other = shutil.copytree(builds["same"], tmp_path / "other")
    with np.load(other / "data" / "eval.npz") as data:
        x, labels = data["x"], data["__labels__"].copy()
    labels[:50] = (labels[:50] + 1) % 3
    np.savez(other / "data" / "eval.npz", x=x, __labels__=labels)
    result = compare_sides(load_side(builds["base"]), load_side(other))
    acc = metric(result, f"{TARGET}/fp32", "accuracy")
    assert "Newcombe" in acc.method and "different evaluation sets" in acc.note


def test_an_unlabelled_build_still_compares_latency_and_size(builds):
    base, cand = copy.deepcopy(report_of(builds["base"])), copy.deepcopy(report_of(builds["slow"]))
    for report in (base, cand):
        for entry in report["artifacts"]:
            entry.update(accuracy=None, accuracy_delta=None)  # as a build on an unlabelled set reports them
    result = compare_reports(base, cand)
    acc = metric(result, f"{TARGET}/fp32", "accuracy")
    assert acc.status == NOT_COMPARED and "not measured in the baseline and candidate build" in acc.note
    assert metric(result, f"{TARGET}/fp32", "latency_p50").status != NOT_COMPARED
    assert result.regressed  # the slower candidate is still caught
