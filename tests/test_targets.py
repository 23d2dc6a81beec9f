"""Target profiles: lookup, per-build choices, and layered quantize settings."""

from __future__ import annotations

import pytest

from edgeconv.errors import SpecError
from edgeconv.spec import Spec
from edgeconv.spec.targets import all_profiles, get_profile


def spec(**extra: object) -> Spec:
    return Spec.model_validate({"model": {"path": "m.onnx"}, "evaluation": {"path": "e.jsonl"}, **extra})


def test_profiles_load_and_unknown_names_suggest_the_closest() -> None:
    assert "x86-cpu-ort" in all_profiles()
    with pytest.raises(SpecError, match="did you mean 'x86-cpu-ort'"):
        get_profile("x86-cpu-or")


def test_for_build_applies_threads_required_and_checks_precisions() -> None:
    s = spec(targets=[{"name": "x86-cpu-ort", "threads": 3, "required": True, "precisions": ["fp32"]}])
    profile, precisions = get_profile("x86-cpu-ort").for_build(s.targets[0])
    assert (profile.threads, profile.required, precisions) == (3, True, ["fp32"])
    s = spec(targets=[{"name": "gpu-ort-cuda", "precisions": ["int8-static"]}],
             calibration={"path": "c.jsonl"})
    with pytest.raises(SpecError, match="does not build int8-static"):
        get_profile("gpu-ort-cuda").for_build(s.targets[0])


def test_auto_expands_to_every_precision_of_the_profile() -> None:
    s = spec(targets=[{"name": "x86-cpu-ort", "precisions": ["auto"]}], calibration={"path": "c.jsonl"})
    _, precisions = get_profile("x86-cpu-ort").for_build(s.targets[0])
    assert precisions == list(get_profile("x86-cpu-ort").precisions)


def test_quantize_settings_layer_profile_then_spec_then_target() -> None:
    s = spec(quantize={"static": {"method": "entropy"}},
             targets=[{"name": "x86-cpu-ort", "quantize": {"static": {"per_channel": False}}}])
    profile, _ = get_profile("x86-cpu-ort").for_build(s.targets[0])
    profile = profile.model_copy(update={"quantize": {"static": {"activation_type": "int8", "method": "percentile"}}})
    settings = profile.quantize_settings(s.quantize)
    assert settings.static.activation_type == "int8"  # the profile's need
    assert settings.static.method == "entropy"  # the spec's explicit choice beats the profile's default
    assert settings.static.per_channel is False  # the target's own override beats both
    bad = spec(targets=[{"name": "x86-cpu-ort", "quantize": {"static": {"methd": "x"}}}])
    profile, _ = get_profile("x86-cpu-ort").for_build(bad.targets[0])
    with pytest.raises(SpecError, match="did you mean 'method'"):
        profile.quantize_settings(bad.quantize)


def test_litert_has_an_x86_profile_timed_on_this_machines_cores() -> None:
    from edgeconv.backends.onnxruntime.backend import threads_for
    from edgeconv.machine import physical_cores

    x86, arm = get_profile("x86-cpu-tflite"), get_profile("arm64-tflite")
    assert x86.backend == arm.backend == "tflite" and x86.precisions == arm.precisions
    assert x86.threads is None and threads_for(x86) == physical_cores()
    assert arm.threads == 4  # the boards it describes; a 2-core build machine is warned about (test_choose.py)
