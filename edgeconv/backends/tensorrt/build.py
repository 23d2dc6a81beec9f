"""Build a TensorRT engine from ONNX with the Python builder API, driven by a BuilderConfigPlan.

Written against TensorRT 10 (``create_network(0)`` is explicit-batch; TensorRT 8 needs the
EXPLICIT_BATCH flag, handled in ``_network_flags``). ``tensorrt`` is imported only when building.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.backends.tensorrt.plan import BuilderConfigPlan
from edgeconv.errors import StageError
from edgeconv.fsutil import atomic_path


def apply_plan(plan: BuilderConfigPlan, trt: Any, builder: Any, config: Any) -> None:
    """Set a real ``trt.IBuilderConfig`` from the plan: workspace, flags, profile, DLA."""
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    for flag in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    for name, shapes in plan.profiles.items():
        profile.set_shape(name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(profile)
    if plan.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core


def load_timing_cache(plan: BuilderConfigPlan, config: Any) -> Any:
    """Attach the persisted timing cache (empty when none yet) so rebuilds reuse kernel timings."""
    data = b""
    if plan.timing_cache and Path(plan.timing_cache).is_file():
        data = Path(plan.timing_cache).read_bytes()
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def save_timing_cache(plan: BuilderConfigPlan, config: Any) -> None:
    if not plan.timing_cache:
        return
    with atomic_path(Path(plan.timing_cache)) as tmp:
        tmp.write_bytes(bytes(config.get_timing_cache().serialize()))


def _network_flags(trt: Any) -> int:
    major = int(trt.__version__.split(".")[0])
    return 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def build_engine(onnx_path: Path, engine_path: Path, plan: BuilderConfigPlan) -> None:
    """Parse, configure, build and write the serialized engine (atomically)."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise StageError(f"TensorRT's ONNX parser rejected {Path(onnx_path).name}: {errors}",
                         fix="run the pre-build check (edgeconv.backends.tensorrt.check) and fix the named nodes")
    config = builder.create_builder_config()
    apply_plan(plan, trt, builder, config)
    load_timing_cache(plan, config)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise StageError(f"TensorRT could not build an engine from {Path(onnx_path).name} ({plan.precision})",
                         fix="see the TensorRT log above; try a larger tensorrt.workspace_mb or another precision")
    save_timing_cache(plan, config)
    with atomic_path(Path(engine_path)) as tmp:
        tmp.write_bytes(bytes(serialized))
