"""task: text-generation's spec, budgets, report figures and target recipe, without loading a model (fast)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from edgeconv.backends.onnxruntime_genai.backend import recipe_for
from edgeconv.errors import SpecError
from edgeconv.metric_table import shortfall
from edgeconv.results import ArtifactResult, GenerationFigures, Measurement
from edgeconv.spec import TargetRef, load_spec
from edgeconv.spec.budgets import Budgets
from edgeconv.spec.targets import get_profile
from edgeconv.verify.budgets import check_budgets

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "smollm2-sentiment" / "edgeconv.yaml"


def _spec(tmp_path: Path, **changes: object) -> Path:
    raw = yaml.safe_load(SAMPLE.read_text())
    raw.update(changes)
    raw["evaluation"]["path"] = str(SAMPLE.parents[2] / "calibration" / "tweets" / "eval.jsonl")
    raw["calibration"]["path"] = str(SAMPLE.parents[2] / "calibration" / "tweets" / "calib.jsonl")
    raw["model"]["adapter"] = str(SAMPLE.parent / "adapter")
    path = tmp_path / "edgeconv.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_sample_spec_reads_with_its_generation_section() -> None:
    spec = load_spec(SAMPLE, ["model.path=missing-model-folder"])  # no package needed to read the spec
    assert spec.model.task == "text-generation" and spec.generation is not None
    assert spec.generation.answer_tokens == 4 and "{text}" in spec.generation.prompt
    assert spec.budgets.max_perplexity_increase == 0.05 and spec.targets[0].precisions == ["auto"]
    assert spec.calibration is not None and spec.calibration.path.name == "calib.jsonl"  # not the eval split
    assert spec.calibration.count == 16 and spec.calibration.text_field == "text"


def test_the_sample_calibrates_only_when_a_target_asks_for_a_data_aware_recipe() -> None:
    """The sample's default int4 is round-to-nearest; the --set its comment names turns on NNCF's AWQ."""
    from edgeconv.api.pipeline import plan
    from edgeconv.backends import get_backend

    for overrides, wanted in (([], False), (["targets.1.quantize.awq=true"], True)):
        spec = load_spec(SAMPLE, ["model.path=missing-model-folder", *overrides])
        profile = next(p for p, _ in plan(spec).selected if p.name == "x86-cpu-openvino-genai")
        assert get_backend(profile.backend).needs_calibration(profile, "int4") is wanted
        assert not get_backend(profile.backend).needs_calibration(profile, "int8-weights")


@pytest.mark.parametrize(("override", "needle"), [
    ("generation.prompt=no placeholder", "{text}"),
    ("generation.answer_tokens=4096", "context_length"),
    ("budgets.min_token_agreement=2", "min_token_agreement"),
    ("model.task=text-classification", "generation section"),
])
def test_a_bad_generation_setting_is_one_line(tmp_path: Path, override: str, needle: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(_spec(tmp_path), ["model.path=missing-model-folder", override])
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_text_generation_refuses_an_onnx_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="text-generation"):
        load_spec(_spec(tmp_path), ["model.path=model.onnx", "model.source=onnx"])


def _figures(change_pct: float, kl: float, agreement: float) -> GenerationFigures:
    return GenerationFigures(perplexity=10.0, reference_perplexity=10.0, perplexity_change_pct=change_pct,
                             kl_mean=kl, token_agreement=agreement, decode_tokens_per_s=50.0, rss_mb=None)


def test_the_llm_budgets_hold_their_figures_in_their_direction() -> None:
    budgets = Budgets(max_perplexity_increase=0.05, max_kl=0.1, min_token_agreement=0.9)
    checks = {c.name: c for c in check_budgets(budgets, {"generation": _figures(7.0, 0.05, 0.95)})}
    assert not checks["max_perplexity_increase"].passed and math.isclose(checks["max_perplexity_increase"].value, 0.07)
    assert checks["max_kl"].passed and checks["min_token_agreement"].passed
    fell = check_budgets(budgets, {"generation": _figures(-3.0, 0.2, 0.5)})
    assert [c.passed for c in fell] == [True, False, False]  # a perplexity that fell is no increase
    assert shortfall("max_perplexity_increase", 0.07, 0.05) == \
        "perplexity increase 7.00%, 2.00 pts over the limit"


def test_a_generation_row_round_trips_through_report_json() -> None:
    m = Measurement(accuracy=0.8, macro_f1=None, per_class={}, agreement=0.9, max_abs_error=math.nan,
                    latency_ms={"p50": 20.0, "p90": 25.0}, timings_ms=[], peak_memory_mb=math.nan, load_s=0.3,
                    runtime={}, generation=_figures(1.0, 0.01, 0.97))
    row = ArtifactResult(target="x86-cpu-ort-genai", backend="onnxruntime_genai", precision="int4", measurement=m)
    written = row.to_dict()
    assert written["generation"]["kl_mean"] == 0.01 and written["generation"]["rss_mb"] is None
    back = ArtifactResult.__pydantic_validator__.validate_python(written)  # as read_report reads a row
    assert back.to_dict() == written and back.measurement.generation.perplexity_increase == pytest.approx(0.01)


def test_the_genai_target_maps_precisions_to_builder_recipes() -> None:
    profile = get_profile("x86-cpu-ort-genai")
    assert profile.precisions == ["fp32", "int8-weights", "int4"]
    assert recipe_for(profile, "int8-weights").precision == "int8"
    tuned, _ = profile.for_build(TargetRef(name=profile.name, quantize={"block_size": 64, "lm_head": "int8"}))
    assert (recipe_for(tuned, "int4").block_size, recipe_for(tuned, "int4").lm_head) == (64, "int8")
    odd, _ = profile.for_build(TargetRef(name=profile.name, quantize={"group": 64}))
    with pytest.raises(SpecError, match="unknown key 'group'"):
        recipe_for(odd, "int4")


def test_a_classifier_target_refuses_a_decoder_lm_before_any_work(tmp_path: Path) -> None:
    from edgeconv.api import build

    spec = load_spec(_spec(tmp_path), ["model.path=missing-model-folder", "targets=[x86-cpu-ort]"])
    with pytest.raises(SpecError, match="does not build decoder language models"):
        build(spec, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_openvino_genai_target_maps_precisions_to_nncf_recipes() -> None:
    from edgeconv.backends.openvino_genai.backend import recipe_for as nncf_recipe

    profile = get_profile("x86-cpu-openvino-genai")
    assert nncf_recipe(profile, "int4").nncf_arguments()["group_size"] == 64
    tuned, _ = profile.for_build(TargetRef(name=profile.name, quantize={"group_size": 128, "ratio": 0.8}))
    assert nncf_recipe(tuned, "int4").nncf_arguments()["ratio"] == 0.8
    aware, _ = profile.for_build(TargetRef(name=profile.name, quantize={"awq": True, "scale_estimation": True}))
    assert nncf_recipe(aware, "int4").nncf_arguments() | {"awq": True, "scale_estimation": True} == \
        nncf_recipe(aware, "int4").nncf_arguments()
    assert not nncf_recipe(profile, "int4").data_aware
    wrong, _ = profile.for_build(TargetRef(name=profile.name, quantize={"gptq": True}))
    with pytest.raises(SpecError, match="'gptq' is not a setting"):
        nncf_recipe(wrong, "int4")


def test_a_gguf_file_is_told_by_its_magic_bytes_as_an_hf_source(tmp_path: Path) -> None:
    from edgeconv.spec.source import sniff, source_of

    model = tmp_path / "weights.bin"  # any suffix: the header decides
    model.write_bytes(b"GGUF" + bytes(60))
    assert sniff(str(model)) == "gguf" and source_of(str(model)) == "hf"


def test_device_x86_64_of_a_text_generation_spec_plans_the_decoder_lm_targets_of_every_runtime() -> None:
    from edgeconv.api.device_class import device_targets
    from edgeconv.api.pipeline import plan

    llm = {"x86-cpu-ort-genai", "x86-cpu-openvino-genai"}
    refs, left_out = device_targets("x86-64", calibrated=False, generative=True)
    assert {r.name for r in refs} | {line.split(":")[0] for line in left_out} == llm
    classifier, _ = device_targets("x86-64", calibrated=False)
    assert not llm & {r.name for r in classifier} and {"x86-cpu-ort"} <= {r.name for r in classifier}
    spec = load_spec(SAMPLE, ["model.path=missing-model-folder"])
    matrix = plan(spec, device="x86-64")  # before any work: no model is read
    assert matrix.device == "x86-64" and {p.name for p, _ in matrix.selected} == {r.name for r in refs}
    every = {"x86-cpu-ort-genai": ["fp32", "int8-weights", "int4"],  # bf16: OpenVINO's only (a skipped row without it)
             "x86-cpu-openvino-genai": ["fp32", "bf16", "int8-weights", "int4"]}
    assert all(precisions == every[p.name] for p, precisions in matrix.selected)
    in_spec = load_spec(SAMPLE, ["model.path=missing-model-folder", "targets=[{device: x86-64, precisions: [int4]}]"])
    assert all(precisions == ["int4"] for _, precisions in plan(in_spec).selected)
    with pytest.raises(SpecError, match="unknown device class 'nvidia-gpu' for decoder language models"):
        plan(spec, device="nvidia-gpu")  # a class of classifier profiles only
