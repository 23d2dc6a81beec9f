"""Step 3 of the route, on the board: Edge-LLM's ``llm_build`` makes the engine from the exported ONNX folder.

TensorRT engines do not move between TensorRT versions or GPUs, and Edge-LLM's documentation builds them on
the Jetson itself ("TensorRT engines are hardware-specific and must be built on each device"), as the classifier
TensorRT backend does with trtexec (``backends/tensorrt/remote.py``). The ONNX files go to the board through
``remote.run_on_device`` (content-addressed, so a rebuild pushes nothing), ``llm_build`` runs there, and the engine
folder comes back as one tar (its file names are the builder's, not ours) to be unpacked into the stage.
"""

from __future__ import annotations

import shlex
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconv.errors import StageError

if TYPE_CHECKING:
    from edgeconv.spec.device import DeviceConfig
    from edgeconv.spec.targets import EdgeLLMSettings

ENGINE_TAR, ENGINE_DIR = "engine.tar", "engine"


def build_argv(settings: EdgeLLMSettings, onnx_dir: str, engine_dir: str) -> list[str]:
    """``llm_build`` as the vendor's guides run it (examples/llm/llm_build.cpp's options)."""
    return [settings.builder, f"--onnxDir={onnx_dir}", f"--engineDir={engine_dir}",
            f"--maxBatchSize={settings.max_batch_size}", f"--maxInputLen={settings.max_input_len}",
            f"--maxKVCacheCapacity={settings.max_kv_cache_capacity}"]


def inference_argv(settings: EdgeLLMSettings, engine_dir: str, input_file: str, output_file: str) -> list[str]:
    """The vendor's C++ runner beside ``llm_build`` (``llm_inference``): prompts in a JSON file, answers out."""
    runner = str(Path(settings.builder).with_name("llm_inference")) if "/" in settings.builder else "llm_inference"
    return [runner, f"--engineDir={engine_dir}", f"--inputFile={input_file}", f"--outputFile={output_file}"]


def board_script(settings: EdgeLLMSettings, onnx_dir: str = "in") -> str:
    """The shell the board runs in its run folder: build the engine, then pack it for the trip back."""
    env = f"EDGELLM_PLUGIN_PATH={shlex.quote(settings.plugin)} " if settings.plugin else ""
    return (f"{env}{shlex.join(build_argv(settings, onnx_dir, ENGINE_DIR))} && "
            f"tar -cf {ENGINE_TAR} -C {ENGINE_DIR} .")


def build_on_device(config: DeviceConfig, settings: EdgeLLMSettings, onnx_files: list[Path],
                    folder: Path) -> dict[str, Any]:
    """Push ``onnx_files`` (one flat folder: the exporter's ``llm/``), build there, unpack the engine into
    ``folder/engine``; returns the command and the builder's last lines for the report."""
    from edgeconv.remote import run_on_device

    script = board_script(settings)
    result = run_on_device(config, lambda run_dir: ["sh", "-c", script], onnx_files, [ENGINE_TAR], folder,
                           timeout=config.command_timeout_s)
    (folder / "llm_build.log").write_text(result["stdout"] + result["stderr"], encoding="utf-8")
    unpack(folder / ENGINE_TAR, folder / ENGINE_DIR)
    (folder / ENGINE_TAR).unlink()
    return {"command": script, "built_on": config.label, "log_tail": result["stdout"].splitlines()[-5:]}


def unpack(archive: Path, into: Path) -> None:
    """The engine tar into ``into``, refusing anything but plain files and folders inside it."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise StageError(f"the engine archive from the board is unreadable: {exc}",
                         fix="see llm_build.log beside it; rebuild") from exc
