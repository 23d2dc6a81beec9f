"""Stages that write atomically and are reused when their inputs have not changed.

Each stage owns ``out/<name>/``: it is produced in a temporary sibling folder, a ``stage.json``
recording the hash of the stage's inputs is written last, and the folder is renamed into place.
A re-run whose inputs hash the same reuses the folder; an interrupted one leaves no partial folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeconv.fsutil import sha256_json

STAGE_FILE = "stage.json"


class Stages:
    def __init__(self, root: Path, use_cache: bool = True, on_event: Callable[[str, str], None] | None = None) -> None:
        self.root = Path(root)
        self.use_cache = use_cache
        self.on_event = on_event or (lambda stage, event: None)

    def cached(self, name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """The stored meta of stage ``name`` if it was produced from the same inputs."""
        record = self.root / name / STAGE_FILE
        if not self.use_cache or not record.is_file():
            return None
        stored = json.loads(record.read_text(encoding="utf-8"))
        return stored["meta"] if stored.get("key") == sha256_json(key) else None

    def run(self, name: str, key: dict[str, Any], produce: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict]:
        """Return (folder, meta) of stage ``name``, producing it with ``produce(tmp_folder)`` if needed."""
        dest = self.root / name
        meta = self.cached(name, key)
        if meta is not None:
            self.on_event(name, "cached")
            return dest, meta
        self.on_event(name, "start")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            meta = produce(tmp)
            (tmp / STAGE_FILE).write_text(json.dumps({"key": sha256_json(key), "meta": meta}, default=str))
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.on_event(name, "done")
        return dest, meta
