"""Build a TensorRT engine on the device that will run it, with the device's own trtexec.

Engines do not move between TensorRT versions or GPUs (the most common failure when engines are
copied to a Jetson), so for a target with a ``device:`` section the ONNX goes to the board, trtexec
builds there (its timing cache kept in the device's work dir), and the engine comes back with
metadata read from trtexec's own log: the TensorRT version and GPU it was built with.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from edgeconv.backends.tensorrt.engine_meta import EngineMeta, write_meta
from edgeconv.backends.tensorrt.plan import BuilderConfigPlan
from edgeconv.backends.tensorrt.trtexec import display, parse_summary, trtexec_argv
from edgeconv.fsutil import sha256_file
from edgeconv.remote.errors import UNMET_REQUIREMENTS, RemoteError
from edgeconv.spec.device import DeviceConfig

ENGINE = "model.engine"


def device_trtexec(config: DeviceConfig, facts: dict[str, Any]) -> str:
    found = config.trtexec or facts.get("trtexec")
    if not found:
        raise RemoteError(UNMET_REQUIREMENTS, f"trtexec is not on {config.label}",
                          fix="install TensorRT on the board (JetPack ships /usr/src/tensorrt/bin/trtexec), "
                              "or set device.trtexec", partial={"device": facts})
    return str(found)


def build_on_device(
    config: DeviceConfig, facts: dict[str, Any], plan: BuilderConfigPlan, onnx: Path, folder: Path, precision: str,
) -> dict[str, Any]:
    """Run trtexec on the device, pull ``model.engine`` into ``folder``, write its metadata; returns extra facts."""
    from edgeconv.remote import run_on_device

    trtexec = device_trtexec(config, facts)
    remote_plan = replace(plan, builder="trtexec",
                          timing_cache=str(PurePosixPath(config.workdir) / "cache" / "tensorrt-timing.cache"))

    def argv_for(run_dir: str) -> list[str]:
        here = PurePosixPath(run_dir)
        return trtexec_argv(remote_plan, here / "in" / onnx.name, here / ENGINE, trtexec)  # type: ignore[arg-type]

    result = run_on_device(config, argv_for, [onnx], [ENGINE], folder, timeout=config.command_timeout_s)
    (folder / "trtexec.log").write_text(result["stdout"], encoding="utf-8")
    summary = parse_summary(result["stdout"])
    engine = folder / ENGINE
    write_meta(engine, EngineMeta(
        tensorrt_version=summary.get("tensorrt_version", "unknown"), gpu_name=summary.get("device_name", "unknown"),
        compute_capability=summary.get("compute_capability", "unknown"), precision=precision,
        flags=list(remote_plan.flags), builder="trtexec", onnx_sha256=sha256_file(onnx),
        engine_sha256=sha256_file(engine), plan=remote_plan.to_dict(),
    ))
    return {"trtexec": {"command": display(argv_for("$RUN")), "summary": summary, "built_on": config.label}}
