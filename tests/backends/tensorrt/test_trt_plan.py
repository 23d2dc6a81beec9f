from __future__ import annotations

from pathlib import Path

import pytest

from edgeconv.backends.tensorrt.plan import PRECISION_FLAGS, cache_key, make_plan, onnx_inputs, shape_ranges
from edgeconv.errors import SpecError
from edgeconv.spec.targets import get_profile

TRT_TARGETS = ("gpu-trt", "jetson-orin-nano", "jetson-agx-orin")
TEXT_INPUTS = [(n, ("batch", "sequence")) for n in ("input_ids", "attention_mask", "token_type_ids")]


@pytest.mark.parametrize("target", TRT_TARGETS)
def test_every_precision_of_every_trt_profile_has_a_plan(target: str, tmp_path: Path) -> None:
    profile = get_profile(target)
    settings = profile.tensorrt
    assert profile.backend == "tensorrt" and settings is not None
    for precision in profile.precisions:
        plan = make_plan(profile, precision, TEXT_INPUTS, sequence=128, opt_batch=1, cache_dir=tmp_path,
                         tensorrt_version="10.3.0", compute_capability="8.7")
        assert set(PRECISION_FLAGS[precision]) <= set(plan.flags)
        assert plan.workspace_bytes == settings.workspace_mb * 2**20
        assert plan.dla_core == settings.dla_core
        assert ("GPU_FALLBACK" in plan.flags) == (settings.dla_core is not None)
        assert ("SPARSE_WEIGHTS" in plan.flags) == settings.sparsity
        for name, _ in TEXT_INPUTS:
            ranges = plan.profiles[name]
            assert ranges.min == (1, 1) and ranges.opt == (1, 128) and ranges.max == (settings.max_batch, 128)
        assert plan.timing_cache == str(tmp_path / f"timing-{cache_key('10.3.0', '8.7')}.cache")


def test_agx_orin_uses_dla_and_refuses_fp32() -> None:
    profile = get_profile("jetson-agx-orin")
    assert profile.tensorrt is not None and profile.tensorrt.dla_core == 0
    with pytest.raises(SpecError, match="DLA"):
        make_plan(profile, "fp32", TEXT_INPUTS, sequence=64)


def test_sparsity_and_trtexec_builder_follow_the_settings() -> None:
    base = get_profile("gpu-trt")
    assert base.tensorrt is not None
    profile = base.model_copy(update={"tensorrt": base.tensorrt.model_copy(update={"sparsity": True,
                                                                                     "builder": "trtexec"})})
    plan = make_plan(profile, "fp16", TEXT_INPUTS, sequence=64)
    assert "SPARSE_WEIGHTS" in plan.flags and plan.builder == "trtexec" and plan.timing_cache is None


def test_cache_key_separates_versions_and_architectures() -> None:
    keys = {cache_key(v, cc) for v in ("8.6.1", "10.3.0") for cc in ("8.7", "9.0")}
    assert len(keys) == 4


def test_fixed_dims_stay_fixed_and_unknown_dynamic_dims_are_refused() -> None:
    ranges = shape_ranges([("pixels", ("batch", 3, 224, 224))], max_batch=4, opt_batch=2, sequence=None)
    assert ranges["pixels"].min == (1, 3, 224, 224) and ranges["pixels"].max == (4, 3, 224, 224)
    assert ranges["pixels"].opt == (2, 3, 224, 224)
    with pytest.raises(SpecError, match="height"):
        shape_ranges([("pixels", ("batch", 3, "height", 224))], max_batch=4, opt_batch=1, sequence=None)


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(SpecError, match="int8-dynamic"):
        make_plan(get_profile("gpu-trt"), "int8-dynamic", TEXT_INPUTS, sequence=64)


def test_onnx_inputs_read_dynamic_axes(tiny_onnx: Path) -> None:
    assert onnx_inputs(tiny_onnx) == [("x", ("batch", 4))]


def test_plan_applies_to_a_real_builder_config(tiny_onnx: Path) -> None:
    """Checks the plan against the real tensorrt API; runs wherever tensorrt imports and a GPU is present."""
    trt = pytest.importorskip("tensorrt", reason="tensorrt is not installed (see docs/tensorrt.md)")
    from edgeconv.backends.tensorrt import env as trt_env
    from edgeconv.backends.tensorrt.build import _network_flags, apply_plan

    if not trt_env.gpus():
        pytest.skip("tensorrt imports but no NVIDIA GPU is visible")
    plan = make_plan(get_profile("gpu-trt"), "fp16", onnx_inputs(tiny_onnx), sequence=None, opt_batch=2)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    assert trt.OnnxParser(network, logger).parse_from_file(str(tiny_onnx))
    config = builder.create_builder_config()
    apply_plan(plan, trt, builder, config)
    assert config.get_flag(trt.BuilderFlag.FP16) and not config.get_flag(trt.BuilderFlag.INT8)
    assert config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE) == plan.workspace_bytes
    assert config.num_optimization_profiles == 1
    assert builder.build_serialized_network(network, config) is not None
