"""Distillation brings a pruned student's predictions closer to its teacher's, within its step budget."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from edgeconv.data.feeds import FeedSet
from tests.compress.tiny_models import make_tiny_bert, sentences

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning", reason="Torch-Pruning is not installed (pip install edgeconv[prune])")


def test_kd_loss_is_zero_when_student_equals_teacher() -> None:
    from edgeconv.compress.distill import kd_loss

    logits = torch.randn(8, 3)
    assert float(kd_loss(logits, logits, None, 2.0, 1.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(kd_loss(logits, -logits, None, 2.0, 1.0)) > 0.1
    labels = logits.argmax(-1)
    mixed = kd_loss(logits, logits, labels, 2.0, 0.5)  # only the hard-label half is left
    assert float(mixed) == pytest.approx(0.5 * float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-5)


def fit_teacher(teacher: torch.nn.Module, train: FeedSet, names: list[str]) -> None:
    """A randomly initialised tiny BERT predicts ~uniform logits; a short fit gives it something to teach."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(teacher.parameters(), lr=5e-3)
    teacher.train()
    assert train.labels is not None
    for _ in range(3):
        for start in range(0, len(train), 16):
            args = [torch.from_numpy(train.inputs[n][start:start + 16]) for n in names]
            labels = torch.from_numpy(train.labels[start:start + 16])
            loss = torch.nn.functional.cross_entropy(teacher(*args), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    teacher.eval()


def _pruned_pair(tmp_path: Path) -> tuple[torch.nn.Module, torch.nn.Module, FeedSet, FeedSet, list[str]]:
    """A fitted tiny BERT teacher, its structured-pruned copy, train and held-out feeds."""
    from transformers import BertForSequenceClassification, BertTokenizer

    from edgeconv.compress.prune import prune_model
    from edgeconv.models.wrappers import NamedLogits
    from edgeconv.spec import PruneSpec

    folder = make_tiny_bert(tmp_path / "bert")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    teacher = NamedLogits(BertForSequenceClassification.from_pretrained(folder), names).eval()
    tokenizer = BertTokenizer.from_pretrained(folder)

    def feeds(n: int, seed: int) -> FeedSet:
        records = sentences(n, seed)
        enc = tokenizer([r["text"] for r in records], padding="max_length", max_length=10, return_tensors="np")
        labels = np.array([r["label"] == "positive" for r in records], dtype=np.int64)
        return FeedSet({k: enc[k].astype(np.int64) for k in names}, labels)

    train, held_out = feeds(128, 1), feeds(64, 2)
    fit_teacher(teacher, train, names)
    student = copy.deepcopy(teacher)
    args = tuple(torch.from_numpy(train.inputs[n][:1]) for n in names)
    prune_model(student, PruneSpec(mode="structured", ratio=0.6), args)
    return student, teacher, train, held_out, names


def test_distillation_lowers_the_student_teacher_gap(tmp_path: Path) -> None:
    from edgeconv.compress.distill import distill, student_teacher_gap
    from edgeconv.spec import DatasetSpec, RecoverSpec

    student, teacher, train, held_out, names = _pruned_pair(tmp_path)
    before = student_teacher_gap(student, teacher, held_out, names)
    spec = RecoverSpec(train=DatasetSpec(path=Path("train.jsonl")), max_steps=40, batch_size=16, lr=3e-3,
                       alpha=1.0, temperature=1.0)
    record = distill(student, teacher, train, names, spec)
    after = student_teacher_gap(student, teacher, held_out, names)
    assert record["steps"] == 40 and record["stopped_by"] == "max_steps"
    assert record["hidden_blocks"] == 0  # logits only unless hidden_weight is set
    assert after < before * 0.7, (before, after)


def test_layerwise_distillation_pulls_the_blocks_outputs_towards_the_teachers(tmp_path: Path) -> None:
    from edgeconv.compress.distill import BlockOutputs, distill, hidden_loss, matching_blocks
    from edgeconv.spec import DatasetSpec, RecoverSpec

    student, teacher, train, held_out, names = _pruned_pair(tmp_path)
    blocks = matching_blocks(student, teacher)
    assert blocks and all(".encoder.layer." in b for b in blocks)  # the transformer layers, hidden size kept

    def block_gap() -> float:
        ours, theirs = BlockOutputs(student, blocks), BlockOutputs(teacher, blocks)
        args = [torch.from_numpy(held_out.inputs[n]) for n in names]
        with torch.no_grad():
            student(*args), teacher(*args)
        gap = float(hidden_loss(ours.outputs, theirs.outputs))
        ours.remove(), theirs.remove()
        return gap

    before = block_gap()
    spec = RecoverSpec(train=DatasetSpec(path=Path("train.jsonl")), max_steps=40, batch_size=16, lr=3e-3,
                       alpha=1.0, temperature=1.0, hidden_weight=1.0)
    record = distill(student, teacher, train, names, spec)
    assert record["hidden_blocks"] == len(blocks)
    assert block_gap() < before * 0.7
    assert not student._forward_hooks and all(not m._forward_hooks for m in student.modules())  # hooks removed


def test_trimmed_padding_changes_no_output(tmp_path: Path) -> None:
    from edgeconv.compress.distill import trim_padding

    _, teacher, train, _, names = _pruned_pair(tmp_path)
    batch = {n: train.inputs[n][:16] for n in names}
    longest = int(batch["attention_mask"].sum(1).max())
    assert longest < batch["input_ids"].shape[1]  # the toy sentences are shorter than max_length
    trimmed = trim_padding(batch)
    assert all(trimmed[n].shape == (16, longest) for n in names)
    with torch.no_grad():
        full = teacher(*[torch.from_numpy(batch[n]) for n in names])
        short = teacher(*[torch.from_numpy(trimmed[n]) for n in names])
    assert torch.allclose(full, short, atol=1e-5)
    no_mask = {"pixel_values": np.zeros((2, 3, 4, 4), np.float32)}
    assert trim_padding(no_mask) is no_mask


def test_time_limit_stops_distillation(tmp_path: Path) -> None:
    from edgeconv.compress.distill import distill
    from edgeconv.data.feeds import FeedSet
    from edgeconv.spec import DatasetSpec, RecoverSpec

    student = torch.nn.Sequential(torch.nn.Linear(4, 3))
    teacher = torch.nn.Sequential(torch.nn.Linear(4, 3))
    train = FeedSet({"x": np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)})
    spec = RecoverSpec(train=DatasetSpec(path=Path("t.jsonl")), max_steps=10**6, max_time_s=0.2, batch_size=8)
    record = distill(student, teacher, train, ["x"], spec)
    assert record["stopped_by"] == "max_time_s" and 0 < record["steps"] < 10**6
