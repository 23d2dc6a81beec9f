"""ONNX Runtime backend: artifacts are ONNX files (fp32 fused, fp16, int8 dynamic, int8 static QDQ)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.backends.protocol import BuildContext, BuiltArtifact, RunnerSpec
from edgeconv.compress import quantize
from edgeconv.fsutil import sha256_file
from edgeconv.targets import TargetProfile


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def unavailable_reason(self, profile: TargetProfile) -> str | None:
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed (pip install onnxruntime)"
        missing = [p for p in profile.providers if p not in ort.get_available_providers()]
        if missing:
            return (f"ONNX Runtime here has no {', '.join(missing)} "
                    "(install onnxruntime-gpu with a CUDA driver for the CUDA provider)")
        return None

    def build(self, ctx: BuildContext, profile: TargetProfile, precision: str) -> BuiltArtifact:
        key: dict[str, Any] = {
            "reference": ctx.reference_sha256, "precision": precision, "model_type": ctx.model_type,
            "onnxruntime": versions.of("onnxruntime"), "onnx": versions.of("onnx"),
        }
        if precision == "int8-static":
            key["calibration"] = ctx.calibration_sha256
            key["static"] = ctx.spec.quantize.static.model_dump()

        def produce(folder: Path) -> dict[str, Any]:
            dst = folder / "model.onnx"
            src = ctx.reference_onnx
            if precision == "fp32":
                record = quantize.make_fp32(src, dst, ctx.model_type)
            elif precision == "fp16":
                record = quantize.make_fp16(src, dst, ctx.model_type)
            elif precision == "int8-dynamic":
                record = quantize.make_int8_dynamic(src, dst, ctx.model_type)
            else:
                assert ctx.calibration is not None  # the spec validator requires it for int8-static
                record = quantize.make_int8_static(src, dst, ctx.calibration, ctx.spec.quantize.static)
            return {"file": dst.name, "sha256": sha256_file(dst), "quantization": record.to_dict()}

        folder, meta = ctx.stages.run(f"artifacts/{profile.name}-{precision}", key, produce)
        return BuiltArtifact(folder / meta["file"], quantization=meta["quantization"])

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        return RunnerSpec(
            "edgeconv.backends.onnxruntime:OnnxRuntimeRunner",
            {"path": str(artifact.path), "providers": profile.providers or None, "threads": threads_for(profile)},
        )


def threads_for(profile: TargetProfile) -> int:
    """The profile's thread count, else the physical cores (oversubscribing measured 2-3x slower)."""
    if profile.threads:
        return profile.threads
    import psutil

    return psutil.cpu_count(logical=False) or 1
