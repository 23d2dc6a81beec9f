"""The same engine build through NVIDIA's ``trtexec`` CLI, and a parser of its performance summary.

trtexec is the only way to build and time engines on devices without TensorRT's Python bindings
(and what users reproduce results with), so the command line is derived from the same
BuilderConfigPlan as the API build. The summary format is the one printed by TensorRT's
samples/common/sampleReporting.cpp (printEpilog) and trtexec.cpp ("TensorRT version: X.Y.Z").
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

from edgeconv.backends.tensorrt.plan import BuilderConfigPlan
from edgeconv.errors import StageError

PRECISION_ARGS = {"fp32": [], "fp16": ["--fp16"], "int8-static": ["--int8"], "best": ["--best"]}
# Summary lines -> report keys; longest labels first so "H2D Latency" never reads as "Latency".
STAT_LINES = {
    "End-to-End Host Latency": "end_to_end_ms", "GPU Compute Time": "gpu_compute_ms", "H2D Latency": "h2d_ms",
    "D2H Latency": "d2h_ms", "Enqueue Time": "enqueue_ms", "Latency": "latency_ms",
}
_PREFIX = r"^(?:\[[^\]]*\]\s*)*"  # "[05/27/2023-12:05:31] [I] " and similar
_STAT_RE = re.compile(_PREFIX + r"(?P<label>" + "|".join(map(re.escape, STAT_LINES)) + r"): (?P<body>min = .*)$")
_VALUE_RE = re.compile(r"(min|max|mean|median|percentile\((?P<pct>[\d.]+)%\)) = (?P<value>[-+0-9.eE]+|inf|nan) ms")
_THROUGHPUT_RE = re.compile(_PREFIX + r"Throughput: (?P<value>[-+0-9.eE]+) qps")
# "[I] Selected Device: Orin" and "[I] Compute Capability: 8.7" (trtexec's device information block).
_DEVICE_RE = re.compile(r"^(?:\[[^\]]*\]\s*)*(?P<what>Selected Device|Compute Capability):\s*(?P<value>.+)$")
_VERSION_RE = re.compile(_PREFIX + r"TensorRT version: (?P<value>[\d.]+)")
_TOTAL_RE = re.compile(_PREFIX + r"Total (?P<what>Host Walltime|GPU Compute Time): (?P<value>[-+0-9.eE]+) s")


def _shapes(plan: BuilderConfigPlan, which: str) -> str:
    return ",".join(f"{name}:{'x'.join(str(d) for d in getattr(r, which))}" for name, r in plan.profiles.items())


def trtexec_argv(plan: BuilderConfigPlan, onnx: Path, engine: Path, trtexec: str = "trtexec") -> list[str]:
    """The argv list for a build equivalent to ``tensorrt_build.build_engine(onnx, engine, plan)``."""
    argv = [trtexec, f"--onnx={onnx}", f"--saveEngine={engine}", *PRECISION_ARGS[plan.precision]]
    if plan.profiles:
        argv += [f"--minShapes={_shapes(plan, 'min')}", f"--optShapes={_shapes(plan, 'opt')}",
                 f"--maxShapes={_shapes(plan, 'max')}"]
    argv.append(f"--memPoolSize=workspace:{plan.workspace_bytes >> 20}M")
    if plan.timing_cache:
        argv.append(f"--timingCacheFile={plan.timing_cache}")
    if "SPARSE_WEIGHTS" in plan.flags:
        argv.append("--sparsity=enable")
    if plan.dla_core is not None:
        argv += [f"--useDLACore={plan.dla_core}", "--allowGPUFallback"]
    return argv


def display(argv: list[str]) -> str:
    """The command as a user can paste it into a POSIX shell (every argument quoted as needed)."""
    return shlex.join(argv)


def parse_summary(text: str) -> dict[str, Any]:
    """trtexec's '=== Performance summary ===' as a dict for the report (times in ms, totals in s)."""
    if "=== Performance summary ===" not in text:
        raise StageError("trtexec output has no '=== Performance summary ===' section",
                         fix="run trtexec without --skipInference, and pass its full stdout")
    result: dict[str, Any] = {"passed": "&&&& PASSED" in text}
    for line in text.splitlines():
        line = line.rstrip()
        if m := _VERSION_RE.match(line):
            result["tensorrt_version"] = m["value"]
        elif m := _DEVICE_RE.match(line):
            result["device_name" if m["what"] == "Selected Device" else "compute_capability"] = m["value"].strip()
        elif m := _THROUGHPUT_RE.match(line):
            result["throughput_qps"] = float(m["value"])
        elif m := _STAT_RE.match(line):
            result[STAT_LINES[m["label"]]] = _stats(m["body"])
        elif m := _TOTAL_RE.match(line):
            key = "total_host_walltime_s" if m["what"] == "Host Walltime" else "total_gpu_compute_s"
            result[key] = float(m["value"])
    if "latency_ms" not in result or "throughput_qps" not in result:
        raise StageError("trtexec's performance summary has no Latency or Throughput line",
                         fix="check the trtexec log; this parser reads TensorRT 8.x-10.x output")
    return result


def _stats(body: str) -> dict[str, float]:
    stats: dict[str, float] = {}
    for m in _VALUE_RE.finditer(body):
        key = m.group(1) if m["pct"] is None else f"p{_pct(m['pct'])}"
        stats[key] = float(m["value"])
    return stats


def _pct(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else text


def run_trtexec(argv: list[str], log: Path, timeout_s: float = 3600) -> str:
    """Run trtexec, keep its full log next to the engine, fail with its last error line."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StageError(f"trtexec ran over {timeout_s:.0f} s and was stopped: {display(argv)}") from exc
    output = proc.stdout + proc.stderr
    Path(log).write_text(output, encoding="utf-8")
    if proc.returncode != 0 or "&&&& FAILED" in output:
        errors = [line for line in output.splitlines() if "[E]" in line] or output.strip().splitlines()[-1:]
        raise StageError(f"trtexec failed (exit {proc.returncode}): {errors[-1] if errors else 'no output'}",
                         fix=f"see {Path(log).name}; rerun: {display(argv)}")
    return output
