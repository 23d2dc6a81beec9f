"""OpenVINO backend: the reference ONNX converted to IR (``ov.convert_model``), as fp32, bf16 (where the CPU executes
it natively), fp16, NNCF int8 post-training quantization on the spec's calibration set, or NNCF weight-only int8.

A precision says what executes: OpenVINO's CPU plugin would run every float operation in bf16 on an AMX or AVX-512
BF16 CPU by default, so each artifact's runner passes ``INFERENCE_PRECISION_HINT`` (``EXECUTES``) and records what
the compiled model reports.

OpenVINO is the runtime Intel CPUs with VNNI/AMX and Intel iGPU/NPU are built for; on a CPU without VNNI its
int8 kernels can run slower than fp32, which the build measures and ``auto`` respects like any other artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.backends.backend import BuildContext, BuiltArtifact
from edgeconv.errors import NothingToDo
from edgeconv.fsutil import sha256_file
from edgeconv.machine import physical_cores
from edgeconv.results import RunnerSpec
from edgeconv.spec.targets import TargetProfile

INSTALL = "pip install 'edgeconv[openvino]'"
# The arithmetic of each precision's float operations (int8 artifacts: the operations left float run in fp32).
EXECUTES = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8-static": "f32", "int8-weights": "f32"}


class OpenVINOBackend:
    name = "openvino"

    def unavailable_reason(self, profile: TargetProfile) -> str | None:
        try:
            import openvino as ov
        except ImportError:
            return f"openvino is not installed ({INSTALL})"
        device = settings_of(profile)["device"]
        available = ov.Core().available_devices
        if device.split(".")[0] not in {d.split(".")[0] for d in available}:
            return f"OpenVINO here has no {device} device (has {', '.join(available)})"
        return None

    def build(self, ctx: BuildContext, profile: TargetProfile, precision: str) -> BuiltArtifact:
        device = settings_of(profile)["device"]
        refusal = bf16_refusal(device) if precision == "bf16" else None
        if refusal:
            raise NothingToDo(refusal)
        key: dict[str, Any] = {
            "reference": ctx.reference_sha256, "precision": precision, "openvino": versions.of("openvino"),
            "edgeconv": versions.of("edgeconv"),
        }
        if precision.startswith("int8"):
            key["nncf"] = versions.of("nncf")
        if precision == "int8-static":
            key.update(calibration=ctx.calibration_sha256, budgets=ctx.spec.budgets.model_dump(),
                       eval={"feeds": ctx.evaluation_sha256, "metric": ctx.spec.evaluation.metric},
                       threads=threads_for(profile), device=settings_of(profile)["device"],
                       search=ctx.spec.quantize.fallback.model_dump(),
                       float_nodes=ctx.spec.quantize.static.exclude_nodes)

        def produce(folder: Path) -> dict[str, Any]:
            record = make_ir(ctx, profile, precision, folder / "model.xml")
            return {"file": "model.xml", "sha256": sha256_file(folder / "model.xml"), "quantization": record}

        folder, meta = ctx.stages.run(f"artifacts/{profile.name}-{precision}", key, produce)
        return BuiltArtifact(folder / meta["file"], quantization=meta["quantization"])

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        settings = settings_of(profile)
        precision = (artifact.quantization or {}).get("precision", "fp32")
        return RunnerSpec("edgeconv.backends.openvino.runner:OpenVINORunner",
                          {"path": str(artifact.path), "device": settings["device"],
                           "threads": threads_for(profile), "hint": settings["hint"],
                           "inference_precision": inference_precision(precision, settings["device"])})


def inference_precision(precision: str, device: str) -> str:
    """``INFERENCE_PRECISION_HINT`` for a precision: its own arithmetic, except fp16 weights on a device without
    native fp16, which compute in f32 (the row's ``runtime.executes`` says so)."""
    wanted = EXECUTES.get(precision, "f32")
    return "f32" if wanted == "f16" and not device_executes(device, "fp16") else wanted


def bf16_refusal(device: str) -> str | None:
    """Why bf16 cannot be its own precision on ``device`` here (None: it can). Both must say yes: OpenVINO's
    capabilities, and for the CPU its instruction sets (AMX-BF16 or AVX-512 BF16), so that a plugin emulating bf16
    on a CPU without them is never measured and labelled as bf16."""
    from edgeconv.machine import NATIVE, executes_natively

    if device_executes(device, "bf16") and (device.split(".")[0] != "CPU" or executes_natively("bf16")):
        return None
    needs = " or ".join(NATIVE["bf16"][0])
    return (f"OpenVINO's {device} here does not execute bf16 natively (it needs {needs}: `edgeconv doctor` lists "
            "this CPU's fast paths); it would run emulated or as f32, the fp32 artifact")


def device_executes(device: str, precision: str) -> bool:
    """OpenVINO's own word: the device's OPTIMIZATION_CAPABILITIES (BF16, FP16) name what it runs in hardware."""
    import openvino as ov

    capability = {"bf16": "BF16", "fp16": "FP16"}[precision]
    return capability in ov.Core().get_property(device, "OPTIMIZATION_CAPABILITIES")


def make_ir(ctx: BuildContext, profile: TargetProfile, precision: str, dst: Path) -> dict[str, Any]:
    """Write the IR of one precision to ``dst`` (and its .bin beside it); return the quantization record."""
    import openvino as ov

    model = ov.convert_model(str(ctx.reference_onnx))
    if precision in ("fp32", "bf16", "fp16"):
        ov.save_model(model, str(dst), compress_to_fp16=precision == "fp16")
        how = {"fp32": "", "bf16": " (fp32 weights, executed in bf16: INFERENCE_PRECISION_HINT bf16)",
               "fp16": " (weights stored as fp16; executed in f16 where the device runs it natively, else f32)"}
        return {"precision": precision, "method": "openvino.convert_model" + how[precision]}
    nncf = _nncf()
    if precision == "int8-weights":
        compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        ov.save_model(compressed, str(dst), compress_to_fp16=False)
        return {"precision": precision, "method": "nncf.compress_weights (INT8_ASYM: int8 weights, float compute)"}
    from edgeconv.backends.openvino.quantize import quantize_static

    return quantize_static(ctx, model, dst, settings_of(profile)["device"], threads_for(profile))


def _nncf() -> Any:
    from edgeconv.errors import RuntimeUnavailable

    try:
        import nncf
    except ImportError as exc:
        raise RuntimeUnavailable("OpenVINO's int8 precisions need NNCF, which is not installed",
                                 fix=INSTALL) from exc
    return nncf


def settings_of(profile: TargetProfile) -> dict[str, str]:
    """The profile's ``openvino`` section with its defaults: the device to compile for and the performance hint."""
    own = profile.openvino.model_dump() if profile.openvino is not None else {}
    return {"device": own.get("device") or "CPU", "hint": own.get("hint") or "LATENCY"}


def threads_for(profile: TargetProfile) -> int:
    """The profile's thread count, else the physical cores (oversubscribing measured 2-3x slower)."""
    return profile.threads or physical_cores()
