"""Data readers: JSONL/CSV/npz, reproducible subsets, and refusal of data that does not fit the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeconv.data.make import make_feeds
from edgeconv.data.records import iter_records, select
from edgeconv.errors import DataError
from edgeconv.models.tasks import TensorInfo
from edgeconv.spec import DatasetSpec, TextPreprocess

X = [TensorInfo("x", "float32", ("batch", 4))]


class WordCounter:
    """A stand-in tokenizer with the transformers call signature (ids = word lengths)."""

    model_input_names = ("input_ids", "attention_mask")

    def __call__(self, texts, pairs=None, max_length=8, padding="max_length", truncation=True, return_tensors="np"):
        ids = np.zeros((len(texts), max_length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, text in enumerate(texts):
            words = [len(w) for w in text.split()][:max_length]
            ids[i, : len(words)] = words
            mask[i, : len(words)] = 1
        return {"input_ids": ids, "attention_mask": mask}


TEXT_INPUTS = [TensorInfo("input_ids", "int64", ("batch", "sequence")),
               TensorInfo("attention_mask", "int64", ("batch", "sequence"))]


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_text_jsonl_to_feeds_with_labels(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", [{"text": "a bb", "label": "pos"}, {"text": "ccc", "label": "neg"}])
    feeds = make_feeds(DatasetSpec(path=path), "evaluation", TEXT_INPUTS, ["neg", "pos"],
                       TextPreprocess(max_length=4), WordCounter())
    assert feeds.inputs["input_ids"].tolist() == [[1, 2, 0, 0], [3, 0, 0, 0]]
    assert feeds.labels.tolist() == [1, 0]


def test_csv_reader(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\nhello world,1\nbye,0\n")
    feeds = make_feeds(DatasetSpec(path=path), "evaluation", TEXT_INPUTS, ["neg", "pos"],
                       TextPreprocess(max_length=3), WordCounter())
    assert feeds.labels.tolist() == [1, 0] and len(feeds) == 2


def test_count_and_seed_select_the_same_subset_every_time(tmp_path: Path) -> None:
    rows = [{"i": i} for i in range(1000)]
    first = select(lambda: iter(rows), 50, seed=3)
    assert first == select(lambda: iter(rows), 50, seed=3)
    assert first != select(lambda: iter(rows), 50, seed=4)
    assert [r["i"] for r in first] == sorted(r["i"] for r in first)
    assert len({r["i"] for r in first}) == 50
    assert select(lambda: iter(rows), None, seed=0) == rows


def test_stratified_subset_keeps_label_proportions() -> None:
    rows = [{"i": i, "label": "rare" if i % 10 == 0 else "common"} for i in range(1000)]
    chosen = select(lambda: iter(rows), 50, seed=0, stratify_field="label")
    assert len(chosen) == 50
    assert sum(r["label"] == "rare" for r in chosen) == 5
    assert chosen == select(lambda: iter(rows), 50, seed=0, stratify_field="label")
    plain = [select(lambda: iter(rows), 50, seed=s) for s in range(20)]
    assert any(sum(r["label"] == "rare" for r in p) != 5 for p in plain)  # unstratified drifts


def test_unknown_label_is_refused(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "neutral"}])
    with pytest.raises(DataError, match="'neutral' is not one of the model's labels"):
        make_feeds(DatasetSpec(path=path), "evaluation", TEXT_INPUTS, ["neg", "pos"], TextPreprocess(), WordCounter())


def test_bad_json_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(DataError, match="line 2 is not JSON"):
        list(iter_records(path, "jsonl"))


def test_npz_feeds_checked_against_the_model(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((3, 4), dtype=np.float32))
    feeds = make_feeds(DatasetSpec(path=path), "calibration", X, [], TextPreprocess())
    assert len(feeds) == 3 and feeds.labels is None
    np.savez(path, x=np.ones((3, 4), dtype=np.int64))
    with pytest.raises(DataError, match="is int64, the model takes float32"):
        make_feeds(DatasetSpec(path=path), "calibration", X, [], TextPreprocess())
    np.savez(path, x=np.ones((3, 4, 1), dtype=np.float32))
    with pytest.raises(DataError, match="rank 3"):
        make_feeds(DatasetSpec(path=path), "calibration", X, [], TextPreprocess())
    np.savez(path, x=np.ones((3, 4), dtype=np.float32), y=np.ones((2, 4), dtype=np.float32))
    with pytest.raises(DataError, match="different numbers of examples"):
        make_feeds(DatasetSpec(path=path), "calibration", X, [], TextPreprocess())


def test_npz_count_draws_a_seeded_subset(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(40, dtype=np.float32).reshape(10, 4))
    a = make_feeds(DatasetSpec(path=path, count=4, seed=1), "calibration", X, [], TextPreprocess())
    b = make_feeds(DatasetSpec(path=path, count=4, seed=1), "calibration", X, [], TextPreprocess())
    assert len(a) == 4 and np.array_equal(a.inputs["x"], b.inputs["x"])


def test_empty_text_set(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("\n")
    with pytest.raises(DataError, match="is empty"):
        make_feeds(DatasetSpec(path=path), "calibration", TEXT_INPUTS, [], TextPreprocess(), WordCounter())
