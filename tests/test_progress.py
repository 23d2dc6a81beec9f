"""Progress of long searches: steps reach the listener with an ETA, and the CLI draws them per medium."""

from __future__ import annotations

import io

from rich.console import Console

from edgeconv.progress.display import StageProgress, duration, step_line
from edgeconv.progress.steps import Step, Task, listening


def test_a_task_reports_each_step_to_the_listener_and_nothing_without_one() -> None:
    seen: list[Step] = []
    Task("silent", 3).advance("no listener: nothing happens")
    with listening(seen.append):
        task = Task("trial", 3, at_most=True)
        task.advance("first")
        task.advance("second")
    Task("after", 1).advance()
    assert [(s.task, s.done, s.total, s.detail) for s in seen] == [
        ("trial", 0, 3, ""), ("trial", 1, 3, "first"), ("trial", 2, 3, "second")]
    assert seen[0].eta_s is None and seen[2].at_most


def test_eta_is_the_mean_pace_times_the_steps_left_capped_by_the_time_limit() -> None:
    assert Step("t", 2, 6, "", elapsed_s=10.0).eta_s == 20.0
    assert Step("t", 2, 6, "", elapsed_s=10.0, limit_s=15.0).eta_s == 5.0
    assert Step("t", 6, 6, "", elapsed_s=10.0).eta_s == 0.0


def test_step_lines_say_done_of_total_the_detail_and_the_eta() -> None:
    assert duration(42) == "42 s" and duration(190) == "3 min 10 s" and duration(3720) == "1 h 02 min"
    line = step_line(Step("quantize-and-evaluate trial", 2, 6, "1 kept float", 20.0, at_most=True))
    assert line == "quantize-and-evaluate trial 2/≤6: 1 kept float · ETA ≤ 40 s"
    assert step_line(Step("ranking", 4, 4, "done", 8.0)) == "ranking 4/4: done"  # finished: no ETA


def _draw(terminal: bool, quiet: bool = False, total: int = 3) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=200)
    with StageProgress(console, quiet=quiet) as progress:
        progress.event("artifacts/x86-cpu-ort-int8-static", "start")
        task = Task("trial", total)
        for i in range(total):
            task.advance(f"[{i}] kept float")  # brackets are text, not markup
        progress.event("artifacts/x86-cpu-ort-int8-static", "done")
    return buffer.getvalue()


def test_off_a_terminal_each_finished_step_is_one_plain_line() -> None:
    lines = [line.strip() for line in _draw(terminal=False).splitlines() if line.strip().startswith("trial")]
    assert [line.split(" · ETA ")[0] for line in lines] == [
        "trial 1/3: [0] kept float", "trial 2/3: [1] kept float", "trial 3/3: [2] kept float"]
    assert "ETA" in lines[0] and "ETA" not in lines[2]


def test_a_long_loop_off_a_terminal_logs_about_twenty_lines_not_one_per_step() -> None:
    lines = [line for line in _draw(terminal=False, total=300).splitlines() if line.strip().startswith("trial")]
    assert 15 <= len(lines) <= 21 and lines[-1].strip().startswith("trial 300/300")


def test_on_a_terminal_steps_update_the_status_line_and_json_mode_draws_nothing() -> None:
    drawn = _draw(terminal=True)
    assert "artifacts/x86-cpu-ort-int8-static · trial" in drawn
    assert _draw(terminal=False, quiet=True) == "" and _draw(terminal=True, quiet=True) == ""
