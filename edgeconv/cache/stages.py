"""Stages that write atomically and are reused when their inputs have not changed.

A stage's result lives in a content-addressed cache shared by every build on the machine
(``$EDGECONV_CACHE_DIR``, else ``$XDG_CACHE_HOME/edgeconv``, else ``~/.cache/edgeconv``):
``<cache>/stages/<name>/<sha256 of the inputs>/``. A build then places the result at
``out/<name>/`` (hard links where the file system allows, else copies). So a re-run with nothing
changed, even into a new ``--out``, reuses every stage; a changed calibration set re-runs only the
stages whose keys hold its hash.

Safety: a result is produced in a temporary folder and renamed into the cache only when complete
(``stage.json``, holding the key, is written last); a lock per entry makes a second concurrent
build wait for the first and then reuse its result instead of producing it twice.

A remote cache (``cache: {url: s3://...}``, scale/remote_cache.py) sits behind the local one: an entry missing
here is downloaded (and checked) before the stage would run, and a produced entry is uploaded after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from edgeconv.errors import EdgeconvError, StageError
from edgeconv.errors.failures import contain
from edgeconv.fsutil import atomic_path, sha256_json

STAGE_FILE = "stage.json"


def cache_root() -> Path:
    explicit = os.environ.get("EDGECONV_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeconv"


class RemoteTier(Protocol):
    """A shared cache behind the local one (cache/remote.py): entries fetched before producing, pushed after."""

    def fetch(self, stage: str, entry: Path, on_event: Callable[[str, str], None]) -> bool: ...

    def push(self, stage: str, entry: Path, on_event: Callable[[str, str], None]) -> None: ...


class Stages:
    def __init__(
        self, out: Path, use_cache: bool = True, on_event: Callable[[str, str], None] | None = None,
        cache: Path | None = None, remote: RemoteTier | None = None,
    ) -> None:
        self.out = Path(out)
        self.cache = Path(cache) if cache else cache_root()
        self.use_cache = use_cache
        self.on_event = on_event or (lambda stage, event: None)
        self.remote = remote

    def entry(self, name: str, key: dict[str, Any]) -> Path:
        return self.cache / "stages" / name / sha256_json(key)

    def run(self, name: str, key: dict[str, Any], produce: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict]:
        """Return (folder under out/, meta) of stage ``name``, producing it with ``produce(tmp)`` if needed."""
        entry = self.entry(name, key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        with _locked(entry.with_name(entry.name + ".lock")):
            meta = _read_meta(entry) if self.use_cache else None
            if meta is None and self.use_cache and self.remote and self.remote.fetch(name, entry, self.on_event):
                meta = _read_meta(entry)
                self.on_event(name, "downloaded")
            elif meta is not None:
                self.on_event(name, "cached")
                _touch(entry)
            if meta is None:
                self.on_event(name, "start")
                meta = self._produce(name, entry, key, produce)
                self.on_event(name, "done")
                if self.remote:
                    self.remote.push(name, entry, self.on_event)
        return place_tree(entry, self.out / name), meta

    def _produce(
        self, name: str, entry: Path, key: dict[str, Any], produce: Callable[[Path], dict[str, Any]],
    ) -> dict:
        with atomic_path(entry, folder=True) as tmp:  # --no-cache over an existing entry: replaced whole
            try:
                meta = produce(tmp)
            except StageError as exc:
                if getattr(exc, "details", None) and not getattr(exc, "log", None):
                    raise contain(name, exc, self.out) from exc  # keep what a worker printed in the log
                raise
            except EdgeconvError:
                raise
            except Exception as exc:  # a library's own exception: one line naming this stage, traceback in a log
                raise contain(name, exc, self.out) from exc
            (tmp / STAGE_FILE).write_text(json.dumps({"key": key, "meta": meta, "created": time.time()}, default=str))
            seal(tmp)
        return meta


def seal(folder: Path) -> None:
    """Make a cache entry's files read-only: out/ holds hard links to them, so nothing may edit them in place."""
    for file in folder.rglob("*"):
        if file.is_file():
            file.chmod(0o444)


def _read_meta(entry: Path) -> dict[str, Any] | None:
    record = entry / STAGE_FILE
    if not record.is_file():
        return None
    return json.loads(record.read_text(encoding="utf-8"))["meta"]


def _touch(entry: Path) -> None:
    """Record the last use (``edgeconv cache clear --older-than`` goes by it)."""
    with contextlib.suppress(OSError):
        os.utime(entry)


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def place_tree(entry: Path, dest: Path) -> Path:
    """Put a folder (a cached result) at ``dest`` (hard links, else copies), atomically replacing what was
    there."""
    if dest.is_dir() and _same_entry(dest, entry):
        return dest
    with atomic_path(dest, folder=True) as tmp:
        for source in entry.rglob("*"):
            target = tmp / source.relative_to(entry)
            if source.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:  # another file system, or links not allowed
                shutil.copy2(source, target)
    return dest


def _same_entry(dest: Path, entry: Path) -> bool:
    """Whether ``dest`` already holds this entry (same stage.json bytes)."""
    a, b = dest / STAGE_FILE, entry / STAGE_FILE
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()
