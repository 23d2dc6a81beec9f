"""`edgeconv prune --sweep`: one verified artifact set per ratio, the table in report.md, the Pareto rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeconv.api.sweep import SweepRow, mark_pareto
from tests.compress.test_prune_build import tiny_bert_project

pytest.importorskip("torch_pruning", reason="Torch-Pruning is not installed (pip install edgeconv[prune])")


def row(ratio: float, accuracy: float, p50: float, size: int) -> SweepRow:
    return SweepRow(ratio, "fp32", "passed", accuracy=accuracy, p50_ms=p50, size_bytes=size)


def test_pareto_rows_are_the_ones_nothing_beats_on_all_three() -> None:
    rows = mark_pareto([
        row(0.0, 0.91, 4.0, 100),  # most accurate
        row(0.3, 0.90, 3.0, 80),  # a trade-off
        row(0.5, 0.89, 3.5, 90),  # beaten by 0.3 on all three
        row(0.7, 0.80, 2.0, 60),  # fastest and smallest
        SweepRow(0.9, "fp32", "error"),  # not measured: never Pareto
    ])
    assert [r.pareto for r in rows] == [True, True, False, True, False]


@pytest.mark.slow
def test_sweep_builds_each_ratio_and_writes_the_table(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edgeconv.cli import Group
    from edgeconv.cli.prune import prune_command

    spec = tiny_bert_project(tmp_path, {"mode": "structured", "ratio": 0.3, "drop_blocks": 1})
    group = Group(commands={"prune": prune_command})
    result = CliRunner().invoke(group, ["prune", str(spec), "--sweep", "0.3,0.6", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output.strip().splitlines()[-1])
    assert [(r["ratio"], r["precision"]) for r in rows] == [
        (ratio, precision) for ratio in (0.0, 0.3, 0.6) for precision in ("fp32", "int8-dynamic")]
    assert all(r["status"] in ("passed", "failed") for r in rows)  # every row measured
    params = {r["ratio"]: r["params"] for r in rows if r["precision"] == "fp32"}
    assert params[0.6] < params[0.3] < params[0.0]  # a higher ratio really removes more
    size = {r["ratio"]: r["size_bytes"] for r in rows if r["precision"] == "fp32"}
    assert size[0.6] < size[0.3] < size[0.0]
    assert any(r["pareto"] for r in rows)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Pruning sweep" in report and "removes 1 whole block(s)" in report
    assert report.count("| 0.3 |") == 2 and report.count("| 0.6 |") == 2
