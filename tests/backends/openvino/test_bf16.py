"""bf16 is its own precision only where OpenVINO and the CPU execute it natively: on a CPU without AMX-BF16 or
AVX-512 BF16 (the flag reader faked) both OpenVINO targets refuse it with one line before any work, and where it
is built its runner compiles with INFERENCE_PRECISION_HINT bf16 (the other precisions with f32)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconv import machine
from edgeconv.backends.backend import BuiltArtifact
from edgeconv.errors import NothingToDo
from edgeconv.spec.targets import get_profile

pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'edgeconv[openvino]')")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cpuinfo"


@pytest.fixture
def avx2_only(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = {"arch": "x86_64", **machine.parse_cpuinfo((FIXTURES / "amd-epyc-avx2.txt").read_text())}
    monkeypatch.setattr(machine, "cpu", lambda: facts)


def test_a_cpu_without_bf16_instructions_skips_bf16_on_both_openvino_targets(avx2_only: None) -> None:
    from edgeconv.backends.openvino.backend import OpenVINOBackend
    from edgeconv.backends.openvino_genai.backend import OpenVINOGenaiBackend

    with pytest.raises(NothingToDo, match=r"does not execute bf16 natively.*amx_bf16 or avx512_bf16"):
        OpenVINOBackend().build(None, get_profile("x86-cpu-openvino"), "bf16")  # type: ignore[arg-type]
    with pytest.raises(NothingToDo, match="does not execute bf16 natively"):  # before any stage: none is given
        OpenVINOGenaiBackend().build_generative(None, Path("hf"), "sha", get_profile("x86-cpu-openvino-genai"),  # type: ignore[arg-type]
                                                "bf16")


@pytest.mark.parametrize(("precision", "hint"), [("bf16", "bf16"), ("fp32", "f32"), ("int8-weights", "f32")])
def test_each_llm_precision_compiles_with_its_own_inference_precision(precision: str, hint: str) -> None:
    from edgeconv.backends.openvino_genai.backend import OpenVINOGenaiBackend, recipe_for
    from edgeconv.backends.openvino_genai.runner import OpenVINOGenaiRunner

    profile = get_profile("x86-cpu-openvino-genai")
    label = "bf16" if precision == "bf16" else recipe_for(profile, precision).precision
    spec = OpenVINOGenaiBackend().runner_spec(BuiltArtifact(Path("model"), quantization={"precision": label}), profile)
    assert spec.kwargs["inference_precision"] == hint
    assert OpenVINOGenaiRunner(**spec.kwargs)._properties()["INFERENCE_PRECISION_HINT"] == hint
    assert recipe_for(profile, "bf16") == recipe_for(profile, "fp32")  # the same weights: only the arithmetic differs


def test_the_classifier_bf16_artifact_compiles_with_the_bf16_hint() -> None:
    from edgeconv.backends.openvino.backend import OpenVINOBackend

    profile = get_profile("x86-cpu-openvino")
    for precision, hint in (("bf16", "bf16"), ("fp32", "f32"), ("int8-static", "f32")):
        spec = OpenVINOBackend().runner_spec(BuiltArtifact(Path("model.xml"), quantization={"precision": precision}),
                                             profile)
        assert spec.kwargs["inference_precision"] == hint


def test_a_spec_naming_bf16_for_ort_genai_is_refused_in_one_line() -> None:
    """ONNX Runtime's CPU provider has no x86 bf16 kernels (nor fp16 MatMul ones): its LLM target offers neither."""
    from edgeconv.errors import SpecError
    from edgeconv.spec import TargetRef

    profile = get_profile("x86-cpu-ort-genai")
    with pytest.raises(SpecError, match="does not build bf16"):
        profile.for_build(TargetRef(name=profile.name, precisions=["bf16"]))
