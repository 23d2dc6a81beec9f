"""Reproducible tar.gz: same files in, same bytes out (sorted names, fixed mtime/owner/mode, gzip mtime 0).

Python's tarfile/gzip do the format; only the fields that vary between machines and runs are pinned.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

FIXED_MTIME = 0
MODE = 0o644


def write_archive(dest: Path, files: dict[str, bytes | Path], compresslevel: int = 9) -> None:
    """Write ``files`` (archive name -> bytes or a file to read) to ``dest``, sorted by name; any fixed
    ``compresslevel`` keeps the bytes reproducible."""
    with dest.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=FIXED_MTIME,
                                               compresslevel=compresslevel) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, MODE, 0, 0, "", ""
            if isinstance(data, Path):
                info.size = data.stat().st_size
                with data.open("rb") as f:
                    tar.addfile(info, f)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

