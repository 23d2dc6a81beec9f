"""A pruned build prunes every runtime's artifact: ONNX Runtime, OpenVINO and LiteRT (which converts the torch
model, not the ONNX) are all built from the pruned model, for ``prune.auto`` levels and a plain ``prune:``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.compress.test_prune_build import tiny_bert_project

pytest.importorskip("torch_pruning", reason="Torch-Pruning is not installed (pip install edgeconv[prune])")
pytest.importorskip("litert_torch", reason="litert-torch is not installed (pip install edgeconv[tflite])")
pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install edgeconv[openvino])")

TARGETS = ("x86-cpu-ort", "x86-cpu-openvino", "x86-cpu-tflite")


def _build(spec: Path, prune: dict, out: str) -> dict:
    from click.testing import CliRunner

    from edgeconv.cli import main

    data = yaml.safe_load(spec.read_text())
    data.update(prune=prune, output=out, budgets={"accuracy_drop": 1.0},
                targets=[{"name": name, "precisions": ["fp32"]} for name in TARGETS])
    spec.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["build", str(spec)])
    assert result.exit_code in (0, 1), result.output
    return json.loads((spec.parent / out / "report.json").read_text())


def test_every_runtime_builds_the_pruned_model_and_says_how_many_weights_it_has(tmp_path: Path) -> None:
    spec = tiny_bert_project(tmp_path, {})
    level = {"mode": "structured", "ratio": 0.5}
    report = _build(spec, {**level, "auto": True}, "out-auto")
    rows = {a["target"]: a for a in report["artifacts"]}
    assert set(rows) == {*TARGETS, *(f"{t}@prune-r0.5" for t in TARGETS)}
    assert all(a["status"] in ("passed", "failed") for a in rows.values()), [a["reason"] for a in rows.values()]
    facts = rows["x86-cpu-ort@prune-r0.5"]["prune"]
    before, after = facts["params_before"], facts["params_after"]
    assert after < before
    # counted on what each runtime was handed: the ONNX for ORT/OpenVINO, the torch module for LiteRT
    assert report["reference"]["parameters"] == before
    for target in TARGETS:
        assert rows[target]["parameters"] == before and "prune" not in rows[target]
        assert rows[f"{target}@prune-r0.5"]["parameters"] == after
        assert rows[f"{target}@prune-r0.5"]["prune"]["size_bytes"] == rows[f"{target}@prune-r0.5"]["size_bytes"]
    unpruned, pruned = rows["x86-cpu-tflite"], rows["x86-cpu-tflite@prune-r0.5"]
    assert pruned["size_bytes"] < unpruned["size_bytes"]
    assert pruned["sha256"] != unpruned["sha256"]
    markdown = (tmp_path / "out-auto" / "report.md").read_text()
    assert f"| x86-cpu-tflite@prune-r0.5/fp32 | {after:,} |" in markdown

    # A plain `prune:` of the same level: its stages are the level's (cached), every row is the pruned model.
    plain = _build(spec, level, "out-plain")
    assert {a["target"]: (a["parameters"], a["sha256"]) for a in plain["artifacts"]} == {
        t: (after, rows[f"{t}@prune-r0.5"]["sha256"]) for t in TARGETS}
