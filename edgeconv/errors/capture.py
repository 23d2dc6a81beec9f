"""Capture what native code prints (file descriptors 1 and 2), not only Python's sys.stdout.

The torch ONNX exporter and some converters print whole graphs from C++ when they fail; that text
belongs in the stage's log file, not on the user's terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


class Captured:
    text: str = ""


@contextlib.contextmanager
def native_output() -> Iterator[Captured]:
    """Redirect fds 1 and 2 to a temporary file for the block; ``.text`` holds what was printed after it."""
    captured = Captured()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")
