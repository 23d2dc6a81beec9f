"""The gate on real dense-task samples (slow: real builds, shared per module): the captcha detector made worse
(per-tensor int8 weights, no fallback) is a mAP regression, a no-change rebuild made while other processes load
the machine is not; the text detector made worse (per-tensor, min-max calibration) is an mIoU regression."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgeconv.compare import compare_paths
from edgeconv.compare.change import OK, REGRESSION
from edgeconv.compare.render import render_junit
from tests.compare.helpers import compare, metric
from tests.zoo.test_zoo import Built, build, ort_only

STATIC = "x86-cpu-ort/int8-static"
WORSE = ("--set", "quantize.static.per_channel=false", "--set", "quantize.fallback.enabled=false")


@pytest.fixture(scope="module")
def detectors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    root = tmp_path_factory.mktemp("detectors")
    built = {"base": build("captcha-detector", root / "base", *ort_only("int8-static")),
             "worse": build("captcha-detector", root / "worse", *ort_only("int8-static"), *WORSE)}
    for b in built.values():
        assert b.code in (0, 1), b.stdout + b.stderr  # 1: the worse one may fail its own map_drop budget
    return built


def test_a_detector_whose_map_falls_is_a_regression_naming_map_with_its_interval(
        detectors: dict[str, Built]) -> None:
    base, worse = (detectors[k].artifact("int8-static")["detection"] for k in ("base", "worse"))
    assert base["map50_95_vs_reference"] - worse["map50_95_vs_reference"] > 0.05  # what the worse build lost
    result = compare(detectors["base"].out, detectors["worse"].out)
    assert result.exit_code == 1, result.output
    assert f"- **{STATIC}**: map50_95_vs_reference -" in result.output and " pts [" in result.output
    comparison = compare_paths(detectors["base"].out, detectors["worse"].out)
    fell = metric(comparison, STATIC, "map50_95_vs_reference")
    assert fell.status == REGRESSION and fell.low <= fell.change <= fell.high < -0.01
    assert fell.change == pytest.approx(worse["map50_95_vs_reference"] - base["map50_95_vs_reference"])
    assert fell.method.startswith("paired bootstrap over 24 examples")  # per image, from the build folders
    labelled = metric(comparison, STATIC, "map50_95")  # against the labelled boxes, also per image
    assert labelled.change == pytest.approx(worse["map50_95"] - base["map50_95"]) and labelled.low is not None
    junit = ET.fromstring(render_junit(comparison).split("\n", 1)[1])  # what --format junit writes
    failed = {c.get("name") for c in junit.findall("testcase") if c.find("failure") is not None}
    assert "map50_95_vs_reference" in failed
    assert compare(detectors["base"].out, detectors["worse"].out, "--max-map-drop", "50pt", "--max-snr-db-drop",
                   "50", "--limit", "cosine=1", "--limit", "within_tolerance=1").exit_code == 0


def test_a_no_change_rebuild_under_load_is_not_a_regression(detectors: dict[str, Built], tmp_path: Path,
                                                           cpu_burners: None) -> None:
    """Rebuilt from scratch (this test's own stage cache) while every core is busy with another process."""
    again = build("captcha-detector", tmp_path / "again", *ort_only("int8-static"))
    assert again.code == 0, again.stdout + again.stderr
    assert again.report["timing"]["loaded"]  # the build saw the competing processes
    result = compare(detectors["base"].out, again.out)
    assert result.exit_code == 0, result.output
    comparison = compare_paths(detectors["base"].out, again.out)
    assert metric(comparison, STATIC, "map50_95_vs_reference").status == OK
    latency = metric(comparison, STATIC, "latency_p50")
    assert latency.status == OK and "relative to each build's fp32 reference" in latency.method


def test_a_segmenter_whose_miou_falls_is_a_regression(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("segmenters")
    quick = (*ort_only("int8-static"), "--set", "quantize.fallback.enabled=false")
    base = build("text-detector", root / "base", *quick)
    worse = build("text-detector", root / "worse", *quick, "--set", "quantize.static.per_channel=false",
                  "--set", "quantize.static.method=minmax")
    assert base.code in (0, 1) and worse.code in (0, 1), worse.stdout + worse.stderr
    result = compare(base.out, worse.out)
    assert result.exit_code == 1 and f"- **{STATIC}**: miou_vs_reference -" in result.output, result.output
    fell = metric(compare_paths(base.out, worse.out), STATIC, "miou_vs_reference")
    expected = worse.artifact("int8-static")["segmentation"]["miou_vs_reference"] - \
        base.artifact("int8-static")["segmentation"]["miou_vs_reference"]
    assert fell.status == REGRESSION and fell.change == pytest.approx(expected) and fell.high < -0.01
    assert compare(base.out, worse.out, "--max-miou-drop", "50pt", "--max-snr-db-drop", "50", "--limit",
                   "cosine=1", "--limit", "within_tolerance=1").exit_code == 0
