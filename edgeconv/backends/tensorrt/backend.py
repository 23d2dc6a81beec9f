"""TensorRT backend: engines built from the reference ONNX (fp32/fp16/best) or from a symmetric
int8 QDQ ONNX (int8-static, explicit quantization), with the builder API or trtexec.

Each engine gets a ``model.engine.json`` sidecar (edgeconv.backends.tensorrt.engine_meta); the stage key holds
the TensorRT version and GPU architecture, so a different machine rebuilds instead of reusing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.backends.backend import BuildContext, BuiltArtifact
from edgeconv.backends.tensorrt import env as trt_env
from edgeconv.backends.tensorrt.check import check_onnx
from edgeconv.backends.tensorrt.engine_meta import EngineMeta, write_meta
from edgeconv.backends.tensorrt.plan import make_plan, onnx_inputs, settings_of
from edgeconv.errors import RuntimeUnavailable, SpecError
from edgeconv.fsutil import sha256_file
from edgeconv.results import RunnerSpec
from edgeconv.spec.targets import TargetProfile

RUNNER = "edgeconv.backends.tensorrt.runner:TensorRTRunner"


class TensorRTBackend:
    name = "tensorrt"

    def unavailable_reason(self, profile: TargetProfile) -> str | None:
        """TensorRT's Python package (the runner needs it), a GPU, and trtexec when the profile builds with it."""
        if trt_env.tensorrt_version() is None:
            return f"TensorRT is not installed ({trt_env.HOW_TO_GET})"
        if not trt_env.gpus():
            return "no NVIDIA GPU is visible (nvidia-smi and torch.cuda find none)"
        if settings_of(profile).builder == "trtexec" and trt_env.trtexec_path() is None:
            return "the profile builds with trtexec, which is not on PATH (it ships with TensorRT: bin/trtexec)"
        return None

    def build(self, ctx: BuildContext, profile: TargetProfile, precision: str) -> BuiltArtifact:
        source, quantization = self._source_onnx(ctx, profile, precision)
        report = check_onnx(source, trt_env.tensorrt_version())
        report.raise_for_errors(f"{profile.name}-{precision}")
        if profile.device is not None:
            return self._build_on_device(ctx, profile, precision, source, quantization, report.to_dict())
        gpu = _gpu()
        version = trt_env.tensorrt_version() or ""
        plan = make_plan(
            profile, precision, onnx_inputs(source), sequence=ctx.spec.model.text.max_length,
            opt_batch=ctx.spec.latency.batch_size, cache_dir=ctx.stages.cache / "tensorrt",
            tensorrt_version=version, compute_capability=gpu["compute_capability"],
        )
        key: dict[str, Any] = {
            "onnx": sha256_file(source), "plan": {**plan.to_dict(), "timing_cache": None},
            "tensorrt": version, "gpu": gpu, "edgeconv": versions.of("edgeconv"),
        }

        def produce(folder: Path) -> dict[str, Any]:
            engine = folder / "model.engine"
            extra: dict[str, Any] = {"check": report.to_dict()}
            if plan.builder == "trtexec":
                from edgeconv.backends.tensorrt.trtexec import display, parse_summary, run_trtexec, trtexec_argv

                argv = trtexec_argv(plan, source, engine, trt_env.trtexec_path() or "trtexec")
                output = run_trtexec(argv, folder / "trtexec.log")
                extra["trtexec"] = {"command": display(argv), "summary": parse_summary(output)}
            else:
                from edgeconv.backends.tensorrt.build import build_engine

                build_engine(source, engine, plan)
            write_meta(engine, EngineMeta(
                tensorrt_version=version, gpu_name=gpu["name"], compute_capability=gpu["compute_capability"],
                precision=precision, flags=list(plan.flags), builder=plan.builder, onnx_sha256=sha256_file(source),
                engine_sha256=sha256_file(engine), plan=plan.to_dict(),
            ))
            return {"file": engine.name, "extra": extra}

        folder, meta = ctx.stages.run(f"artifacts/{profile.name}-{precision}", key, produce)
        return BuiltArtifact(folder / meta["file"], quantization=quantization, extra=meta["extra"])

    def _build_on_device(self, ctx: BuildContext, profile: TargetProfile, precision: str, source: Path,
                         quantization: dict | None, check: dict[str, Any]) -> BuiltArtifact:
        """The engine built by the board's own trtexec (see edgeconv.backends.tensorrt.remote)."""
        from edgeconv.backends.tensorrt.remote import build_on_device
        from edgeconv.remote import probe_device

        assert profile.device is not None
        facts = probe_device(profile.device)
        plan = make_plan(profile, precision, onnx_inputs(source), sequence=ctx.spec.model.text.max_length,
                         opt_batch=ctx.spec.latency.batch_size)
        key: dict[str, Any] = {
            "onnx": sha256_file(source), "plan": plan.to_dict(), "edgeconv": versions.of("edgeconv"),
            "device": {"label": profile.device.label, "arch": facts.get("arch"), "l4t": facts.get("l4t"),
                       "tensorrt": facts.get("tensorrt_packages"), "trtexec": facts.get("trtexec")},
        }

        def produce(folder: Path) -> dict[str, Any]:
            extra = build_on_device(profile.device, facts, plan, source, folder, precision)  # type: ignore[arg-type]
            return {"file": "model.engine", "extra": {"check": check, **extra}}

        folder, meta = ctx.stages.run(f"artifacts/{profile.name}-{precision}", key, produce)
        return BuiltArtifact(folder / meta["file"], quantization=quantization, extra=meta["extra"])

    def _source_onnx(self, ctx: BuildContext, profile: TargetProfile, precision: str) -> tuple[Path, dict | None]:
        """The reference for fp32/fp16; for int8-static and best, a QDQ model with symmetric int8 activations
        (best = that QDQ model with fp16 allowed elsewhere: int8 scales come from calibration, never from
        trtexec's placeholder scales)."""
        if precision not in ("int8-static", "best"):
            return ctx.reference_onnx, None
        from edgeconv.backends.onnxruntime.backend import onnx_artifact

        if ctx.calibration is None:
            raise SpecError(f"TensorRT {precision} needs calibrated int8 scales",
                            fix="add calibration.path to the spec")
        # The profile's quantize section asks for int8, zero-point-0 activations (explicit quantization);
        # the accuracy-aware fallback applies as for any int8 artifact.
        qdq = onnx_artifact(ctx, profile, "int8-static", f"quantized/{profile.name}-int8-static")
        return qdq.path, qdq.quantization

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        return RunnerSpec(RUNNER, {"path": str(artifact.path)})


def _gpu() -> dict[str, str]:
    found = trt_env.gpus()
    if not found:
        raise RuntimeUnavailable("no NVIDIA GPU is visible", fix="run on a machine with an NVIDIA GPU and its driver")
    return found[0]
