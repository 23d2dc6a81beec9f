"""optimum-intel's own environment: the exporter of decoder LMs to stateful OpenVINO IRs.

optimum-intel 2.2 (the release for OpenVINO 2026.4) requires transformers < 5.6, while edgeconv's
environment has a newer transformers that it must not downgrade. So the export runs in a small virtual
environment of its own that holds only what must differ (optimum-intel, optimum, transformers and the
tokenizers / huggingface-hub / httpx that transformers 5.5 accepts, installed with ``--no-deps``: ~125 MB, well
under a minute) and reuses edgeconv's own torch, openvino, nncf and numpy through a ``.pth`` file that appends
edgeconv's site-packages after its own (so its transformers wins). It is made on first use under the routes
folder (or at ``$EDGECONV_OPTIMUM_ENV``) and reads the reference's Hugging Face folder; everything after the
export (NNCF weight compression, LLMPipeline) runs in edgeconv's environment on the IR it wrote.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from edgeconv.backends.tflite.onnx_route_env import routes_dir
from edgeconv.errors import StageError
from edgeconv.fsutil import atomic_path

# What must differ from edgeconv's environment (pins that optimum-intel 2.2.0 and transformers 5.5.4 accept).
PINS = ["optimum-intel==2.2.0", "optimum==2.3.0", "transformers==5.5.4", "tokenizers==0.22.2",
        "huggingface-hub==1.21.0", "httpx==0.29.0", "httpcore==1.0.9"]
READY = "edgeconv-route.json"
BASE_PTH = "edgeconv-base.pth"


def base_site() -> str:
    """edgeconv's own site-packages (torch, openvino, nncf, numpy), which the environment reuses."""
    return sysconfig.get_paths()["purelib"]


def env_folder() -> Path:
    """$EDGECONV_OPTIMUM_ENV, else a folder under the routes folder named by the pins and the site-packages it
    reuses (another edgeconv environment gets an environment of its own)."""
    if os.environ.get("EDGECONV_OPTIMUM_ENV"):
        return Path(os.environ["EDGECONV_OPTIMUM_ENV"])
    digest = hashlib.sha256(json.dumps([PINS, base_site()]).encode()).hexdigest()[:12]
    return routes_dir() / f"optimum-intel-2.2.0-{digest}"


def optimum_cli() -> list[str]:
    """The command that runs optimum-cli in the environment (through its interpreter: a venv's scripts hold the
    absolute path of the folder it was created in, which is renamed)."""
    return [str(env_folder() / "bin" / "python"), "-m", "optimum.commands.optimum_cli"]


def env_status() -> dict[str, Any]:
    """What ``edgeconv doctor`` prints about the export environment (like the ONNX -> TFLite route's)."""
    folder = env_folder()
    ready = (folder / READY).is_file()
    return {"packages": " ".join(PINS), "reuses": base_site(), "where": str(folder), "ready": ready,
            "note": None if ready else "made on the first OpenVINO GenAI build (pip --no-deps, ~125 MB, < 1 min)"}


def ensure_env(timeout_s: float = 900) -> list[str]:
    """Create the environment unless it is complete; return its ``optimum-cli``. Locked and renamed into place,
    so concurrent builds wait for one install and never see half of one."""
    folder = env_folder()
    if (folder / READY).is_file():
        return optimum_cli()
    if importlib.util.find_spec("pip") is None:
        raise StageError("openvino-genai: edgeconv's environment has no pip to make optimum-intel's environment",
                         fix=f"{sys.executable} -m ensurepip")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f".lock-{folder.name}").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / READY).is_file():
            return optimum_cli()
        with atomic_path(folder) as staging:
            _run([sys.executable, "-m", "venv", "--without-pip", str(staging)], timeout_s)
            python = staging / "bin" / "python"
            _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", *PINS],
                 timeout_s)
            site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip()
            # addsitedir appends edgeconv's site-packages after this one and reads its .pth files (editable installs)
            (Path(site) / BASE_PTH).write_text(f"import site; site.addsitedir({base_site()!r})\n")
            (staging / READY).write_text(json.dumps({"packages": PINS, "base": base_site()}))
    return optimum_cli()


def _run(command: list[str], timeout_s: float) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        lines = [line for line in lines if line.startswith("ERROR")] or lines  # pip's own error, not a warning
        raise StageError(f"openvino-genai: could not create optimum-intel's environment: "
                         f"{lines[-1] if lines else f'exit {done.returncode}'}",
                         fix=f"check that pip can reach its index; packages: {' '.join(PINS)}")
