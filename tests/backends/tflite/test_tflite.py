"""The TFLite target on a tiny torch text classifier: every precision built, run in LiteRT, scored; with length
buckets [8, 16] (latency.buckets): every precision but int8-full is one flatbuffer with a signature per bucket."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("litert_torch", reason="the TFLite extra is not installed (pip install 'edgeconv[tflite]')")
pytest.importorskip("ai_edge_quantizer", reason="the TFLite extra is not installed")
torch = pytest.importorskip("torch")

VOCAB, SEQ, CLASSES = 64, 16, 3
EDGES = [8, SEQ]  # the spec's buckets: [8], and the padded length always last
NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def _feeds(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    ids = rng.integers(5, VOCAB, size=(n, SEQ)).astype(np.int64)
    lengths = rng.integers(4, SEQ + 1, size=n)
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _tiny_bert(folder: Path) -> object:
    """A one-layer BERT classifier (attention, softmax, layer norm, GELU, embeddings): seconds to convert."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=SEQ, num_labels=CLASSES)
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]))
    transformers.BertTokenizer(str(vocab)).save_pretrained(folder)
    return model


def write_tiny_project(folder: Path, seed: int, n_eval: int, n_calib: int, flipped: int,
                       **spec: object) -> Path:
    """A tiny BERT folder with eval/calib .npz (labels: its own top-1, ``flipped`` of them changed) and a spec."""
    model = _tiny_bert(folder / "model")
    rng = np.random.default_rng(seed)
    ev, cal = _feeds(rng, n_eval), _feeds(rng, n_calib)
    with torch.no_grad():
        labels = model(**{k: torch.from_numpy(v) for k, v in ev.items()}).logits.numpy().argmax(-1)
    labels[:flipped] = (labels[:flipped] + 1) % CLASSES
    np.savez(folder / "eval.npz", **ev, __labels__=labels.astype(np.int64))
    np.savez(folder / "calib.npz", **cal)
    full = {"model": {"path": "./model", "labels": ["a", "b", "c"], "text": {"max_length": SEQ}},
            "calibration": {"path": "calib.npz"}, "evaluation": {"path": "eval.npz"},
            "latency": {"warmup": 1, "runs": 11, "min_time_s": 0}, "output": "out", **spec}
    (folder / "edgeconv.yaml").write_text(yaml.safe_dump(full))
    return folder


@pytest.fixture(scope="module")
def tiny_torch_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_project(
        tmp_path_factory.mktemp("tiny_tflite"), seed=0, n_eval=60, n_calib=40, flipped=6, name="tiny-tflite",
        latency={"warmup": 1, "runs": 11, "min_time_s": 0, "buckets": EDGES[:1]},
        targets=[{"name": "arm64-tflite", "threads": 1, "precisions": ["fp32", "fp16", "int8-dynamic", "int8-full"]}])


@pytest.fixture(scope="module")
def built(tiny_torch_project: Path) -> dict:
    from edgeconv.api import pipeline as api
    from edgeconv.spec import load_spec

    spec = load_spec(tiny_torch_project / "edgeconv.yaml")
    return {"result": api.build(spec), "folder": tiny_torch_project}


def test_every_precision_builds_and_runs_in_litert(built: dict) -> None:
    result = built["result"]
    by_precision = {a.precision: a for a in result.artifacts}
    assert set(by_precision) == {"fp32", "fp16", "int8-dynamic", "int8-full"}
    for precision, artifact in by_precision.items():
        assert artifact.backend == "tflite"
        assert artifact.status in ("passed", "failed"), (precision, artifact.reason)
        assert Path(artifact.path).suffix == ".tflite"
        assert artifact.measurement is not None
    assert by_precision["fp32"].measurement.agreement == 1.0
    assert by_precision["fp16"].measurement.agreement >= 0.95
    # Quantized files are smaller than the float one (weights int8 or float16).
    fp32_size = by_precision["fp32"].size_bytes
    assert by_precision["fp16"].size_bytes < fp32_size
    assert by_precision["int8-dynamic"].size_bytes < fp32_size
    assert by_precision["int8-full"].size_bytes < fp32_size


def test_quantized_artifacts_stay_close_to_the_reference(built: dict) -> None:
    by_precision = {a.precision: a for a in built["result"].artifacts}
    assert by_precision["int8-dynamic"].measurement.agreement >= 0.9
    # A random-init model has near-tied logits, so int8 activations flip some; chance is 1/3.
    assert by_precision["int8-full"].measurement.agreement >= 0.75


def test_full_integer_uses_the_calibration_set_and_int8_weights(built: dict) -> None:
    from ai_edge_litert.interpreter import Interpreter

    artifact = next(a for a in built["result"].artifacts if a.precision == "int8-full")
    assert artifact.quantization["calibration_examples"] == 40  # every calibration example, nothing random
    dtypes = {np.dtype(t["dtype"]).name for t in Interpreter(model_path=artifact.path).get_tensor_details()}
    assert "int8" in dtypes


def test_static_shapes_are_batch_one_and_the_data_length(built: dict) -> None:
    from ai_edge_litert.interpreter import Interpreter

    for artifact in bucketed(built):  # every bucketed precision keeps every bucket's signature
        interpreter = Interpreter(model_path=artifact.path)
        assert set(interpreter.get_signature_list()) == {f"len_{e}" for e in EDGES}, artifact.precision
        for edge in EDGES:
            details = interpreter.get_signature_runner(f"len_{edge}").get_input_details()
            assert sorted(details) == ["args_0", "args_1", "args_2"]
            assert all(list(d["shape"]) == [1, edge] for d in details.values())
        assert artifact.built.input_names == NAMES and artifact.built.buckets == EDGES


def test_runner_maps_names_casts_int64_and_runs_batches_row_by_row(built: dict) -> None:
    from edgeconv.backends.tflite.runner import TFLiteRunner

    artifact = next(a for a in built["result"].artifacts if a.precision == "fp32")
    rng = np.random.default_rng(5)
    feeds = _feeds(rng, 3)
    import transformers

    model = transformers.BertForSequenceClassification.from_pretrained(built["folder"] / "model").eval()
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with TFLiteRunner(artifact.path, threads=1, input_names=names) as runner:
        # Feeds given in another order: the runner maps by name, not by position.
        out = runner.infer({k: feeds[k] for k in reversed(names)})
        facts = runner.describe()
    (logits,) = out.values()
    assert logits.shape == (3, CLASSES)
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert facts["threads"] == 1 and facts["runtime"] in ("ai-edge-litert", "tflite-runtime")


def test_report_json_lists_tflite_entries(built: dict) -> None:
    from edgeconv.report import write_reports

    out = Path(built["result"].out_dir)
    write_reports(built["result"], out)
    report = json.loads((out / "report.json").read_text())
    entries = [a for a in report["artifacts"] if a.get("backend") == "tflite"]
    assert {a["precision"] for a in entries} == {"fp32", "fp16", "int8-dynamic", "int8-full"}


def bucketed(built: dict) -> list:
    """The rows built with buckets: every precision but int8-full, which stays one padded signature."""
    rows = built["result"].artifacts
    full = next(a for a in rows if a.precision == "int8-full")
    assert full.built.buckets is None and "buckets" not in full.measurement.runtime
    assert full.timing.shapes["note"] == "static shape: padded"
    return [a for a in rows if a.precision != "int8-full"]


def test_the_runner_runs_each_example_in_the_smallest_bucket_that_holds_it(built: dict) -> None:
    from edgeconv.backends.tflite.runner import TFLiteRunner

    artifact = next(a for a in built["result"].artifacts if a.precision == "fp32")
    row = {k: v[:1] for k, v in _feeds(np.random.default_rng(3), 1).items()}
    with TFLiteRunner(artifact.path, threads=1, input_names=NAMES) as runner:
        assert runner.describe()["buckets"] == EDGES
        for length, edge in ((3, 8), (8, 8), (9, 16), (16, 16)):
            row["attention_mask"] = (np.arange(SEQ)[None, :] < length).astype(np.int64)
            (_, details, _), cut = runner._bucket(row)
            assert {tuple(v.shape) for v in cut.values()} == {(1, edge)}
            assert {tuple(d["shape"]) for d in details.values()} == {(1, edge)}


def test_verification_scores_every_example_through_the_buckets(built: dict) -> None:
    from edgeconv.backends.tflite.runner import TFLiteRunner

    with np.load(built["folder"] / "eval.npz") as data:
        feeds, labels = {k: data[k] for k in NAMES}, data["__labels__"]
    for artifact in bucketed(built):
        assert artifact.measurement.runtime["buckets"] == EDGES
        with TFLiteRunner(artifact.path, threads=1, input_names=NAMES) as runner:
            (logits,) = runner.infer(feeds).values()
        assert artifact.measurement.accuracy == pytest.approx(float(np.mean(logits.argmax(-1) == labels)))
        shapes = artifact.timing.shapes  # real lengths in their buckets ranked; the largest bucket as the worst case
        assert shapes["note"] == f"buckets {EDGES}" and shapes["ranked_on"] == "real" and "padded" in shapes


def test_the_bundles_run_py_check_replays_the_golden_set_through_the_buckets(built: dict, tmp_path: Path) -> None:
    import subprocess
    import sys
    import tarfile

    from edgeconv.bundle import make_bundle

    bundle = make_bundle(Path(built["result"].out_dir), "arm64-tflite", tmp_path, precisions=["int8-dynamic"])
    with tarfile.open(bundle, "r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    done = subprocess.run([sys.executable, str(tmp_path / "tiny-tflite-arm64-tflite" / "run.py"), "--check"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ok: "), done.stdout + done.stderr

