"""``prune.auto``: the unpruned artifacts and every pruned level built side by side, timed in one pass, and
``precision: auto`` choosing across them; the levels a spec asks for, and refused ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from edgeconv.spec import PruneSpec
from tests.compress.test_prune_build import tiny_bert_project


def test_levels_are_the_set_level_then_each_combination_it_adds() -> None:
    prune = PruneSpec.model_validate({"mode": "structured", "drop_blocks": 2, "ratio": 0.35,
                                      "auto": {"drop_blocks": [0, 2], "ratios": [0.2, 0.35]}})
    assert [(lv.drop_blocks, lv.ratio) for lv in prune.levels()] == [(2, 0.35), (0, 0.2), (0, 0.35), (2, 0.2)]
    assert all(lv.auto is None for lv in prune.levels())
    only = PruneSpec.model_validate({"mode": "unstructured", "ratio": 0.3, "auto": True})
    assert [(lv.mode, lv.ratio) for lv in only.levels()] == [("unstructured", 0.3)]
    with pytest.raises(ValidationError, match=r"prune\.auto level is not valid"):
        PruneSpec.model_validate({"mode": "2:4", "auto": {"ratios": [0.3]}})
    with pytest.raises(ValidationError, match="strictly between 0 and 1"):
        PruneSpec.model_validate({"mode": "structured", "ratio": 0.3, "auto": {"ratios": [1.5]}})


pytest.importorskip("torch_pruning", reason="Torch-Pruning is not installed (pip install edgeconv[prune])")


@pytest.mark.slow
def test_auto_chooses_across_the_unpruned_model_and_each_pruned_level(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edgeconv.cli import main

    prune = {"mode": "structured", "ratio": 0.5, "auto": {"drop_blocks": [0, 1]},
             "recover": {"train": {"path": "train.jsonl"}, "max_steps": 4, "batch_size": 8}}
    spec = tiny_bert_project(tmp_path, prune)
    data = yaml.safe_load(spec.read_text())
    data["targets"] = [{"name": "x86-cpu-ort", "precisions": ["auto"]}]
    data["budgets"] = {"accuracy_drop": 1.0}  # any level may win: the test is about the candidates, not a model
    spec.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["build", str(spec)])
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    targets = {a["target"] for a in report["artifacts"]}
    assert targets == {"x86-cpu-ort", "x86-cpu-ort@prune-r0.5", "x86-cpu-ort@prune-b1-r0.5"}
    for artifact in report["artifacts"]:
        assert artifact["status"] in ("passed", "failed"), artifact["reason"]
        # one interleaved pass: the reference and every row, pruned or not
        assert artifact["timing"]["interleaved"]["rows"] == 1 + len(report["artifacts"])
        assert ("prune" in artifact) == ("@prune-" in artifact["target"])  # unpruned rows are the unpruned model
    sizes = {a["target"]: a["size_bytes"] for a in report["artifacts"] if a["precision"] == "fp32"}
    assert sizes["x86-cpu-ort@prune-b1-r0.5"] < sizes["x86-cpu-ort@prune-r0.5"] < sizes["x86-cpu-ort"]
    (choice,) = report["selections"]
    assert choice["target"] in targets and choice["precision"] is not None
    assert [c["prune"] for c in choice["prune_candidates"]] == ["prune-r0.5", "prune-b1-r0.5"]
    assert all(c["build_s"] > 0 and c["rows"] >= 2 for c in choice["prune_candidates"])
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "Pruned candidates (`prune.auto`)" in markdown and "`prune-b1-r0.5`" in markdown
