"""What this machine has: runtimes, versions, execution providers, devices (for `doctor` and `targets`)."""

from __future__ import annotations

import platform
import shutil
import subprocess
from typing import Any

from edgeconv import versions
from edgeconv.backends import get_backend
from edgeconv.spec.targets import all_profiles

OPTIONAL = {
    "onnxruntime-genai": "decoder LMs on ONNX Runtime GenAI (target x86-cpu-ort-genai): pip install 'edgeconv[llm]'",
    "openvino-genai": "decoder LMs on OpenVINO GenAI (target x86-cpu-openvino-genai): pip install 'edgeconv[llm]'",
    "tensorrt": "TensorRT: JetPack on Jetson; on x86 `pip install tensorrt --extra-index-url https://pypi.nvidia.com`",
    "ai-edge-litert": "LiteRT (TFLite) interpreter: pip install edgeconv[tflite]",
    "tflite-runtime": "TFLite runtime (Raspberry Pi / older Jetson images): pip install tflite-runtime",
    "nvidia-modelopt": "Jetson LLM route (int4 AWQ): pip install nvidia-modelopt, no extras ([hf] pins transformers)",
}


def target_rows() -> list[dict[str, Any]]:
    rows = []
    for profile in all_profiles().values():
        backend = get_backend(profile.backend)
        reason = backend.unavailable_reason(profile)
        rows.append({
            "name": profile.name, "backend": profile.backend, "device_class": profile.device_class,
            "description": profile.description,
            "precisions": list(profile.precisions), "requires": list(profile.requires),
            "available": reason is None, "reason": reason,
            "generative": hasattr(backend, "build_generative"),  # builds decoder LMs (task: text-generation) only
        })
    return rows


def _gpus() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _openvino_cpu() -> str:
    """What OpenVINO's CPU plugin offers and what it runs an fp32 model in by default (bf16 on AMX CPUs)."""
    try:
        import openvino as ov
    except ImportError:
        return "openvino not installed"
    core = ov.Core()
    default = core.get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
    capabilities = ", ".join(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    return (f"{capabilities}; an fp32 model by default in {default} (edgeconv's fp32 artifacts pass f32, bf16 is "
            "its own precision)")


def cpu_sections(facts: dict[str, object] | None = None) -> dict[str, dict[str, Any]]:
    """The CPU's fast paths, the precisions that run on them per runtime, and what a latency's cache entry is keyed
    by (the machine fingerprint): a user reads here why a bf16 row was skipped or an int8 one measured slow."""
    from edgeconv.machine import fast_paths, precision_paths

    if not fast_paths(facts):
        return {}
    return {"cpu fast paths": fast_paths(facts), "precisions on fast paths": precision_paths(facts)}


def fingerprint_section() -> dict[str, Any]:
    """What the machine fingerprint holds: a cached verification (its timings) is reused only where it matches."""
    from edgeconv.machine import fingerprint

    return {key: ", ".join(map(str, value)) if isinstance(value, list) else value
            for key, value in fingerprint().items()}


def diagnose() -> dict[str, dict[str, Any]]:
    import psutil

    from edgeconv.machine import cpu, native_precisions, u8s8_saturates

    machine = {
        "python": platform.python_version(), "platform": platform.platform(), "arch": platform.machine(),
        "cpu": str(cpu()["model"]) or platform.processor() or platform.machine(),
        "int8 instruction sets": ", ".join(cpu()["int8_flags"]) or "none found",  # type: ignore[arg-type]
        "int8 on ONNX Runtime CPU": "uint8 x int8 kernels saturate without VNNI: static int8 tries 7-bit weights "
        "when 8-bit ones miss the budgets" if u8s8_saturates() else "full 8-bit weights",
        **{f"{precision} arithmetic": how for precision, how in native_precisions().items() if precision != "fp32"},
        "physical cores": psutil.cpu_count(logical=False), "logical cores": psutil.cpu_count(),
        "memory GiB": round(psutil.virtual_memory().total / 2**30, 1),
    }
    packages: dict[str, Any] = {name: versions.of(name) or "not installed" for name in versions.TRACKED}
    for name, how in OPTIONAL.items():
        packages[name] = versions.of(name) or f"not installed ({how})"
    runtimes: dict[str, Any] = {}
    try:
        import onnxruntime as ort

        runtimes["onnxruntime providers"] = ", ".join(ort.get_available_providers())
    except ImportError:
        runtimes["onnxruntime providers"] = "onnxruntime not installed"
    runtimes["openvino CPU executes"] = _openvino_cpu()
    runtimes["trtexec"] = shutil.which("trtexec") or "not on PATH"
    runtimes["tensorrt-edgellm-export"] = shutil.which("tensorrt-edgellm-export") or "not on PATH (Jetson LLM route)"
    gpus = _gpus()
    devices = {"nvidia GPUs": "; ".join(gpus) if gpus else "none found (no nvidia-smi or no GPU)"}
    from edgeconv.backends.openvino_genai.env import env_status
    from edgeconv.backends.tensorrt.env import tensorrt_status
    from edgeconv.backends.tflite.onnx_route_env import route_status

    return {"machine": machine, **cpu_sections(),
            "machine fingerprint (keys cached verifications)": fingerprint_section(),
            "packages": packages, "runtimes": runtimes, "devices": devices,
            "tensorrt": tensorrt_status(), "onnx -> tflite route": route_status(),
            "openvino-genai export environment (optimum-intel)": env_status()}
