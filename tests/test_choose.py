"""`precision: auto` never picks a reduced precision slower than the fp32 reference; such artifacts are warned about."""

from __future__ import annotations

from edgeconv.choose import choose_precision, slower_than_reference
from edgeconv.report.markdown import render_markdown
from edgeconv.results import FAILED, PASSED, ArtifactResult, BuildResult, Measurement


def artifact(precision: str, p50: float, reference_p50: float = 10.0, status: str = PASSED) -> ArtifactResult:
    latency = {"p50": p50, "p90": p50, "p99": p50, "mean": p50, "std": 0.0, "runs": 10}
    m = Measurement(0.9, 0.9, {}, 1.0, 0.0, latency, [p50] * 10, 10.0, 0.1, {})
    a = ArtifactResult("cpu", "onnxruntime", precision, status=status, measurement=m,
                       speedup_vs_reference=reference_p50 / p50, accuracy_delta=0.0)
    warning = slower_than_reference(a)
    if warning:
        a.extra["warnings"] = [warning]
    return a


def test_auto_skips_an_int8_artifact_slower_than_the_reference() -> None:
    rows = [artifact("fp32", 9.8), artifact("int8-dynamic", 40.0), artifact("int8-static", 9.0)]
    choice = choose_precision("cpu", rows)
    assert choice["precision"] == "int8-static"
    rows = [artifact("fp32", 9.8), artifact("int8-dynamic", 40.0), artifact("int8-static", 12.0)]
    choice = choose_precision("cpu", rows)
    assert choice["precision"] == "fp32"
    assert "int8-static 12.00 ms (slower than the reference)" in choice["reason"]


def test_auto_says_why_when_only_slower_artifacts_passed() -> None:
    rows = [artifact("fp32", 9.8, status=FAILED), artifact("int8-static", 12.5)]
    choice = choose_precision("cpu", rows)
    assert choice["precision"] is None and "int8-static 0.80x" in choice["reason"]


def test_a_slower_artifact_is_warned_about_in_the_report() -> None:
    slow, fast = artifact("int8-dynamic", 40.0), artifact("int8-static", 9.0)
    assert fast.extra == {} and artifact("fp32", 10.2).extra == {}  # within the timing margin: no warning
    assert slow.extra["warnings"] == ["runs at 0.25x the fp32 reference's speed (slower) on this machine; "
                                      "`precision: auto` does not choose it"]
    result = BuildResult("m", "out", artifact("fp32", 10.0), [slow, fast], {}, {},
                         {"examples": 10, "metric": "accuracy", "labels": []})
    markdown = render_markdown(result)
    assert "## Warnings" in markdown and "`cpu/int8-dynamic`: runs at 0.25x" in markdown


def test_a_board_profile_timed_with_more_threads_than_this_machine_has_cores_is_warned_about() -> None:
    from edgeconv.choose import oversubscribed

    board = artifact("int8-full", 5.0)
    board.extra["runner"] = {"runner": "tflite", "kwargs": {"threads": 4}}
    assert "timed with 4 threads on this machine's 2 physical cores" in oversubscribed(board, 2)
    assert oversubscribed(board, 4) is None  # as many cores as threads: a real measurement
    board.extra["remote"] = {"device": "pi5"}  # timed on the board itself
    assert oversubscribed(board, 2) is None
