"""A remote stage cache behind the local one, so a CI fleet exports and calibrates once: ``cache: {url:
s3://bucket/prefix}`` in the spec, or ``$EDGECONV_CACHE_URL``; any fsspec URL works (s3fs for ``s3://``).

Layout under the URL, keyed like the local cache (``<stage>/<sha256 of the stage's inputs>``)::

    stages/<stage>/<key>.json              the pointer, written last: {"object", "sha256", "size"}
    stages/<stage>/<key>/<sha256>.tar      the entry's folder as a tar, named by its own digest

Why a pointer to a content-named object: two runners producing the same entry upload two tars under their own
names and never overwrite each other's bytes; whichever pointer lands last points at a whole tar. A reader
checks the tar's size and sha256 against the pointer, and the entry's stage.json against the key it asked
for, before anything reaches the local cache: a truncated or corrupted object is refused and the stage runs
here. Reading needs only GET (read-only credentials work); an upload that fails (a dropped connection,
AccessDenied) is a warning, never a failed build, and leaves no pointer behind.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgeconv.cache.stages import STAGE_FILE, seal
from edgeconv.errors import RuntimeUnavailable, SpecError
from edgeconv.fsutil import atomic_path, sha256_file, sha256_json

Event = Callable[[str, str], None]
_OBJECT = re.compile(r"[0-9a-f]{64}\.tar")


def remote_cache(url: str | None) -> RemoteCache | None:
    """The spec's remote cache, else ``$EDGECONV_CACHE_URL``'s, else none."""
    url = url or os.environ.get("EDGECONV_CACHE_URL")
    return RemoteCache(url) if url else None


class _Refused(Exception):
    """A downloaded entry that failed its checks: it is dropped, and the stage runs here."""


class RemoteCache:
    def __init__(self, url: str) -> None:
        import fsspec

        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except ImportError as exc:
            raise RuntimeUnavailable(f"the cache URL '{url}' needs {exc.name}",
                                     fix="pip install 'edgeconv[s3]' (s3fs) or the fsspec backend of that URL") from exc
        except ValueError as exc:
            raise SpecError(f"the cache URL '{url}' is not one fsspec knows ({exc})",
                            fix="use s3://bucket/prefix (or gs://, file://)") from exc
        self.url, self.root = url, root.rstrip("/")
        # Why this build stopped talking to the store: said once, then every stage goes on locally, rather
        # than each stage waiting out the client's retries against a store that is down or read-only.
        self.unreachable: str | None = None
        self.no_uploads: str | None = None

    def _pointer(self, stage: str, key: str) -> str:
        return f"{self.root}/stages/{stage}/{key}.json"

    def fetch(self, stage: str, entry: Path, on_event: Event) -> bool:
        """Download ``entry`` (``<local cache>/stages/<stage>/<key>``) if the remote holds it whole; else False."""
        if self.unreachable:
            return False
        try:
            pointer = json.loads(self.fs.cat_file(self._pointer(stage, entry.name)))
        except FileNotFoundError:
            return False
        except Exception as exc:  # an unreachable store must not fail the build: the stages run here
            self.unreachable = _short(exc)
            on_event(stage, f"remote: cannot read {self.url} ({self.unreachable}); this build goes on without it")
            return False
        try:
            with atomic_path(entry) as staged:
                problem = self._download(stage, entry.name, pointer, staged)
                if problem:
                    raise _Refused(problem)
            return True
        except _Refused as refused:
            on_event(stage, f"remote: refused the entry from {self.url}: {refused}; building here")
        except Exception as exc:
            on_event(stage, f"remote: download from {self.url} failed ({_short(exc)}); building here")
        return False

    def _download(self, stage: str, key: str, pointer: dict, folder: Path) -> str | None:
        """Fetch and unpack into ``folder`` (the archive lands beside it); returns why the entry is refused, or
        None."""
        name = str(pointer.get("object", ""))
        if not _OBJECT.fullmatch(name):
            return f"a malformed pointer ({name!r})"
        archive = folder.with_name("entry.tar")
        self.fs.get_file(f"{self.root}/stages/{stage}/{key}/{name}", str(archive))
        size, digest = archive.stat().st_size, sha256_file(archive)
        if size != pointer.get("size") or digest != pointer.get("sha256") or name != f"{digest}.tar":
            return f"corrupted or truncated ({size} bytes, sha256 {digest[:12]}; expected {pointer.get('size')} " \
                   f"bytes, {str(pointer.get('sha256'))[:12]})"
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")  # no absolute paths, no links out of the folder
        record = folder / STAGE_FILE
        if not record.is_file() or sha256_json(json.loads(record.read_text(encoding="utf-8"))["key"]) != key:
            return "its stage.json does not hold the inputs this stage asked for"
        seal(folder)  # as a local entry
        return None

    def push(self, stage: str, entry: Path, on_event: Event) -> None:
        """Upload a finished local entry: the tar under its digest, then the pointer."""
        if self.unreachable or self.no_uploads:
            return
        with tempfile.TemporaryDirectory(prefix=".upload.", dir=entry.parent) as tmp:
            archive = Path(tmp) / "entry.tar"
            with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
                for file in sorted(entry.rglob("*")):
                    tar.add(file, arcname=file.relative_to(entry).as_posix(), recursive=False)
            digest = sha256_file(archive)
            pointer = {"object": f"{digest}.tar", "sha256": digest, "size": archive.stat().st_size}
            try:
                self.fs.put_file(str(archive), f"{self.root}/stages/{stage}/{entry.name}/{digest}.tar")
                self.fs.pipe_file(self._pointer(stage, entry.name), json.dumps(pointer).encode())
            except PermissionError as exc:  # read-only credentials: reading still works
                self.no_uploads = _short(exc)
                on_event(stage, f"remote: {self.url} is read-only here ({self.no_uploads}); not uploading")
                return
            except Exception as exc:
                self.no_uploads = _short(exc)
                on_event(stage, f"remote: upload to {self.url} failed ({self.no_uploads}); this build's entries "
                                "stay local")
                return
        on_event(stage, "uploaded")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
