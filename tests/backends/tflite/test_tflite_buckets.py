"""LiteRT length buckets on a tiny BERT whose inputs are mostly short: one flatbuffer with a signature per bucket,
each example run (in verification, timing and a bundle's run.py) in the smallest bucket that holds it."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("litert_torch", reason="the TFLite extra is not installed (pip install 'edgeconv[tflite]')")
pytest.importorskip("ai_edge_quantizer", reason="the TFLite extra is not installed")
torch = pytest.importorskip("torch")

VOCAB, SEQ, CLASSES = 64, 32, 3
NAMES = ["input_ids", "attention_mask", "token_type_ids"]
EDGES = [8, 16, 32]  # p50 and p90 of the lengths below, rounded up to 8, then the padded length


def _feeds(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Lengths: 60% of 3-8 tokens, 30% of 9-16, 10% of 17-32 (every fifth example is one of those)."""
    short = rng.integers(3, 9, size=n)
    middle = rng.integers(9, 17, size=n)
    lengths = np.where(np.arange(n) % 10 < 6, short, middle)
    lengths[::10] = rng.integers(17, SEQ + 1, size=len(lengths[::10]))
    ids = rng.integers(5, VOCAB, size=(n, SEQ)).astype(np.int64)
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import transformers

    from edgeconv.api import pipeline as api
    from edgeconv.spec import load_spec

    folder = tmp_path_factory.mktemp("tiny_buckets")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=SEQ, num_labels=CLASSES)
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(folder / "model")
    vocab = folder / "model" / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]))
    transformers.BertTokenizer(str(vocab)).save_pretrained(folder / "model")
    rng = np.random.default_rng(0)
    ev, cal = _feeds(rng, 50), _feeds(rng, 40)
    with torch.no_grad():
        labels = model(**{k: torch.from_numpy(v) for k, v in ev.items()}).logits.numpy().argmax(-1)
    labels[:5] = (labels[:5] + 1) % CLASSES
    np.savez(folder / "eval.npz", **ev, __labels__=labels.astype(np.int64))
    np.savez(folder / "calib.npz", **cal)
    spec = {"name": "tiny-buckets", "model": {"path": "./model", "labels": ["a", "b", "c"]},
            "calibration": {"path": "calib.npz"}, "evaluation": {"path": "eval.npz"},
            "targets": [{"name": "arm64-tflite", "threads": 1, "precisions": ["fp32", "int8-dynamic"]}],
            "latency": {"warmup": 1, "runs": 11, "min_time_s": 0}, "output": "out"}
    (folder / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
    result = api.build(load_spec(folder / "edgeconv.yaml"))
    return {"result": result, "rows": {a.precision: a for a in result.artifacts}, "eval": ev, "labels": labels,
            "model": model}


def test_one_flatbuffer_holds_a_signature_per_bucket_chosen_from_the_lengths(built: dict) -> None:
    from ai_edge_litert.interpreter import Interpreter

    for precision, row in built["rows"].items():
        assert row.status in ("passed", "failed"), (precision, row.reason)
        assert row.built.buckets == EDGES
        signatures = Interpreter(model_path=row.path).get_signature_list()
        assert set(signatures) == {f"len_{e}" for e in EDGES}, precision  # quantized too: every signature kept
    assert built["rows"]["int8-dynamic"].size_bytes < built["rows"]["fp32"].size_bytes


def test_the_runner_runs_each_example_in_the_smallest_bucket_that_holds_it(built: dict) -> None:
    from edgeconv.backends.tflite.runner import TFLiteRunner

    feeds, model = built["eval"], built["model"]
    with torch.no_grad():
        padded = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()
    with TFLiteRunner(built["rows"]["fp32"].path, threads=1, input_names=NAMES) as runner:
        assert runner.describe()["buckets"] == EDGES
        for length, edge in ((3, 8), (8, 8), (9, 16), (17, 32), (32, 32)):
            row = {k: v[:1] for k, v in feeds.items()}
            row["attention_mask"] = (np.arange(SEQ)[None, :] < length).astype(np.int64)
            (_, details, _), cut = runner._bucket(row)
            assert {tuple(v.shape) for v in cut.values()} == {(1, edge)}
            assert {tuple(d["shape"]) for d in details.values()} == {(1, edge)}
        (logits,) = runner.infer(feeds).values()
    np.testing.assert_allclose(logits, padded, atol=1e-4)  # the mask hides the padding: same logits as padded


def test_verification_scores_every_example_through_the_buckets(built: dict) -> None:
    from edgeconv.backends.tflite.runner import TFLiteRunner

    for row in built["rows"].values():
        assert row.measurement.runtime["buckets"] == EDGES
        with TFLiteRunner(row.path, threads=1, input_names=NAMES) as runner:
            (logits,) = runner.infer(built["eval"]).values()
        predicted = logits.argmax(-1)
        assert row.measurement.accuracy == pytest.approx(float(np.mean(predicted == built["labels"])))
    assert built["rows"]["fp32"].measurement.agreement == 1.0


def test_timing_names_the_buckets_and_times_the_largest_as_the_worst_case(built: dict) -> None:
    for row in built["rows"].values():
        shapes = row.timing.shapes
        assert shapes["note"] == f"buckets {EDGES}"
        assert shapes["ranked_on"] == "real" and "padded" in shapes


def test_the_bundles_run_py_check_replays_the_golden_set_through_the_buckets(built: dict, tmp_path: Path) -> None:
    from edgeconv.bundle import make_bundle

    bundle = make_bundle(Path(built["result"].out_dir), "arm64-tflite", tmp_path, precisions=["int8-dynamic"])
    with tarfile.open(bundle, "r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / "tiny-buckets-arm64-tflite"
    done = subprocess.run([sys.executable, str(folder / "run.py"), "--check"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ok: "), done.stdout + done.stderr


def test_int8_full_calibrates_each_bucket_on_the_examples_it_holds_cut_to_its_length() -> None:
    from edgeconv.backends.tflite.quantize import representative_data
    from edgeconv.data.feeds import FeedSet

    mask = (np.arange(SEQ)[None, :] < np.array([[4], [12], [30]])).astype(np.int64)
    feeds = FeedSet({"input_ids": mask * 9, "attention_mask": mask, "token_type_ids": 0 * mask})
    args = ["args_0", "args_1", "args_2"]
    data = representative_data(feeds, NAMES, args, dict.fromkeys(args, np.int32), EDGES)
    assert {k: len(v) for k, v in data.items()} == {"len_8": 1, "len_16": 2, "len_32": 3}
    assert {v.shape for rows in data["len_16"] for v in rows.values()} == {(1, 16)}
    assert data["len_8"][0]["args_1"].dtype == np.int32 and data["len_8"][0]["args_1"].sum() == 4
    unbucketed = representative_data(feeds, NAMES, args, dict.fromkeys(args, np.int32))
    assert list(unbucketed) == ["serving_default"] and len(unbucketed["serving_default"]) == 3
