"""Prune -> (distil) -> export -> quantize through `api.build` on a tiny BERT with a real tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.compress.tiny_models import make_tiny_bert, sentences, write_jsonl

pytest.importorskip("torch_pruning", reason="Torch-Pruning is not installed (pip install edgeconv[prune])")


def tiny_bert_project(folder: Path, prune: dict) -> Path:
    make_tiny_bert(folder / "model")
    write_jsonl(folder / "train.jsonl", sentences(96, seed=1))
    write_jsonl(folder / "eval.jsonl", sentences(48, seed=2))
    write_jsonl(folder / "calib.jsonl", sentences(16, seed=3))
    spec = {
        "name": "tiny-bert", "model": {"path": "model", "text": {"max_length": 12}},
        "calibration": {"path": "calib.jsonl"}, "evaluation": {"path": "eval.jsonl"},
        "targets": [{"name": "x86-cpu-ort", "precisions": ["fp32", "int8-dynamic"]}],
        "latency": {"warmup": 1, "runs": 11, "min_time_s": 0}, "prune": prune, "output": "out",
    }
    path = folder / "edgeconv.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "blocks"), [("structured", 0), ("structured", 1), ("unstructured", 0), ("2:4", 0)])
def test_build_prunes_exports_and_verifies(tmp_path: Path, mode: str, blocks: int) -> None:
    from edgeconv.api import pipeline as api
    from edgeconv.report import write_reports
    from edgeconv.spec import load_spec

    prune = {"mode": mode, "drop_blocks": blocks} | ({} if mode == "2:4" else {"ratio": 0.5})
    prune["recover"] = {"train": {"path": "train.jsonl"}, "max_steps": 4, "batch_size": 8}
    spec = load_spec(tiny_bert_project(tmp_path, prune))
    result = api.build(spec)
    report = result.to_dict()
    assert report["reference"]["size_bytes"] == (tmp_path / "out/export/model.onnx").stat().st_size
    assert {a["precision"] for a in report["artifacts"]} == {"fp32", "int8-dynamic"}
    for artifact in report["artifacts"]:
        assert artifact["status"] in ("passed", "failed"), artifact["reason"]  # measured, not errored
        facts = artifact["prune"]
        assert facts["mode"] == mode and facts["recover"]["steps"] == 4
        assert facts["size_gzip_bytes"] < facts["size_bytes"]
    fp32 = next(a for a in report["artifacts"] if a["precision"] == "fp32")
    if mode == "structured":
        assert fp32["prune"]["params_after"] < fp32["prune"]["params_before"]
        assert fp32["size_bytes"] < report["reference"]["size_bytes"]
        assert fp32["prune"].get("blocks_after") == (1 if blocks else None)  # 2 blocks in the tiny BERT
        markdown = write_reports(result, tmp_path / "out")["markdown"].read_text()
        assert ("Blocks of `bert.encoder.layer`: 2 → 1" in markdown) == bool(blocks)
    else:
        assert fp32["prune"]["params_after"] == fp32["prune"]["params_before"]
        assert fp32["prune"]["sparsity"] >= 0.5 - 1e-6
        assert fp32["prune"]["size_gzip_bytes"] < fp32["prune"]["reference_size_gzip_bytes"]
    if mode == "2:4":
        for artifact in report["artifacts"]:
            pattern = artifact["prune"]["pattern_2_4"]
            assert pattern["weights_checked"] > 0 and pattern["without_pattern"] == [], artifact["precision"]
    json.dumps(report)  # report.json stays serialisable
