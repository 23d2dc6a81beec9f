"""fsutil.atomic_path: the one stage-then-rename, for a file or a whole folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconv.fsutil import atomic_path


def test_a_folder_replaces_the_old_one_whole_and_leaves_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_path(target, folder=True) as staged:
        assert staged.is_dir() and not any(staged.iterdir())
        (staged / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_a_failing_block_keeps_what_was_there(tmp_path: Path) -> None:
    target = tmp_path / "model.tflite"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as staged:
        staged.write_bytes(b"half")
        raise RuntimeError("the converter died")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.tflite"]
