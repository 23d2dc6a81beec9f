"""Stages are atomic and reused only when their inputs hash the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconv.stages import Stages


def test_reuse_when_inputs_unchanged_and_rebuild_when_changed(tmp_path: Path) -> None:
    calls: list[int] = []
    events: list[tuple[str, str]] = []

    def produce(folder: Path) -> dict:
        calls.append(1)
        (folder / "file.txt").write_text(str(len(calls)))
        return {"n": len(calls)}

    stages = Stages(tmp_path, on_event=lambda s, e: events.append((s, e)))
    assert stages.run("a", {"k": 1}, produce)[1] == {"n": 1}
    assert stages.run("a", {"k": 1}, produce)[1] == {"n": 1}
    assert ("a", "cached") in events
    folder, meta = stages.run("a", {"k": 2}, produce)
    assert meta == {"n": 2} and (folder / "file.txt").read_text() == "2"
    assert Stages(tmp_path, use_cache=False).run("a", {"k": 2}, produce)[1] == {"n": 3}


def test_a_failed_stage_leaves_nothing_and_keeps_the_previous_result(tmp_path: Path) -> None:
    stages = Stages(tmp_path)
    stages.run("a", {"k": 1}, lambda folder: (folder / "ok").write_text("1") and {})

    def fail(folder: Path) -> dict:
        (folder / "half").write_text("half-written")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        stages.run("a", {"k": 2}, fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert (tmp_path / "a" / "ok").exists() and not (tmp_path / "a" / "half").exists()
    with pytest.raises(RuntimeError):
        stages.run("b", {"k": 1}, fail)
    assert not (tmp_path / "b").exists()
