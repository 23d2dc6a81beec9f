"""Facts about this machine that builds depend on: cores, and the CPU's int8- and float-relevant instruction sets."""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

# The flags that decide how fast, and how exactly, int8 kernels run: x86 (Linux /proc/cpuinfo names) and Arm.
INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm", "sve")
VNNI = ("avx512_vnni", "avx_vnni", "amx_int8")
# The flags that decide whether bf16 / fp16 arithmetic runs natively: x86 (AVX-512 BF16/FP16, AMX) and Arm.
FLOAT_FLAGS = ("avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16", "bf16", "asimdhp", "fphp")
NATIVE = {  # precision -> (x86 flags, Arm flags): any one of them executes it in hardware
    "bf16": (("amx_bf16", "avx512_bf16"), ("bf16",)),
    "fp16": (("amx_fp16", "avx512_fp16"), ("asimdhp", "fphp")),
    "int8": (("amx_int8", "avx512_vnni", "avx_vnni"), ("i8mm", "asimddp")),
}


def physical_cores() -> int:
    """Physical cores: the default thread count (oversubscribing 2 cores with 4 threads measured 2-3x slower)."""
    import psutil

    return psutil.cpu_count(logical=False) or 1


def parse_cpuinfo(text: str) -> dict[str, object]:
    """The CPU's model and int8-relevant flags from a /proc/cpuinfo text (x86 'flags', Arm 'Features')."""
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return {"model": model, "int8_flags": [f for f in INT8_FLAGS if f in flags],
            "float_flags": [f for f in FLOAT_FLAGS if f in flags]}


@lru_cache(maxsize=1)
def cpu() -> dict[str, object]:
    """This machine's CPU: architecture, model and int8-relevant flags (empty where /proc/cpuinfo is absent)."""
    path = Path("/proc/cpuinfo")
    facts = (parse_cpuinfo(path.read_text(errors="replace")) if path.is_file()
             else {"model": "", "int8_flags": [], "float_flags": []})
    return {"arch": platform.machine().lower(), **facts}


def u8s8_saturates(facts: dict[str, object] | None = None) -> bool:
    """Whether ONNX Runtime's uint8 x int8 CPU kernels saturate here: x86 without VNNI multiplies with
    vpmaddubsw, whose int16 sums overflow (ORT's quantization docs; on this AMD EPYC with AVX2 a static int8
    Gemm erred by 0.36 of the output range, 0.01 with 7-bit weights)."""
    facts = facts or cpu()
    flags = set(facts["int8_flags"])  # type: ignore[arg-type]
    return _is_x86(facts) and not flags & set(VNNI)


def _is_x86(facts: dict[str, object]) -> bool:
    return str(facts.get("arch", "")) in ("x86_64", "amd64", "i686", "x86")


def native_precisions(facts: dict[str, object] | None = None) -> dict[str, str]:
    """Which reduced precisions this CPU executes in hardware and which a runtime would emulate (or widen to
    fp32): precision -> "native (flags)" or "emulated (...)". OpenVINO on an AMX or AVX-512 BF16 CPU runs an
    fp32 model in bf16 unless told otherwise, so a build labels precisions by what executes."""
    facts = facts or cpu()
    flags = {*facts.get("int8_flags", []), *facts.get("float_flags", [])}  # type: ignore[misc]
    out = {"fp32": "native"}
    for precision, (x86, arm) in NATIVE.items():
        have = [f for f in (x86 if _is_x86(facts) else arm) if f in flags]
        if have:
            out[precision] = f"native ({', '.join(have)})"
        elif precision == "int8":
            out[precision] = "no int8 dot-product instructions (int8 kernels widen to 16/32-bit)"
        else:
            out[precision] = "not native (a runtime widens it to fp32: no speed gained)"
    return out


def executes_natively(precision: str, facts: dict[str, object] | None = None) -> bool:
    return native_precisions(facts).get(precision, "").startswith("native")


# The x86 instruction sets edgeconv's precisions can run on, fastest-relevant first (/proc/cpuinfo names).
FAST_PATHS = {
    "avx2": "256-bit float and integer SIMD: every x86 runtime's fp32 baseline",
    "avx512f": "512-bit float SIMD: wider fp32 kernels (oneDNN, MLAS)",
    "avx512_vnni": "int8 dot products in one instruction (AVX-512 VNNI)",
    "avx_vnni": "int8 dot products in one instruction (256-bit AVX-VNNI)",
    "amx_int8": "int8 matrix tiles (AMX)",
    "amx_bf16": "bf16 matrix tiles (AMX)",
    "avx512_bf16": "bf16 dot products (AVX-512 BF16)",
    "avx512_fp16": "fp16 arithmetic (AVX-512 FP16)",
    "amx_fp16": "fp16 matrix tiles (AMX-FP16)",
}
# Which edgeconv (runtime, precision) runs on which of them: (runtime and targets, precision, x86 flags, note).
# No flags: the runtime has no native x86 path for that precision, whatever the CPU (it computes in fp32).
PRECISION_PATHS = (
    ("OpenVINO (x86-cpu-openvino, x86-cpu-openvino-genai)", "bf16", ("amx_bf16", "avx512_bf16"),
     "INFERENCE_PRECISION_HINT bf16; skipped where the CPU lacks both"),
    ("OpenVINO (x86-cpu-openvino)", "fp16", ("amx_fp16", "avx512_fp16"),
     "f16 compute where OpenVINO reports FP16, else fp16 weights computed in f32 (runtime.executes says)"),
    ("OpenVINO (x86-cpu-openvino)", "int8-static", ("amx_int8", "avx512_vnni", "avx_vnni"),
     "oneDNN int8; without VNNI it measured slower than fp32"),
    ("OpenVINO GenAI (x86-cpu-openvino-genai)", "int8-weights, int4", ("amx_int8", "avx512_vnni", "avx_vnni"),
     "activations quantized to int8 per group of 32 at run time (the CPU plugin's DYNAMIC_QUANTIZATION_GROUP_SIZE)"),
    ("ONNX Runtime (x86-cpu-ort)", "int8-dynamic, int8-static", ("amx_int8", "avx512_vnni", "avx_vnni"),
     "MLAS u8s8 kernels; without VNNI their int16 sums saturate (7-bit weights tried)"),
    ("ONNX Runtime GenAI (x86-cpu-ort-genai)", "int8-weights, int4", ("amx_int8", "avx512_vnni", "avx_vnni"),
     "MatMulNBits accuracy level 4: int8 activations"),
    ("ONNX Runtime (x86-cpu-ort)", "fp16", (),
     "no x86 fp16 kernels for MatMul / Gemm / Attention: ORT inserts Casts, computes them in fp32 (the row counts)"),
)


def fast_paths(facts: dict[str, object] | None = None) -> dict[str, str]:
    """Each x86 fast path: whether this CPU has it, and what it is (empty off x86: the Arm flags are elsewhere)."""
    facts = facts or cpu()
    if not _is_x86(facts):
        return {}
    flags = {*facts.get("int8_flags", []), *facts.get("float_flags", [])}  # type: ignore[misc]
    return {flag: ("yes: " if flag in flags else "no: ") + what for flag, what in FAST_PATHS.items()}


def precision_paths(facts: dict[str, object] | None = None) -> dict[str, str]:
    """Each edgeconv precision with a fast path on x86: "<precision> on <runtime>" -> which of its instruction
    sets this CPU has (or that it has none, or that the runtime has none on x86), and how it is used."""
    facts = facts or cpu()
    if not _is_x86(facts):
        return {}
    flags = {*facts.get("int8_flags", []), *facts.get("float_flags", [])}  # type: ignore[misc]
    out = {}
    for runtime, precision, needs, note in PRECISION_PATHS:
        have = [f for f in needs if f in flags]
        if not needs:
            how = "no native x86 path in this runtime"
        elif have:
            how = f"native here ({', '.join(have)})"
        else:
            how = f"not native here (needs {' or '.join(needs)})"
        out[f"{precision} on {runtime}"] = f"{how}: {note}"
    return out


def fingerprint() -> dict[str, object]:
    """What a latency figure depends on besides the artifact, its runtime's version and its threads: a figure
    measured where this differs is another machine's and is never reused as local."""
    facts = cpu()
    import psutil

    return {"arch": facts["arch"], "cpu": facts["model"], "int8_flags": facts["int8_flags"],
            "float_flags": facts.get("float_flags", []), "physical_cores": physical_cores(),
            "logical_cores": psutil.cpu_count(logical=True)}


def report_facts() -> dict[str, object]:
    """report.json's ``machine``: the CPU, and which reduced precisions it executes natively."""
    return {"cpu": cpu()["model"], "arch": cpu()["arch"], "precisions": native_precisions()}
