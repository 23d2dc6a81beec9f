"""Accuracy-aware fallback: a hypersensitive layer is found, kept in float, and the budget then holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from edgeconv.cli import main
from edgeconv.compress import quantize
from edgeconv.compress.sensitivity import rank_nodes
from edgeconv.data.feeds import FeedSet
from edgeconv.models.family import ModelFamily
from edgeconv.spec import DynamicQuantSpec, QuantizeSpec
from tests.conftest import make_tiny_onnx, tiny_logits


@pytest.fixture
def sensitive_project(tmp_path: Path) -> Path:
    model = tmp_path / "tiny.onnx"
    make_tiny_onnx(model, outlier=5000.0)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    x[:, 0] = 0.0  # the outlier weight's feature: the float model never uses it
    labels = tiny_logits(model, x).argmax(-1).astype(np.int64)
    np.savez(tmp_path / "eval.npz", x=x[:150], __labels__=labels[:150])
    np.savez(tmp_path / "calib.npz", x=x[150:])
    spec = {
        "name": "sensitive", "model": {"path": "tiny.onnx", "labels": ["a", "b", "c"]},
        "calibration": {"path": "calib.npz"}, "evaluation": {"path": "eval.npz"},
        "targets": [{"name": "x86-cpu-ort", "precisions": ["int8-dynamic"]}],
        "latency": {"warmup": 2, "runs": 20, "min_time_s": 0}, "budgets": {"accuracy_drop": 0.02},
    }
    (tmp_path / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path


def test_sensitivity_ranks_the_hypersensitive_layer_first(sensitive_project: Path, tmp_path: Path) -> None:
    graph = tmp_path / "float.onnx"
    fused = quantize.float_graph("int8-dynamic", sensitive_project / "tiny.onnx", graph, ModelFamily())
    quantize.make_int8_dynamic(graph, tmp_path / "q.onnx", fused, DynamicQuantSpec(per_channel=False))
    feeds = FeedSet.load(sensitive_project / "calib.npz")
    nodes = quantize.candidates("int8-dynamic", graph, QuantizeSpec())
    assert set(nodes) == {"fc1", "fc2"}
    ranking = rank_nodes(graph, tmp_path / "q.onnx", nodes, feeds)
    assert ranking[0].name == "fc1"
    assert ranking[0].score > 10 * max(ranking[1].score, 1e-6)


def test_a_node_whose_output_cannot_be_compared_still_ranks_last(sensitive_project: Path, tmp_path: Path) -> None:
    """A node fused away in the quantized graph (its output tensor gone) is still a unit the fallback can keep
    float: ranked last and marked unmeasured, so the fallback's ceiling keeps every candidate float."""
    import onnx

    graph = tmp_path / "float.onnx"
    fused = quantize.float_graph("int8-dynamic", sensitive_project / "tiny.onnx", graph, ModelFamily())
    quantize.make_int8_dynamic(graph, tmp_path / "q.onnx", fused, DynamicQuantSpec(per_channel=False))
    model = onnx.load(str(tmp_path / "q.onnx"))
    for node in model.graph.node:  # fc1's output renamed, as a fusion would: nothing of fc1 left to compare
        node.input[:] = ["fused_h0" if t == "h0" else t for t in node.input]
        node.output[:] = ["fused_h0" if t == "h0" else t for t in node.output]
    onnx.save(model, str(tmp_path / "fused.onnx"))
    ranking = rank_nodes(graph, tmp_path / "fused.onnx", ["fc1", "fc2"], FeedSet.load(sensitive_project / "calib.npz"))
    assert [(r.name, r.measured) for r in ranking] == [("fc2", True), ("fc1", False)]


def test_fallback_keeps_the_sensitive_layer_in_float_and_meets_the_budget(sensitive_project: Path) -> None:
    result = CliRunner().invoke(main, ["build", str(sensitive_project / "edgeconv.yaml")])
    report = json.loads((sensitive_project / "out" / "report.json").read_text())
    artifact = report["artifacts"][0]
    trials = artifact["quantization"]["fallback"]["trials"]
    assert trials[0]["float_nodes"] == [] and not trials[0]["passed"]
    assert trials[0]["accuracy"] < 0.9  # plain int8 collapses
    chosen = trials[artifact["quantization"]["fallback"]["chosen_trial"]]
    assert chosen["passed"] and chosen["float_nodes"] == ["fc1"]
    assert artifact["quantization"]["excluded_nodes"] == ["fc1"]
    assert artifact["accuracy_delta"] >= -0.02 and artifact["status"] == "passed"
    assert result.exit_code == 0
    markdown = (sensitive_project / "out" / "report.md").read_text()
    assert "fallback" in markdown and "fc1" in markdown
    # off a terminal, each trial and the ranking are a line of progress on stderr
    progress = [line.strip() for line in result.stderr.splitlines()]
    assert any(line.startswith("quantize-and-evaluate trial 1/≤10: 0 kept float") and "misses a budget" in line
               and "ETA ≤" in line for line in progress), result.stderr
    assert any(line.startswith("sensitivity ranking: example 32/32") for line in progress), result.stderr
    assert any(line.startswith("quantize-and-evaluate trial 2/≤10: 1 kept float") and "meets the budgets" in line
               for line in progress), result.stderr


def test_without_fallback_the_budget_fails(sensitive_project: Path) -> None:
    result = CliRunner().invoke(main, ["build", str(sensitive_project / "edgeconv.yaml"), "--json",
                                       "--set", "quantize.fallback.enabled=false"])
    assert result.exit_code == 1
    assert "trial" not in result.stderr and "✓" not in result.stderr  # --json: no progress drawn
    report = json.loads((sensitive_project / "out" / "report.json").read_text())
    assert report["artifacts"][0]["status"] == "failed"
    assert len(report["artifacts"][0]["quantization"]["fallback"]["trials"]) == 1
