"""Bad input to an LLM build (task: text-generation) through `edgeconv build`: one line naming problem and fix,
exit 2, no traceback, nothing written to the output folder, and no stage run (no cache entry): each case fails in
seconds, before any expensive stage. The model is a tiny Hugging Face folder made here (config, a word-level
tokenizer, no weights: none of these cases may get as far as loading them), or a tiny GGUF file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from edgeconv.cli import main
from tests.conftest import make_tiny_onnx

WORDS = ["[UNK]", "</s>", "negative", "positive", "good", "bad", "day", "very"]


def _tiny_folder(folder: Path) -> Path:
    """A llama config (hidden 16, 2 layers) and a word-level tokenizer: enough for every check before weights."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    folder.mkdir()
    LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, vocab_size=len(WORDS)).save_pretrained(folder)
    words = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=words, eos_token="</s>", unk_token="[UNK]").save_pretrained(folder)
    return folder


def _project(tmp_path: Path, records: list[dict[str, Any]] | None = None, **model: Any) -> Path:
    folder = tmp_path / "tiny-lm"
    if not folder.exists():
        _tiny_folder(folder)
    rows = records or [{"text": "good day", "label": "positive"}, {"text": "bad day", "label": "negative"}]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "name": "tiny-lm",
        "model": {"path": "tiny-lm", "task": "text-generation", "labels": ["negative", "positive"], **model},
        "generation": {"chat_template": False, "prompt": "{text}", "answer_tokens": 2, "context_length": 64},
        "evaluation": {"path": "eval.jsonl", "text_field": "text", "label_field": "label"},
        "targets": [{"name": "x86-cpu-ort-genai", "precisions": ["fp32"]}],
        "output": "out",
    }
    (tmp_path / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "edgeconv.yaml"


def _fails_in_one_line(spec: Path, needle: str, *args: str) -> None:
    out = spec.parent / "out"
    result = CliRunner().invoke(main, ["build", str(spec), *args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and needle in errors[0] and "fix:" in errors[0], result.stderr
    assert "Traceback" not in result.output and not out.exists(), "bad input leaves nothing behind"


def _no_stage_ran(cache: Path) -> bool:
    return not any((cache / "stages").glob("*/*/stage.json")) if (cache / "stages").exists() else True


def test_a_model_folder_without_a_tokenizer(tmp_path: Path, stage_cache: Path) -> None:
    spec = _project(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (tmp_path / "tiny-lm" / name).unlink(missing_ok=True)
    _fails_in_one_line(spec, "no tokenizer files")
    assert _no_stage_ran(stage_cache)


@pytest.mark.parametrize("architecture", ["bert", "made-up-lm"])
def test_a_gguf_of_an_unsupported_architecture(tmp_path: Path, stage_cache: Path, architecture: str) -> None:
    from gguf import GGUFWriter

    gguf = tmp_path / "model.gguf"
    writer = GGUFWriter(str(gguf), architecture)  # the header and general.architecture: no tensor needed
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    _fails_in_one_line(_project(tmp_path), f"architecture '{architecture}'", "--set", f"model.path={gguf}")
    assert _no_stage_ran(stage_cache)


@pytest.mark.parametrize(("records", "model", "needle"), [
    ([{"body": "good day", "label": "positive"}], {}, "no 'text' field"),
    ([{"text": "good day", "label": "neutral"}], {}, "not in model.labels"),
    (None, {"labels": ["very negative", "positive"]}, "not one word"),
    (None, {"adapter": "no-such-adapter"}, "is not a folder"),
])
def test_bad_records_labels_or_adapter_path(tmp_path: Path, stage_cache: Path, records: Any, model: Any,
                                            needle: str) -> None:
    _fails_in_one_line(_project(tmp_path, records, **model), needle)
    assert _no_stage_ran(stage_cache)


def test_an_onnx_classifier_as_model_path(tmp_path: Path, stage_cache: Path) -> None:
    make_tiny_onnx(tmp_path / "classifier.onnx")
    _fails_in_one_line(_project(tmp_path), "text-generation", "--set", "model.path=classifier.onnx")
    assert _no_stage_ran(stage_cache)


def _adapter(folder: Path, module: str, shape: tuple[int, int]) -> Path:
    import torch
    from safetensors.torch import save_file

    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"],
        "base_model_name_or_path": "a wider model"}))
    save_file({f"base_model.model.{module}.lora_A.weight": torch.zeros(shape)},
              str(folder / "adapter_model.safetensors"))
    return folder


@pytest.mark.parametrize(("module", "shape", "needle"), [
    ("model.layers.0.self_attn.q_proj", (4, 576), "576 wide in the adapter but 16"),
    ("model.layers.29.self_attn.q_proj", (4, 16), "does not have"),
])
def test_an_adapter_that_does_not_fit_the_base(tmp_path: Path, stage_cache: Path, module: str,
                                               shape: tuple[int, int], needle: str) -> None:
    """Found from the adapter's header and the base's config, before any weight is loaded (the folder has none)."""
    adapter = _adapter(tmp_path / "adapter", module, shape)
    _fails_in_one_line(_project(tmp_path, adapter=str(adapter)), needle)
    assert _no_stage_ran(stage_cache)


def test_a_prompt_beyond_the_context_fails_before_the_weights(tmp_path: Path, stage_cache: Path) -> None:
    """Stage reference not cached: the prompts are checked with the source's tokenizer before any weight."""
    records = [{"text": " ".join(["good"] * 70), "label": "positive"}]
    _fails_in_one_line(_project(tmp_path, records), "context_length 64")
    assert _no_stage_ran(stage_cache)


@pytest.mark.parametrize(("calibration", "needle"), [
    (None, "calibrates on texts"),  # a data-aware int4 and no calibration section
    ([{"body": "good day"}], "calibration record 0 has no 'text' field"),
    ([], "holds no record"),
])
def test_a_data_aware_int4_without_usable_calibration_texts(tmp_path: Path, stage_cache: Path, calibration: Any,
                                                            needle: str) -> None:
    spec = _project(tmp_path)
    raw = yaml.safe_load(spec.read_text())
    raw["targets"] = [{"name": "x86-cpu-openvino-genai", "precisions": ["int4"], "quantize": {"awq": True}}]
    if calibration is not None:
        (tmp_path / "calib.jsonl").write_text("".join(json.dumps(r) + "\n" for r in calibration))
        raw["calibration"] = {"path": "calib.jsonl"}
    spec.write_text(yaml.safe_dump(raw))
    _fails_in_one_line(spec, needle)
    assert _no_stage_ran(stage_cache)


def test_a_refused_int4_recipe_fails_before_any_stage(tmp_path: Path, stage_cache: Path) -> None:
    """A recipe combination the ORT GenAI pass refuses (a quantized tied embedding: ORT's quantizer makes a Gather
    int4 only) is judged with the spec, not after the reference was made."""
    _fails_in_one_line(_project(tmp_path), "embeddings: float", "--set",
                       "targets=[{name: x86-cpu-ort-genai, precisions: [int4], quantize: {embeddings: same}}]")
    assert _no_stage_ran(stage_cache)
