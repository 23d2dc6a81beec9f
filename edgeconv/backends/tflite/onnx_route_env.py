"""The ONNX -> TFLite route's own environment: onnx2torch, installed by edgeconv on first use.

onnx2torch declares torchvision as a dependency but needs it only for the NonMaxSuppression and RoiAlign
converters. Installed with its dependencies, pip brings PyPI's torchvision, which is built for CUDA
torch: beside a CPU torch it fails at import ("operator torchvision::nms does not exist"), and
transformers then fails too, since it imports torchvision when it finds one. So the route keeps
onnx2torch out of the main environment: edgeconv installs the pinned, hash-checked wheel without its
dependencies into a folder of its own and puts that folder on the conversion worker's path only.
``edgeconv doctor`` reports the folder.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgeconv.errors import StageError
from edgeconv.fsutil import atomic_path

ONNX2TORCH = "onnx2torch==1.5.15"
# The sha256 of onnx2torch-1.5.15-py3-none-any.whl on PyPI (pip --require-hashes checks it).
ONNX2TORCH_SHA256 = "123258e0f147e07b259cf845c8113c5634b8260e52c5fb26b7d507226732d9e5"
READY = "edgeconv-route.json"


def routes_dir() -> Path:
    """Where route environments live: $EDGECONV_ROUTES_DIR, else ~/.cache/edgeconv/routes."""
    return Path(os.environ.get("EDGECONV_ROUTES_DIR") or Path.home() / ".cache" / "edgeconv" / "routes")


def route_folder() -> Path:
    return routes_dir() / ONNX2TORCH.replace("==", "-")


def onnx2torch_path() -> Path | None:
    """The folder to put on the worker's path, or None when the main environment has onnx2torch itself."""
    if importlib.util.find_spec("onnx2torch") is not None:
        return None
    return route_folder()


def ensure_route() -> Path | None:
    """Install onnx2torch into the route folder unless it is there (or importable); return the folder.

    Several builds may start at once: a lock serialises them, and the folder appears only complete
    (installed into a temporary folder, then renamed).
    """
    folder = onnx2torch_path()
    if folder is None or (folder / READY).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / READY).is_file():
            return folder
        with atomic_path(folder, folder=True) as staging:
            _pip_install(staging)
            (staging / READY).write_text(json.dumps({"package": ONNX2TORCH, "sha256": ONNX2TORCH_SHA256}))
    return folder


def _pip_install(target: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as requirements:
        requirements.write(f"{ONNX2TORCH} --hash=sha256:{ONNX2TORCH_SHA256}\n")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes", "--target",
             str(target), "-r", requirements.name], capture_output=True, text=True, timeout=600, check=False)
    finally:
        os.unlink(requirements.name)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        error = StageError(f"tflite: could not install {ONNX2TORCH} for the ONNX -> TFLite route: "
                           f"{lines[-1] if lines else f'pip exit {proc.returncode}'}",
                           fix=f"check that pip can reach its package index, or pip install {ONNX2TORCH} --no-deps")
        error.details = proc.stderr  # type: ignore[attr-defined]  # for the stage's log
        raise error


def route_status() -> dict[str, Any]:
    """What ``edgeconv doctor`` prints about the ONNX -> TFLite route."""
    folder = onnx2torch_path()
    if folder is None:
        where, ready = "the main environment", True
    else:
        where, ready = str(folder), (folder / READY).is_file()
    return {"onnx2torch": ONNX2TORCH, "where": where, "ready": ready,
            "note": None if ready else "installed on the first ONNX -> TFLite build (one wheel, about 100 KB)"}
