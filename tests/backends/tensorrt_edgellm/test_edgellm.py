"""TensorRT Edge-LLM's route (backends/tensorrt_edgellm), tested up to what runs here.

Runs here: the recipe and ModelOpt config (the vendor's INT4_AWQ_CFG with its exclusions), ModelOpt's int4 AWQ
on the CPU over a tiny random Llama with SmolLM2's tokenizer (seconds; the real model's figures are in
docs/llm.md), the commands the board runs, the engine archive's unpacking, and why the target cannot build here.
Skipped with the reason: Edge-LLM's exporter (not on PyPI) and the engine build (a Jetson with llm_build, named
by $EDGECONV_EDGELLM_TARGET: a profile with a device: section).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from edgeconv.backends import get_backend
from edgeconv.backends.tensorrt_edgellm import device, export
from edgeconv.backends.tensorrt_edgellm.recipe import EdgeLLMRecipe, quant_config, recipe_for
from edgeconv.errors import RuntimeUnavailable, SpecError, StageError
from edgeconv.spec.targets import EdgeLLMSettings, get_profile
from tests import llm_shared

TARGET = "jetson-orin-edgellm"


def test_recipe_is_the_vendors_int4_awq_and_takes_target_overrides() -> None:
    profile = get_profile(TARGET)
    int4 = recipe_for(profile, "int4")
    assert (int4.quantization, int4.algorithm, int4.block_size, int4.lm_head) == ("int4_awq", "awq_lite", 128, False)
    assert recipe_for(profile, "fp16").quantization is None
    tuned = recipe_for(profile.model_copy(update={"build_quantize": {"block_size": 64, "algorithm": "max"}}), "int4")
    assert (tuned.block_size, tuned.algorithm) == (64, "max")
    for bad in ({"bits": 3}, {"algorithm": "gptq"}):
        with pytest.raises(SpecError):
            recipe_for(profile.model_copy(update={"build_quantize": bad}), "int4")
    with pytest.raises(SpecError, match="builds fp16, int4"):
        recipe_for(profile, "int8-weights")


def test_modelopt_config_keeps_untileable_linears_and_the_lm_head_fp16() -> None:
    mtq = pytest.importorskip("modelopt.torch.quantization", reason="nvidia-modelopt is not installed")
    before = json.dumps(mtq.INT4_AWQ_CFG, default=str)
    linears = {"layers.0.q_proj": (576, 576), "layers.0.gate": (16, 576), "lm_head": (49152, 576)}
    cfg = quant_config(EdgeLLMRecipe("int4", block_size=64), linears, mtq.INT4_AWQ_CFG)
    rules = {r["quantizer_name"]: r for r in cfg["quant_cfg"]}
    assert rules["*weight_quantizer"]["cfg"]["block_sizes"][-1] == 64
    assert rules["*layers.0.gate.weight_quantizer"]["enable"] is False  # 16 outputs: not a 64-wide tile
    assert "*layers.0.q_proj.weight_quantizer" not in rules
    assert rules["*lm_head*"]["enable"] is False and "*lm_head.weight_quantizer" not in rules
    with_head = quant_config(EdgeLLMRecipe("int4", lm_head=True), linears, mtq.INT4_AWQ_CFG)
    names = [r["quantizer_name"] for r in with_head["quant_cfg"]]
    assert names.index("*lm_head.weight_quantizer") > names.index("*lm_head*")  # last match wins
    assert json.dumps(mtq.INT4_AWQ_CFG, default=str) == before  # the stock config is copied, never changed


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama (width 128: every Linear tiles by 64) with SmolLM2's tokenizer."""
    pytest.importorskip("modelopt", reason="nvidia-modelopt is not installed")
    llm_shared.need_llm_packages()
    import torch
    import transformers

    from edgeconv.spec.source import resolve_model_path

    gguf = Path(resolve_model_path(llm_shared.GGUF))
    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=49152,
                                      tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    transformers.LlamaForCausalLM(config).eval().save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(folder)
    return folder


def test_modelopt_int4_awq_runs_on_the_cpu_and_writes_the_unified_checkpoint(tiny_llama: Path,
                                                                            tmp_path: Path) -> None:
    from safetensors import safe_open

    from edgeconv.backends.tensorrt_edgellm.quantize import quantize_checkpoint

    texts = ["I love this phone, the battery lasts all day.", "Worst service ever, never again.",
             "The meeting moved to three o'clock."]
    made = quantize_checkpoint(tiny_llama, tmp_path / "ckpt", EdgeLLMRecipe("int4"), texts)
    assert made.quant_algo == "W4A16_AWQ" and made.group_size == 128 and made.calibration_texts == 3
    assert "lm_head" in made.excluded
    with safe_open(str(tmp_path / "ckpt" / "model.safetensors"), framework="pt") as f:
        q = f.get_tensor("model.layers.0.self_attn.q_proj.weight")
        scale = f.get_tensor("model.layers.0.self_attn.q_proj.weight_scale")
        names = list(f.keys())
    assert "model.layers.0.self_attn.q_proj.pre_quant_scale" in names  # AWQ's per-channel smoothing
    assert q.numel() == 128 * 128 // 2 and q.element_size() == 1  # two int4 weights a byte
    assert tuple(scale.shape) == (128, 1)  # one scale per 128-wide block of each output row
    assert (tmp_path / "ckpt" / "tokenizer.json").is_file()
    with pytest.raises(SpecError, match="calibrates on texts"):
        quantize_checkpoint(tiny_llama, tmp_path / "none", EdgeLLMRecipe("int4"), [])
    assert not (tmp_path / "none").exists()


def test_the_board_commands_are_the_vendors() -> None:
    settings = EdgeLLMSettings(builder="/opt/edge llm/llm_build", plugin="/opt/edge llm/libNvInfer_edgellm_plugin.so",
                               max_input_len=512, max_kv_cache_capacity=768)
    assert device.build_argv(settings, "in", "engine") == [
        "/opt/edge llm/llm_build", "--onnxDir=in", "--engineDir=engine", "--maxBatchSize=1", "--maxInputLen=512",
        "--maxKVCacheCapacity=768"]
    script = device.board_script(settings)
    assert script.startswith("EDGELLM_PLUGIN_PATH='/opt/edge llm/libNvInfer_edgellm_plugin.so' '/opt/edge llm/")
    assert script.endswith("&& tar -cf engine.tar -C engine .")
    assert device.inference_argv(settings, "engine", "in.json", "out.json")[0] == "/opt/edge llm/llm_inference"
    assert export.export_argv(Path("ckpt"), Path("onnx")) == ["tensorrt-edgellm-export", "ckpt", "onnx", "--dtype",
                                                              "float16"]


def _tar(members: dict[str, bytes], link: str | None = None) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        if link:
            info = tarfile.TarInfo("escape")
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
    return data.getvalue()


def test_the_engine_archive_unpacks_and_nothing_escapes_it(tmp_path: Path) -> None:
    (tmp_path / "ok.tar").write_bytes(_tar({"./llm.engine": b"plan", "./config.json": b"{}"}))
    device.unpack(tmp_path / "ok.tar", tmp_path / "engine")
    assert (tmp_path / "engine" / "llm.engine").read_bytes() == b"plan"
    (tmp_path / "bad.tar").write_bytes(_tar({"x": b""}, link="/etc/passwd"))
    with pytest.raises(StageError, match="unreadable"):
        device.unpack(tmp_path / "bad.tar", tmp_path / "bad")


def test_why_the_target_cannot_build_here_names_the_first_missing_step(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeconv.backends.tensorrt_edgellm import backend as module
    from edgeconv.doctor import target_rows

    backend, profile = get_backend("tensorrt_edgellm"), get_profile(TARGET)
    monkeypatch.setattr(module, "modelopt_version", lambda: None)
    assert "ModelOpt is not installed" in (backend.unavailable_reason(profile) or "")
    monkeypatch.setattr(module, "modelopt_version", lambda: "0.47.0")
    monkeypatch.setattr(export, "exporter_path", lambda: None)
    assert "tensorrt-edgellm-export is not installed" in (backend.unavailable_reason(profile) or "")
    monkeypatch.setattr(export, "exporter_path", lambda: "/usr/bin/tensorrt-edgellm-export")
    assert "built on the Jetson" in (backend.unavailable_reason(profile) or "")  # no device: section
    row = next(r for r in target_rows() if r["name"] == TARGET)
    assert row["generative"] and row["device_class"] == "jetson-orin" and not row["available"]


def test_without_the_exporter_the_export_refuses_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    monkeypatch.setattr(export, "exporter_path", lambda: None)
    with pytest.raises(RuntimeUnavailable, match="exporter is not installed"):
        export.export_onnx(tmp_path / "ckpt", tmp_path / "onnx")
    assert list(tmp_path.iterdir()) == []


def test_edgellm_export_writes_the_plugin_graph(tiny_llama: Path, tmp_path: Path) -> None:
    if export.exporter_path() is None:
        pytest.skip(f"{export.EXPORTER} is not installed: {export.HOW_TO_GET}")
    import onnx

    from edgeconv.backends.tensorrt_edgellm.quantize import quantize_checkpoint

    quantize_checkpoint(tiny_llama, tmp_path / "ckpt", EdgeLLMRecipe("int4"), ["A short calibration text."])
    export.export_onnx(tmp_path / "ckpt", tmp_path / "onnx")
    graph = onnx.load(str(tmp_path / "onnx" / export.LLM_SUBDIR / "model.onnx"), load_external_data=False).graph
    assert "inputs_embeds" in {i.name for i in graph.input}
    assert any(n.op_type == "AttentionPlugin" for n in graph.node)


def test_the_engine_is_built_on_the_board(tmp_path: Path) -> None:
    name = os.environ.get("EDGECONV_EDGELLM_TARGET")
    if not name:
        pytest.skip("needs a Jetson with TensorRT Edge-LLM's llm_build: set EDGECONV_EDGELLM_TARGET to a profile "
                    "with a device: section (and the exporter installed here)")
    profile = get_profile(name)
    reason = get_backend(profile.backend).unavailable_reason(profile)
    if reason:
        pytest.skip(reason)
    onnx_dir = Path(os.environ["EDGECONV_EDGELLM_ONNX"])  # an exporter's llm/ folder
    assert profile.device is not None
    done = device.build_on_device(profile.device, profile.edgellm or EdgeLLMSettings(),
                                  sorted(p for p in onnx_dir.iterdir() if p.is_file()), tmp_path)
    assert done["built_on"] == profile.device.label and any((tmp_path / device.ENGINE_DIR).iterdir())


def test_int4_without_calibration_texts_stops_before_any_work(tmp_path: Path) -> None:
    backend, profile = get_backend("tensorrt_edgellm"), get_profile(TARGET)
    with pytest.raises(SpecError, match="calibrates on texts"):
        backend.build_generative(None, tmp_path / "hf", "sha", profile, "int4")  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []
