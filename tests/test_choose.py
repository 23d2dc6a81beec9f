"""`precision: auto` never picks a reduced precision slower than the fp32 reference; such artifacts are warned about;
artifacts that cannot be told apart (round by round in one pass, else by overlapping intervals) are a tie, broken
toward the smaller, then the more faithful one."""

from __future__ import annotations

from edgeconv.choose import choose_precision, slower_than_reference, speedup_text, verdict
from edgeconv.report.markdown import render_markdown
from edgeconv.results import (
    FAILED,
    PASSED,
    ArtifactResult,
    BuildResult,
    Measurement,
    RemoteFacts,
    RunnerRecord,
    Timing,
    TimingPass,
)


def artifact(precision: str, p50: float, reference_p50: float = 10.0, status: str = PASSED,
             interval: list[float] | None = None, size_mb: float = 10.0, agreement: float = 1.0) -> ArtifactResult:
    latency = {"p50": p50, "p90": p50, "p99": p50, "mean": p50, "std": 0.0, "runs": 10}
    m = Measurement(0.9, 0.9, {}, agreement, 0.0, latency, [p50] * 10, 10.0, 0.1, {})
    a = ArtifactResult("cpu", "onnxruntime", precision, status=status, measurement=m, size_bytes=int(size_mb * 1e6),
                       speedup_vs_reference=reference_p50 / p50, accuracy_delta=0.0, speedup_interval=interval)
    warning = slower_than_reference(a)
    if warning:
        a.warnings = [warning]
    return a


def test_auto_skips_an_int8_artifact_slower_than_the_reference() -> None:
    rows = [artifact("fp32", 9.8), artifact("int8-dynamic", 40.0), artifact("int8-static", 9.0)]
    choice = choose_precision("cpu", rows)
    assert choice["precision"] == "int8-static"
    rows = [artifact("fp32", 9.8), artifact("int8-dynamic", 40.0), artifact("int8-static", 12.0)]
    choice = choose_precision("cpu", rows)
    assert choice["precision"] == "fp32"
    assert "int8-static 0.83x (slower than the reference)" in choice["reason"]


def test_auto_says_why_when_only_slower_artifacts_passed() -> None:
    rows = [artifact("fp32", 9.8, status=FAILED), artifact("int8-static", 12.5)]
    choice = choose_precision("cpu", rows)
    assert choice["precision"] is None and "int8-static 0.80x" in choice["reason"]


def test_a_slower_artifact_is_warned_about_in_the_report() -> None:
    slow, fast = artifact("int8-dynamic", 40.0), artifact("int8-static", 9.0)
    assert fast.warnings == [] and artifact("fp32", 10.2).warnings == []  # within the timing margin: no warning
    assert slow.warnings == ["runs at 0.25x the fp32 reference's speed (slower) on this machine; "
                                      "`precision: auto` does not choose it"]
    result = BuildResult("m", "out", artifact("fp32", 10.0), [slow, fast], {}, {},
                         {"examples": 10, "metric": "accuracy", "labels": []})
    markdown = render_markdown(result)
    assert "## Warnings" in markdown and "`cpu/int8-dynamic`: runs at 0.25x" in markdown


def test_a_board_profile_timed_with_more_threads_than_this_machine_has_cores_is_warned_about() -> None:
    from edgeconv.choose import oversubscribed

    board = artifact("int8-full", 5.0)
    board.runner = RunnerRecord(runner="tflite", kwargs={"threads": 4})
    assert "timed with 4 threads on this machine's 2 physical cores" in oversubscribed(board, 2)
    assert oversubscribed(board, 4) is None  # as many cores as threads: a real measurement
    board.remote = RemoteFacts(device={"label": "pi5"})  # timed on the board itself
    assert oversubscribed(board, 2) is None


def test_no_slower_warning_while_the_interval_contains_one() -> None:
    """A median of 0.74x from a loaded machine whose interval reaches past 1 is noise, not a slower artifact."""
    noisy = artifact("fp32", 13.5, interval=[0.55, 1.40])
    assert verdict(noisy) == "same" and slower_than_reference(noisy) is None
    slow = artifact("int8-static", 13.5, interval=[0.60, 0.90])
    assert verdict(slow) == "slower" and "0.74x (0.60-0.90)" in (slower_than_reference(slow) or "")


def test_overlapping_intervals_are_a_tie_that_goes_to_the_smaller_then_more_faithful_artifact() -> None:
    fp32 = artifact("fp32", 10.0, interval=[1.0, 1.0], size_mb=90)
    dynamic = artifact("int8-dynamic", 4.6, interval=[1.9, 2.5], size_mb=23, agreement=0.98)
    static = artifact("int8-static", 4.4, interval=[2.0, 2.6], size_mb=23, agreement=0.99)
    fp16 = artifact("fp16", 4.0, interval=[2.4, 2.6], size_mb=45)
    choice = choose_precision("cpu", [fp32, dynamic, static, fp16])
    assert choice["precision"] == "int8-static"  # the fastest (fp16) ties with both int8s: smaller, then agreement
    assert set(choice["margin"]["tied_with"]) == {"cpu/int8-dynamic", "cpu/fp16"}
    assert choice["margin"]["runner_up"] == "cpu/fp32" and choice["margin"]["ratio"] > 2
    assert "not distinguishable from" in choice["reason"]
    apart = artifact("fp16", 3.0, interval=[3.2, 3.5], size_mb=45)  # clear of the int8 intervals: it wins
    assert choose_precision("cpu", [fp32, dynamic, static, apart])["precision"] == "fp16"


def with_rounds(a: ArtifactResult, rounds_ms: list[float]) -> ArtifactResult:
    a.timing = Timing(round_p50_ms=rounds_ms)
    return a


def test_rows_of_one_pass_are_compared_round_by_round_not_by_overlapping_intervals() -> None:
    """A loaded pass: every round slows both rows alike, so their intervals against the reference overlap while
    the faster row is faster in every round (the zoo's PP-LCNet: OpenVINO int8 1.38x (1.04-2.09) lost to a 1.00x
    (0.91-1.46) ORT int8 as "the smaller" before)."""
    load = [1.0, 1.6, 1.1, 2.2, 1.3, 1.0, 1.8, 1.2, 1.5, 1.0, 2.0, 1.1]
    fp32 = with_rounds(artifact("fp32", 6.4, interval=[1.0, 1.0], size_mb=6.7), [6.4 * x for x in load])
    ort = with_rounds(artifact("int8-static", 6.4, interval=[0.91, 1.46], size_mb=1.90), [6.4 * x for x in load])
    ov = with_rounds(artifact("int8-static", 4.6, interval=[1.04, 2.09], size_mb=1.96), [4.6 * x for x in load])
    ov.target = "openvino"
    choice = choose_precision("cpu", [fp32, ort, ov])
    assert choice["precision"] == "int8-static" and choice["target"] == "openvino", choice
    assert choice["margin"]["tied_with"] == []
    # the same figures without shared rounds (two shards' passes): the overlap rule, a tie that goes to the smaller
    ov.timing_pass = TimingPass(shard="b")
    choice = choose_precision("cpu", [fp32, ort, ov])
    assert choice["target"] == "cpu" and "cpu/int8-static" not in choice["margin"]["tied_with"]
    assert "openvino/int8-static" in choice["margin"]["tied_with"]
    # one pass, but the rounds disagree about which is faster: a tie again
    ov.timing_pass = None
    with_rounds(ov, [6.4 * x * (0.7 if i % 2 else 1.3) for i, x in enumerate(load)])
    assert "openvino/int8-static" in choose_precision("cpu", [fp32, ort, ov])["margin"]["tied_with"]


def test_a_loaded_pass_needs_99_percent_to_call_one_of_two_rows_faster() -> None:
    """Rounds in which the faster row wins 18 of 24 times by 1.2x: apart at 95% (a quiet pass), a tie at 99% (a
    loaded one, where a true tie read as a winner in one of two CI builds)."""
    base = [10.0] * 24
    rows = [with_rounds(artifact("fp32", 10.0, interval=[1.0, 1.0], size_mb=90), base),
            with_rounds(artifact("fp16", 10.0, interval=[0.8, 1.2], size_mb=45), base),
            with_rounds(artifact("int8-dynamic", 9.0, interval=[0.8, 1.3], size_mb=23),
                        [10.0 / (0.9 if i % 4 == 0 else 1.2) for i in range(24)])]
    rows[1].speedup_vs_reference, rows[2].speedup_vs_reference = 1.0, 1.1
    assert choose_precision("cpu", rows)["margin"]["tied_with"] == []  # quiet: int8-dynamic, apart from both
    for r in rows:
        r.timing.interleaved = {"rounds": 24, "loaded": True}
    choice = choose_precision("cpu", rows)
    assert choice["precision"] == "int8-dynamic" and set(choice["margin"]["tied_with"]) == {"cpu/fp32", "cpu/fp16"}


def test_a_loaded_pass_calls_a_row_faster_only_beyond_what_an_identical_file_read() -> None:
    """Under load each session keeps its own scheduling regime, so the pass times a second copy of the reference
    (its A/A control, ``verify.retime``): a 1.3x gap apart at 99% is a tie when the copy read 1.45x of the
    reference; a 2x gap is not, and a quiet pass (no control) keeps the 99%/95% rule alone."""
    base = [10.0] * 24
    rows = [with_rounds(artifact("fp32", 10.0, interval=[1.0, 1.0], size_mb=90), base),
            with_rounds(artifact("fp16", 10.0, interval=[0.8, 1.2], size_mb=45), base),
            with_rounds(artifact("int8-dynamic", 7.7, interval=[1.1, 1.5], size_mb=23),
                        [10.0 / (1.3 + 0.01 * (i % 5)) for i in range(24)])]
    rows[1].speedup_vs_reference, rows[2].speedup_vs_reference = 1.0, 1.3
    for r in rows:
        r.timing.interleaved = {"rounds": 24, "loaded": True}
    assert choose_precision("cpu", rows)["margin"]["tied_with"] == []  # no control: apart at 99%
    assert verdict(rows[2]) == "faster"
    control = {"rounds": 12, "ratio": 0.98, "interval": [0.69, 1.45], "floor": 1.45}
    for r in rows:
        r.timing.interleaved = {"rounds": 24, "loaded": True, "control": control}
    choice = choose_precision("cpu", rows)
    assert choice["precision"] == "int8-dynamic"  # the smallest of the three ties
    assert set(choice["margin"]["tied_with"]) == {"cpu/fp32", "cpu/fp16"}
    assert verdict(rows[2]) == "same" and speedup_text(rows[2], cell=True).startswith("≈")
    with_rounds(rows[2], [10.0 / (2.0 + 0.01 * (i % 5)) for i in range(24)]).speedup_interval = [1.8, 2.2]
    rows[2].speedup_vs_reference = 2.0
    rows[2].timing.interleaved = {"rounds": 24, "loaded": True, "control": control}
    assert choose_precision("cpu", rows)["margin"]["tied_with"] == [] and verdict(rows[2]) == "faster"


def test_a_rebuild_on_a_loaded_machine_makes_the_same_choice_when_the_medians_swap() -> None:
    """Two builds whose noisy medians rank two artifacts in opposite orders choose the same one."""
    for dyn, stat in (([1.7, 2.6], [1.8, 2.5]), ([1.9, 2.4], [1.5, 2.6])):
        rows = [artifact("fp32", 10.0, interval=[1.0, 1.0], size_mb=90),
                artifact("int8-dynamic", 4.6, interval=dyn, size_mb=23, agreement=0.97),
                artifact("int8-static", 4.8, interval=stat, size_mb=23, agreement=0.99)]
        rows[1].speedup_vs_reference, rows[2].speedup_vs_reference = sum(dyn) / 2, sum(stat) / 2
        assert choose_precision("cpu", rows)["precision"] == "int8-static"


def test_two_builds_on_a_loaded_machine_make_the_same_choice_or_both_report_a_tie(tmp_path, cpu_burners) -> None:
    """The same spec built twice with --no-cache while other processes take every core (a real model nobody here
    made: Google's Magika, shipped by the magika wheel)."""
    import json
    from pathlib import Path

    import pytest
    from click.testing import CliRunner

    from edgeconv.cli import main

    pytest.importorskip("magika", reason="the zoo's models ship in the zoo extra: pip install -e '.[zoo]'")
    spec = Path(__file__).resolve().parents[1] / "samples/zoo/magika-file-types/edgeconv.yaml"
    choices = []
    for i in range(2):
        result = CliRunner().invoke(main, [
            "build", str(spec), "--out", str(tmp_path / f"out-{i}"), "--no-cache",
            "--set", "calibration=null", "--set", "targets=[{name: x86-cpu-ort, precisions: [auto]}]",
            "--set", "latency={warmup: 2, runs: 24, min_time_s: 0}"])
        assert result.exit_code in (0, 1), result.stdout + result.stderr
        report = json.loads((tmp_path / f"out-{i}" / "report.json").read_text())
        static = next(a for a in report["artifacts"] if a["precision"] == "int8-static")
        assert static["status"] == "skipped" and "needs a calibration set" in static["reason"]  # auto, uncalibrated
        assert report["timing"]["loaded"]  # the build saw the competition, and said so
        assert "the machine was busy while timing" in (tmp_path / f"out-{i}" / "report.md").read_text()
        (choice,) = report["selections"]
        choices.append(choice)
    same = choices[0]["precision"] == choices[1]["precision"]
    assert same or all(c["margin"]["tied_with"] for c in choices), choices
