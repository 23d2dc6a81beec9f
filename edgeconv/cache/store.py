"""The shared stage cache: what is in it, and clearing it (`edgeconv cache ls|clear`)."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from edgeconv.cache.stages import STAGE_FILE, cache_root


@dataclass
class CacheEntry:
    stage: str
    key: str  # sha256 of the stage's inputs
    size_bytes: int
    last_used: float  # seconds since the epoch
    path: Path


def entries(root: Path | None = None) -> list[CacheEntry]:
    base = (root or cache_root()) / "stages"
    found = []
    for record in base.rglob(STAGE_FILE) if base.is_dir() else []:
        folder = record.parent
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        found.append(CacheEntry(folder.parent.relative_to(base).as_posix(), folder.name, size,
                                folder.stat().st_mtime, folder))
    return sorted(found, key=lambda e: (e.stage, -e.last_used))


def clear(root: Path | None = None, older_than_days: float | None = None) -> tuple[int, int]:
    """Remove entries (all, or those unused for ``older_than_days``); returns (entries, bytes) freed."""
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    removed = freed = 0
    for entry in entries(root):
        if cutoff is None or entry.last_used < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)
            entry.path.with_name(entry.path.name + ".lock").unlink(missing_ok=True)
            removed += 1
            freed += entry.size_bytes
    return removed, freed


def describe(entry: CacheEntry) -> dict[str, object]:
    meta = json.loads((entry.path / STAGE_FILE).read_text(encoding="utf-8"))
    return {"stage": entry.stage, "key": entry.key, "size_bytes": entry.size_bytes,
            "last_used": time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_used)),
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(meta.get("created", entry.last_used)))}
