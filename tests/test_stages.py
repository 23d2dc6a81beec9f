"""Stages: cached by content in a shared cache, placed atomically in out/, safe under concurrent builds."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

import pytest

from edgeconv.cache.stages import Stages
from edgeconv.errors import StageError


def counting(calls: list[int], text: str = "x"):
    def produce(folder: Path) -> dict:
        calls.append(1)
        (folder / "file.txt").write_text(f"{text}{len(calls)}")
        return {"n": len(calls)}

    return produce


def test_reuse_when_inputs_unchanged_and_rebuild_when_changed(tmp_path: Path) -> None:
    calls: list[int] = []
    events: list[tuple[str, str]] = []
    stages = Stages(tmp_path / "out", on_event=lambda s, e: events.append((s, e)), cache=tmp_path / "cache")
    assert stages.run("a", {"k": 1}, counting(calls))[1] == {"n": 1}
    assert stages.run("a", {"k": 1}, counting(calls))[1] == {"n": 1}
    assert ("a", "cached") in events
    folder, meta = stages.run("a", {"k": 2}, counting(calls))
    assert meta == {"n": 2} and (folder / "file.txt").read_text() == "x2"
    assert Stages(tmp_path / "out", use_cache=False, cache=tmp_path / "cache").run(
        "a", {"k": 2}, counting(calls))[1] == {"n": 3}


def test_a_new_out_folder_reuses_the_shared_cache(tmp_path: Path) -> None:
    calls: list[int] = []
    Stages(tmp_path / "out1", cache=tmp_path / "cache").run("a", {"k": 1}, counting(calls))
    folder, _ = Stages(tmp_path / "out2", cache=tmp_path / "cache").run("a", {"k": 1}, counting(calls))
    assert len(calls) == 1 and (folder / "file.txt").read_text() == "x1"
    assert folder == tmp_path / "out2" / "a"
    cached = next((tmp_path / "cache").rglob("file.txt"))
    assert (folder / "file.txt").stat().st_ino == cached.stat().st_ino  # a hard link, not a copy
    assert stat.S_IMODE(cached.stat().st_mode) == 0o444  # read-only: nothing edits the cache through out/


def test_a_failed_stage_leaves_nothing_and_keeps_the_previous_result(tmp_path: Path) -> None:
    stages = Stages(tmp_path / "out", cache=tmp_path / "cache")
    stages.run("a", {"k": 1}, lambda folder: (folder / "ok").write_text("1") and {})

    def fail(folder: Path) -> dict:
        (folder / "half").write_text("half-written")
        raise RuntimeError("interrupted")

    with pytest.raises(StageError, match=r"^a failed in edgeconv: RuntimeError: interrupted") as caught:
        stages.run("a", {"k": 2}, fail)
    assert isinstance(caught.value.__cause__, RuntimeError)
    log = tmp_path / "out" / "logs" / "a.log"
    assert str(log) in str(caught.value) and "Traceback" in log.read_text()
    assert (tmp_path / "out" / "a" / "ok").exists() and not (tmp_path / "out" / "a" / "half").exists()
    with pytest.raises(StageError):
        stages.run("b", {"k": 1}, fail)
    assert not (tmp_path / "out" / "b").exists()
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_dir() and p.name.startswith(".")]
    assert leftovers == []


def test_two_concurrent_builds_produce_a_stage_once(tmp_path: Path) -> None:
    calls: list[int] = []

    def slow(folder: Path) -> dict:
        calls.append(1)
        time.sleep(0.3)
        (folder / "file.txt").write_text("done")
        return {"n": len(calls)}

    results: list[dict] = []

    def build(out: str) -> None:
        results.append(Stages(tmp_path / out, cache=tmp_path / "cache").run("a", {"k": 1}, slow)[1])

    threads = [threading.Thread(target=build, args=(f"out{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results == [{"n": 1}, {"n": 1}]
    assert all((tmp_path / f"out{i}" / "a" / "file.txt").read_text() == "done" for i in range(2))
