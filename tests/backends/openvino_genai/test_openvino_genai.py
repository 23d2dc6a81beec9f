"""OpenVINO GenAI artifacts: optimum-intel's stateful IR (in its own environment), NNCF int4, LLMPipeline.

A tiny random Llama (2 layers, width 64) with SmolLM2's tokenizer keeps the export to seconds; the real
model's figures come from bench/llm.py. optimum-intel needs transformers < 5.6, so it lives in a small
environment edgeconv makes on first use (pip, ~125 MB, ~25 s; once per test session, in its routes folder): where
pip cannot reach its index, the test says so and skips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import llm_shared

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "smollm2-sentiment" / "edgeconv.yaml"


@pytest.fixture(scope="module")
def tiny_ir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("openvino_genai")
    pytest.importorskip("nncf")
    from edgeconv.backends.openvino_genai.env import ensure_env
    from edgeconv.errors import StageError

    try:
        ensure_env()
    except StageError as exc:  # no package index here
        pytest.skip(str(exc))
    import torch
    import transformers

    from edgeconv.backends.openvino_genai.build import export_ir

    llm_shared.need_llm_packages()
    from edgeconv.spec.source import resolve_model_path

    gguf = Path(resolve_model_path(llm_shared.GGUF))
    tiny = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, vocab_size=49152, tie_word_embeddings=True,
                                      bos_token_id=1, eos_token_id=2, pad_token_id=2)
    transformers.LlamaForCausalLM(config).eval().save_pretrained(tiny)
    transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(tiny)
    return tiny, export_ir(tiny, tmp_path_factory.mktemp("ov") / "fp32")


@pytest.mark.slow  # the export alone is ~60 s on 2 busy cores
def test_fp32_ir_matches_torch_and_int4_is_reported_by_weight(tiny_ir, tmp_path: Path) -> None:
    from edgeconv.backends.openvino_genai.build import OpenVINORecipe, build_openvino
    from edgeconv.backends.openvino_genai.runner import OpenVINOGenaiRunner
    from edgeconv.models.causal_lm import load_causal_lm
    from edgeconv.verify.generation import Sampling
    from edgeconv.verify.language import teacher_forced, torch_logits

    hf, ir = tiny_ir
    lm = load_causal_lm(str(hf))
    texts = [[1, 504, 3575, 282, 4649, 314, 7042, 30], [1, 4093, 198, 1780, 314]]
    fp32 = build_openvino(ir, tmp_path / "fp32", OpenVINORecipe("fp32"))
    with OpenVINOGenaiRunner(str(fp32.folder), threads=2) as run:
        fid = teacher_forced(torch_logits(lm.model), run.logits, texts)
        assert fid.token_agreement == 1.0 and fid.kl_mean < 1e-6
        seen: list[int] = []
        generation = run.generate(texts[0], 8, on_token=seen.append, min_new_tokens=8)
        assert seen == generation.tokens and len(generation.tokens) == 8
        assert list(run.stream(texts[0], 8)) == run.generate(texts[0], 8).tokens
        assert generation.speed()["decode_tokens_per_s"] > 0
        draw = Sampling(temperature=1.0, seed=3)  # the runtime's sampler: a seed repeats its draw
        sampled = run.generate(texts[0], 8, sampling=draw, min_new_tokens=8).tokens
        assert sampled == run.generate(texts[0], 8, sampling=draw, min_new_tokens=8).tokens
        assert any(run.generate(texts[0], 8, sampling=Sampling(seed=s), min_new_tokens=8).tokens != sampled
                   for s in range(4, 8))
    int4 = build_openvino(ir, tmp_path / "int4", OpenVINORecipe("int4", group_size=32))
    assert int4.arguments == {"mode": "INT4_SYM", "group_size": 32, "ratio": 1.0, "all_layers": False}
    assert int4.weights.get("i4", 0) > 0 and int4.size_bytes < fp32.size_bytes
    with OpenVINOGenaiRunner(str(int4.folder), threads=2) as run:
        assert np.isfinite(run.logits(texts[0])).all()


def test_an_environment_pip_cannot_make_is_one_stage_error_and_leaves_nothing(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeconv.backends.openvino_genai import env
    from edgeconv.errors import StageError

    wheel = tmp_path / "missing" / "optimum_intel-2.2.0-py3-none-any.whl"  # fails at once, with no index
    monkeypatch.setattr(env, "PINS", [str(wheel)])
    monkeypatch.setenv("EDGECONV_ROUTES_DIR", str(tmp_path / "routes"))
    with pytest.raises(StageError, match=r"could not create optimum-intel's environment: ERROR: .*No such file"):
        env.ensure_env()
    assert [p.name for p in (tmp_path / "routes").iterdir()] == [f".lock-{env.env_folder().name}"]
    assert not env.env_status()["ready"]


@pytest.mark.slow  # shares the export above; the AWQ + scale estimation builds themselves take seconds
def test_a_data_aware_int4_calibrates_on_the_spec_texts_and_keys_its_cache_by_them(
        tiny_ir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import transformers

    from edgeconv.api.generative_data import lm_calibration
    from edgeconv.backends import get_backend
    from edgeconv.backends.decoder_lm import LMCalibration
    from edgeconv.backends.openvino_genai import backend as ov_backend
    from edgeconv.backends.openvino_genai.runner import OpenVINOGenaiRunner
    from edgeconv.cache.stages import Stages
    from edgeconv.spec import TargetRef, load_spec
    from edgeconv.spec.targets import get_profile

    hf, ir = tiny_ir
    spec = load_spec(SAMPLE, ["model.path=missing-model-folder", "calibration.count=3"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(hf))
    calibration = lm_calibration(spec, tokenizer)
    assert calibration is not None and len(calibration.ids) == 3
    assert spec.generation is not None and spec.generation.system in calibration.texts[0]  # formatted as a prompt
    assert tokenizer.decode(calibration.ids[0]) == calibration.texts[0]
    other = LMCalibration(calibration.texts[:2], calibration.ids[:2], "another", calibration.path)
    # the export stage copies the fixture's IR (the real export is the fixture's ~60 s)
    monkeypatch.setattr(ov_backend, "export_ir", lambda _hf, out: shutil.copytree(ir, out))
    events: list[tuple[str, str]] = []
    stages = Stages(tmp_path / "out", cache=tmp_path / "cache", on_event=lambda s, e: events.append((s, e)))
    base = get_profile("x86-cpu-openvino-genai")
    aware, _ = base.for_build(TargetRef(name=base.name, quantize={"group_size": 32, "awq": True,
                                                                  "scale_estimation": True}))
    backend = get_backend("openvino_genai")

    def built(profile, texts: LMCalibration) -> tuple[dict, str]:
        events.clear()
        made = backend.build_generative(stages, hf, "tiny", profile, "int4", calibration=texts)
        return made.quantization, next(e for s, e in events if s.startswith("artifacts/"))

    quantization, event = built(aware, calibration)
    assert event == "start" and quantization["awq"] and quantization["scale_estimation"]
    assert quantization["calibration_texts"] == 3 and quantization["arguments"]["awq"] is True
    assert quantization["weights"].get("i4", 0) > 0
    model = stages.out / "artifacts" / f"{base.name}-int4" / "model"
    with OpenVINOGenaiRunner(str(model), threads=2) as run:
        calibrated = run.logits(calibration.ids[0])
    assert np.isfinite(calibrated).all()
    assert built(aware, other)[1] == "start"  # other texts: another artifact
    plain, _ = base.for_build(TargetRef(name=base.name, quantize={"group_size": 32}))
    rtn = built(plain, calibration)
    assert rtn[1] == "start" and "calibration_texts" not in rtn[0] and not rtn[0]["awq"]
    with OpenVINOGenaiRunner(str(model), threads=2) as run:  # the same grid, rounded to nearest
        assert not np.allclose(run.logits(calibration.ids[0]), calibrated)  # the calibration changed the weights
    assert built(plain, other)[1] == "cached"  # round-to-nearest does not depend on the texts
