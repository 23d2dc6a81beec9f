"""optimum-intel's own environment: the exporter of decoder LMs to stateful OpenVINO IRs.

optimum-intel 2.2 (the release for OpenVINO 2026.4) requires transformers < 5.6, while edgeconv's
environment has a newer transformers that it must not downgrade. So the export runs in a virtual
environment of its own (created on first use under the routes folder, like the ONNX -> TFLite route's
onnx2torch) and reads the reference's Hugging Face folder; everything after the export (NNCF weight
compression, LLMPipeline) runs in edgeconv's environment on the IR it wrote.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeconv.backends.tflite.onnx_route_env import routes_dir
from edgeconv.errors import StageError

PACKAGES = ["optimum-intel[openvino]==2.2.0", "openvino==2026.4.1", "nncf==3.4.0", "torch==2.13.0"]
READY = "edgeconv-route.json"


def env_folder() -> Path:
    """$EDGECONV_OPTIMUM_ENV (a virtual environment the user made with the same pins), else the routes folder's."""
    return Path(os.environ.get("EDGECONV_OPTIMUM_ENV") or routes_dir() / "optimum-intel-2.2.0")


def optimum_cli() -> list[str]:
    """The command that runs optimum-cli in the environment (through its interpreter: a venv's scripts hold the
    absolute path of the folder it was created in, which is renamed)."""
    return [str(env_folder() / "bin" / "python"), "-m", "optimum.commands.optimum_cli"]


def ensure_env(timeout_s: float = 1800) -> list[str]:
    """Create the environment unless it is complete; return its ``optimum-cli``. Locked and renamed into place,
    so concurrent builds wait for one install and never see half of one."""
    folder = env_folder()
    if (folder / READY).is_file():
        return optimum_cli()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / ".lock-optimum").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / READY).is_file():
            return optimum_cli()
        staging = Path(tempfile.mkdtemp(prefix=".optimum-", dir=folder.parent))
        try:
            _run([sys.executable, "-m", "venv", str(staging)], timeout_s)
            _run([str(staging / "bin" / "python"), "-m", "pip", "install", "--quiet", *PACKAGES], timeout_s)
            # optimum-intel drags in PyPI's torchvision, built for CUDA torch: beside the CPU torch its import
            # fails ("operator torchvision::nms does not exist") and takes transformers down; the export needs none
            _run([str(staging / "bin" / "python"), "-m", "pip", "uninstall", "--yes", "--quiet", "torchvision"],
                 timeout_s)
            (staging / READY).write_text(json.dumps({"packages": PACKAGES}))
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return optimum_cli()


def _run(command: list[str], timeout_s: float) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise StageError(f"openvino-genai: could not create optimum-intel's environment: "
                         f"{lines[-1] if lines else f'exit {done.returncode}'}",
                         fix=f"check that pip can reach its index; packages: {' '.join(PACKAGES)}")
