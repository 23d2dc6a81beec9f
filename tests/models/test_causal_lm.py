"""Decoder LMs as the fp32 reference: GGUF -> float model -> Hugging Face folder, and the one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.errors import ExitCode, SpecError
from tests import llm_shared


def test_gguf_saved_as_hf_folder_generates_the_same_greedy_tokens(tmp_path_factory: pytest.TempPathFactory) -> None:
    from edgeconv.models.causal_lm import greedy_generate, load_causal_lm

    ref = llm_shared.reference(tmp_path_factory)
    folder = llm_shared.hf_folder(tmp_path_factory)
    config = (folder / "config.json").read_text()
    assert '"architectures"' in config and "LlamaForCausalLM" in config and "quantization_config" not in config
    assert (folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file()
    again = load_causal_lm(str(folder))
    assert again.source == "hf"
    for question in llm_shared.PROMPTS:
        ids = llm_shared.prompt_ids(ref, question)
        first = greedy_generate(ref, ids, 16)
        assert len(first) > 3
        assert greedy_generate(again, ids, 16) == first
    assert "Paris" in ref.tokenizer.decode(greedy_generate(ref, llm_shared.prompt_ids(ref, llm_shared.PROMPTS[0]), 16))


def test_pkg_path_resolves_to_the_packaged_gguf() -> None:
    llm_shared.need_llm_packages()
    from edgeconv.models.gguf import check_gguf
    from edgeconv.models.load import resolve_model_path

    path = Path(resolve_model_path(llm_shared.GGUF))
    assert path.is_file() and check_gguf(path) == "llama"


def _tiny_gguf(path: Path, architecture: str) -> Path:
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_unsupported_gguf_architecture_is_one_line_exit_2(tmp_path: Path) -> None:
    from edgeconv.models.causal_lm import load_causal_lm

    path = _tiny_gguf(tmp_path / "encoder.gguf", "bert")
    with pytest.raises(SpecError) as caught:
        load_causal_lm(str(path))
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.USAGE and "\n" not in message
    assert "architecture 'bert'" in message and "llama" in message and "fix:" in message


def test_folder_without_tokenizer_is_one_line_exit_2(tmp_path: Path) -> None:
    from edgeconv.models.causal_lm import load_causal_lm

    (tmp_path / "config.json").write_text('{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}')
    with pytest.raises(SpecError) as caught:
        load_causal_lm(str(tmp_path))
    assert caught.value.exit_code == ExitCode.USAGE and "\n" not in str(caught.value)
    assert "no tokenizer files" in str(caught.value)


def test_missing_package_or_path_is_exit_2(tmp_path: Path) -> None:
    from edgeconv.models.causal_lm import load_causal_lm

    with pytest.raises(SpecError, match="not installed"):
        load_causal_lm("pkg://no_such_llm_package/model.gguf")
    with pytest.raises(SpecError, match="does not exist"):
        load_causal_lm(str(tmp_path / "absent.gguf"))


def test_the_samples_lora_adapter_is_merged(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    import sys

    from edgeconv.models.causal_lm import greedy_generate, load_causal_lm

    sample = Path(__file__).resolve().parents[2] / "samples" / "smollm2-sentiment"
    sys.path.insert(0, str(sample))
    try:
        from train import LABELS, prompt_of
    finally:
        sys.path.remove(str(sample))
    folder = llm_shared.hf_folder(tmp_path_factory)
    tuned = load_causal_lm(str(folder), adapter=str(sample / "adapter"))
    assert str(sample / "adapter") in tuned.files
    ids = tuned.tokenizer(prompt_of(tuned.tokenizer, "I hate waiting two hours for a delayed flight"),
                          add_special_tokens=False).input_ids
    assert tuned.tokenizer.decode(greedy_generate(tuned, ids, 4)).strip() in LABELS
    with pytest.raises(SpecError, match="not a PEFT adapter folder"):
        load_causal_lm(str(folder), adapter=str(tmp_path))
