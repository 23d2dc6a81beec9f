"""Parse ``tegrastats`` lines, summarise a run's samples and flag throttling.

By hand because tegrastats has no machine-readable mode and no maintained parser library exists off
the device. The format varies by board (Nano ``POM_5V_IN 943/943``, Orin ``VDD_IN 4673mW/4673mW``,
``GR3D_FREQ 0%`` or ``0%@76``, cores ``off``); every field is optional here.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

_STAMP = re.compile(r"^(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)\s+")
_MEM = re.compile(r"\b(RAM|SWAP) (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_ENGINE = re.compile(r"\b(EMC_FREQ|GR3D_FREQ) (\d+)%(?:@\[?([\d,]+)\]?)?")
_TEMP = re.compile(r"\b([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C\b")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
_NOT_RAILS = {"RAM", "SWAP", "IRAM"}
PMIC_PLACEHOLDER_C = 100.0  # older boards print PMIC@100C always: a fixed value, not a reading


def parse_line(line: str) -> dict[str, Any] | None:
    """One tegrastats line as numbers (MB, %, MHz, Celsius, mW); None for a line that is not tegrastats."""
    line = line.strip()
    sample: dict[str, Any] = {}
    if stamp := _STAMP.match(line):
        sample["time"] = stamp[1]
    for name, used, total in _MEM.findall(line):
        sample[f"{name.lower()}_used_mb"], sample[f"{name.lower()}_total_mb"] = int(used), int(total)
    if cpu := _CPU.search(line):
        cores = [c.strip() for c in cpu[1].split(",")]
        sample["cpu_load"] = [None if c == "off" else float(c.split("%")[0]) for c in cores]
        sample["cpu_mhz"] = [int(c.split("@")[1]) if "@" in c else None for c in cores]
    for name, load, freq in _ENGINE.findall(line):
        key = "gpu" if name == "GR3D_FREQ" else "emc"
        sample[f"{key}_load"] = float(load)
        if freq:
            sample[f"{key}_mhz"] = max(int(f) for f in freq.split(",") if f)
    temps = {name: float(value) for name, value in _TEMP.findall(line)}
    if temps:
        sample["temps_c"] = temps
    rails = {name: {"now_mw": int(now), "avg_mw": int(avg)} for name, now, avg in _RAIL.findall(line)
             if name not in _NOT_RAILS}
    if rails:
        sample["rails"] = rails
    return sample if ("ram_used_mb" in sample or "cpu_load" in sample) else None


def summarize(samples: list[dict[str, Any]], throttle_temp_c: float = 85.0) -> dict[str, Any]:
    """Peaks and means over a run, and whether it throttled (hot sensor, or CPU clock sagging under load)."""
    if not samples:
        return {"samples": 0, "throttled": False, "throttle_reasons": []}
    summary: dict[str, Any] = {"samples": len(samples)}
    temps: dict[str, list[float]] = {}
    rails: dict[str, list[int]] = {}
    for s in samples:
        for name, value in s.get("temps_c", {}).items():
            temps.setdefault(name, []).append(value)
        for name, value in s.get("rails", {}).items():
            rails.setdefault(name, []).append(value["now_mw"])
    summary["temps_c"] = {n: {"max": max(v), "mean": round(statistics.fmean(v), 2)} for n, v in temps.items()}
    summary["power_mw"] = {n: {"max": max(v), "mean": round(statistics.fmean(v), 1)} for n, v in rails.items()}
    loads = [x for s in samples for x in s.get("cpu_load", []) if x is not None]
    clocks = [x for s in samples for x in s.get("cpu_mhz", []) if x is not None]
    if loads:
        summary["cpu_load_mean"] = round(statistics.fmean(loads), 1)
    if clocks:
        summary["cpu_mhz"] = {"min": min(clocks), "max": max(clocks)}
    for key in ("gpu", "emc"):
        values = [s[f"{key}_load"] for s in samples if f"{key}_load" in s]
        if values:
            summary[f"{key}_load_mean"] = round(statistics.fmean(values), 1)
        mhz = [s[f"{key}_mhz"] for s in samples if f"{key}_mhz" in s]
        if mhz:
            summary[f"{key}_mhz"] = {"min": min(mhz), "max": max(mhz)}
    ram = [s["ram_used_mb"] for s in samples if "ram_used_mb" in s]
    if ram:
        summary["ram_used_mb_max"] = max(ram)
    reasons = _throttle_reasons(samples, temps, throttle_temp_c)
    summary["throttled"], summary["throttle_reasons"] = bool(reasons), reasons
    return summary


def _throttle_reasons(samples: list[dict[str, Any]], temps: dict[str, list[float]], limit: float) -> list[str]:
    reasons = [f"{name} reached {max(v):.1f} C (limit {limit:.1f} C)" for name, v in temps.items()
               if max(v) >= limit and not (name.upper() == "PMIC" and max(v) == PMIC_PLACEHOLDER_C)]
    # A busy core (>= 80 %) clocked well below the fastest clock seen in this run: the governor is
    # being held back (thermal or power capping), which skews latency.
    peak = max((m for s in samples for m in s.get("cpu_mhz", []) if m), default=0)
    busy = [m for s in samples for load, m in zip(s.get("cpu_load", []), s.get("cpu_mhz", []), strict=False)
            if load is not None and load >= 80 and m]
    if peak and busy and min(busy) < 0.8 * peak:
        reasons.append(f"a busy CPU core ran at {min(busy)} MHz, under 80% of the {peak} MHz seen in the run")
    return reasons
