"""What this machine offers for TensorRT: the Python package, trtexec, and the GPUs.

``tensorrt_status()`` is what ``edgeconv doctor`` prints; the backend uses the same probes.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

HOW_TO_GET = (
    "Jetson: install JetPack (TensorRT, its Python bindings and trtexec come with it; trtexec is in "
    "/usr/src/tensorrt/bin); x86-64 with an NVIDIA GPU: "
    "pip install tensorrt --extra-index-url https://pypi.nvidia.com (PyPI's tensorrt is only a stub that "
    "downloads from NVIDIA's index), or NVIDIA's TensorRT container / tar package for trtexec"
)
TRTEXEC_PLACES = ("/usr/src/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec")


def tensorrt_version() -> str | None:
    """The importable tensorrt's version, or None (any import failure: missing libs count as missing)."""
    try:
        import tensorrt
    except Exception:
        return None
    return str(tensorrt.__version__)


def trtexec_path() -> str | None:
    import os

    found = shutil.which("trtexec")
    if found:
        return found
    return next((p for p in TRTEXEC_PLACES if os.access(p, os.X_OK)), None)


def gpus() -> list[dict[str, str]]:
    """Name and compute capability of each GPU, from nvidia-smi, else torch (Jetson has no nvidia-smi)."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=True).stdout
            return [dict(zip(("name", "compute_capability"), (c.strip() for c in line.split(",")), strict=False))
                    for line in out.splitlines() if line.strip()]
        except (subprocess.SubprocessError, OSError):
            pass
    try:
        import torch

        if torch.cuda.is_available():
            return [{"name": torch.cuda.get_device_name(i),
                     "compute_capability": "{}.{}".format(*torch.cuda.get_device_capability(i))}
                    for i in range(torch.cuda.device_count())]
    except Exception:  # a broken CUDA install must not break doctor
        pass
    return []


def tensorrt_status() -> dict[str, Any]:
    version = tensorrt_version()
    return {
        "installed": version is not None, "version": version, "how_to_get": None if version else HOW_TO_GET,
        "trtexec": trtexec_path(), "gpus": gpus(),
    }
