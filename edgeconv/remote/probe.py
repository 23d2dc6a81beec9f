"""What is on the device (one round trip), and whether a target can run there.

The probe is one fixed ``sh`` script of ours; its only inputs (work dir, interpreter, tegrastats path)
are passed as positional arguments, never pasted into the script text.
"""

from __future__ import annotations

import json
from typing import Any

from edgeconv.remote.connection import Device
from edgeconv.remote.errors import UNMET_REQUIREMENTS, RemoteError
from edgeconv.remote.jetson import parse_nv_tegra_release, parse_nvpmodel
from edgeconv.spec.device import DeviceConfig

RUNTIME_MODULES = {
    "onnxruntime": ["onnxruntime"], "tensorrt": ["tensorrt"], "tflite": ["ai_edge_litert", "tflite_runtime"],
}
_PY = """
import importlib, json, platform
out = {"python": platform.python_version(), "modules": {}}
for name in ("numpy", "onnxruntime", "tflite_runtime", "ai_edge_litert", "tensorrt"):
    try:
        out["modules"][name] = str(getattr(importlib.import_module(name), "__version__", "present"))
    except Exception:
        out["modules"][name] = None
try:
    import onnxruntime
    out["onnxruntime_providers"] = onnxruntime.get_available_providers()
except Exception:
    pass
print(json.dumps(out))
"""
# $1 work dir, $2 python, $3 tegrastats, $4 the python snippet above
_SCRIPT = r"""
mkdir -p "$1"
echo @@arch; uname -m
echo @@os; cat /etc/os-release 2>/dev/null
echo @@l4t; cat /etc/nv_tegra_release 2>/dev/null
echo @@jetpack; dpkg-query -W -f='${Version}\n' nvidia-jetpack 2>/dev/null
echo @@nvinfer; dpkg-query -W -f='${Package} ${Version}\n' 'libnvinfer[0-9]*' 2>/dev/null
echo @@nvpmodel; command -v nvpmodel >/dev/null 2>&1 && nvpmodel -q 2>&1
echo @@cpufreq
for d in /sys/devices/system/cpu/cpu[0-9]*/cpufreq; do
  [ -d "$d" ] && echo "$(cat "$d/scaling_cur_freq" 2>/dev/null) $(cat "$d/scaling_max_freq" 2>/dev/null)" \
    "$(cat "$d/scaling_governor" 2>/dev/null)"
done
echo @@devfreq
for d in /sys/class/devfreq/*; do
  [ -e "$d/cur_freq" ] && echo "$(basename "$d") $(cat "$d/cur_freq" 2>/dev/null) $(cat "$d/max_freq" 2>/dev/null)"
done
echo @@tegrastats; [ -n "$3" ] && command -v "$3" 2>/dev/null
echo @@trtexec; T=/usr/src/tensorrt/bin/trtexec; command -v trtexec 2>/dev/null || { [ -x $T ] && echo $T; }
echo @@disk; df -Pk "$1" 2>/dev/null | tail -n 1
echo @@python; "$2" -c "$4" 2>/dev/null
echo @@end
"""


async def probe(device: Device) -> dict[str, Any]:
    config = device.config
    result = await device.script(_SCRIPT, config.connect_timeout_s + 60,
                                 args=[config.workdir, config.python, config.tegrastats or "", _PY])
    return parse_probe(result.stdout)


def parse_probe(text: str) -> dict[str, Any]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            sections[current] = []
        elif current:
            sections[current].append(line)

    def body(name: str) -> str:
        return "\n".join(sections.get(name, [])).strip()

    os_release = dict(
        (k, v.strip('"')) for k, _, v in (line.partition("=") for line in body("os").splitlines()) if k
    )
    facts: dict[str, Any] = {
        "arch": body("arch") or None, "os": os_release.get("PRETTY_NAME"),
        "l4t": parse_nv_tegra_release(body("l4t")), "jetpack": body("jetpack") or None,
        "tensorrt_packages": dict(line.split(" ", 1) for line in body("nvinfer").splitlines() if " " in line),
        "power_mode": parse_nvpmodel(body("nvpmodel")),
        "cpu_clocks": [_cpufreq(line) for line in body("cpufreq").splitlines() if line.strip()],
        "devfreq": {p[0]: {"cur_hz": _int(p[1]), "max_hz": _int(p[2])}
                    for p in (line.split() for line in body("devfreq").splitlines()) if len(p) == 3},
        "tegrastats": body("tegrastats") or None, "trtexec": body("trtexec") or None,
    }
    disk = body("disk").split()
    facts["disk_free_bytes"] = int(disk[3]) * 1024 if len(disk) >= 4 and disk[3].isdigit() else None
    try:
        facts.update(json.loads(body("python")))
    except json.JSONDecodeError:
        facts.update({"python": None, "modules": {}})
    facts["complete"] = "end" in sections
    return facts


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _cpufreq(line: str) -> dict[str, Any]:
    parts = line.split()
    cur, top = (_int(parts[i]) if len(parts) > i else None for i in (0, 1))
    return {"cur_khz": cur, "max_khz": top, "governor": parts[2] if len(parts) > 2 else None}


def unmet_requirements(facts: dict[str, Any], config: DeviceConfig, backend: str, requires: list[str]) -> list[str]:
    """Each way the device falls short of the target, in words; empty when it can run it."""
    gaps: list[str] = []
    if config.arch and facts.get("arch") != config.arch:
        gaps.append(f"the device is {facts.get('arch')}, the profile expects {config.arch}")
    if not facts.get("python"):
        gaps.append(f"`{config.python}` does not run on the device (set device.python)")
        return gaps
    modules = facts.get("modules", {})
    if not modules.get("numpy"):
        gaps.append(f"numpy does not import in {config.python} on the device")
    wanted = RUNTIME_MODULES.get(backend, [backend])
    if not any(modules.get(m) for m in wanted):
        gaps.append(f"no {' or '.join(wanted)} imports in {config.python} on the device")
    for need in requires:
        if need.endswith("ExecutionProvider"):
            if need not in facts.get("onnxruntime_providers", []):
                gaps.append(f"ONNX Runtime on the device has no {need}")
        elif need == "trtexec":
            if not facts.get("trtexec"):
                gaps.append("trtexec is not on the device (install TensorRT's samples, JetPack ships it)")
        elif need in modules and not modules[need]:
            gaps.append(f"{need} does not import in {config.python} on the device")
    return gaps


def check_requirements(facts: dict[str, Any], config: DeviceConfig, backend: str, requires: list[str]) -> None:
    gaps = unmet_requirements(facts, config, backend, requires)
    if gaps:
        raise RemoteError(UNMET_REQUIREMENTS, f"{config.label} cannot run this target: {'; '.join(gaps)}",
                          fix="install what is missing on the device, or pick a target it supports",
                          partial={"device": facts})
