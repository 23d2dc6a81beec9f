"""Tiny models for pruning tests: a 2-layer BERT classifier (with a real tokenizer) and a small CNN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = ["good", "great", "love", "happy", "fine", "bad", "awful", "hate", "sad", "poor", "the", "a", "is",
         "movie", "day", "food", "very", "not", "so", "it"]
POSITIVE, NEGATIVE = WORDS[:5], WORDS[5:10]


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A BertForSequenceClassification (hidden 32, 2 layers, 4 heads) saved with its tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    config = BertConfig(vocab_size=len(WORDS) + 5, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizer(str(vocab)).save_pretrained(folder)
    return folder


def sentences(n: int, seed: int) -> list[dict[str, str]]:
    """Labelled toy sentences: the label is which sentiment word appears."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        label = int(rng.integers(2))
        key = rng.choice(POSITIVE if label else NEGATIVE)
        filler = list(rng.choice(WORDS[10:], size=int(rng.integers(2, 6))))
        filler.insert(int(rng.integers(len(filler) + 1)), key)
        out.append({"text": " ".join(filler), "label": "positive" if label else "negative"})
    return out


def write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def make_tiny_cnn(seed: int = 0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(4, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3),
    ).eval()
