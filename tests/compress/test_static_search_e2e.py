"""The int8 search on a fine-tuned model nobody tuned it on: samples/tweet-sentiment-3class (MiniLM-L6 + LoRA,
3 classes, length 128). Plain static int8 misses min_agreement 0.97; the build localises the error, applies
remedies, and ends with int8-static within accuracy_drop 0.01 / min_agreement 0.97 without a node in float
(how much faster than fp32 it runs is measured in bench/static_int8.py, not asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeconv.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "samples" / "tweet-sentiment-3class" / "edgeconv.yaml"
QUICK = ("--set", "latency={warmup: 2, runs: 11, min_time_s: 0}")  # latency is not what this test judges


@pytest.mark.slow
def test_static_int8_of_a_three_class_transformer_meets_its_budgets_through_remedies(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(SPEC), "--out", str(out), *QUICK, "--set",
                                       "targets=[{name: x86-cpu-ort, precisions: [int8-static]}]"])
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    static = report["artifacts"][0]
    assert static["status"] == "passed" and static["accuracy_delta"] >= -0.01 and static["agreement"] >= 0.97
    search = static["quantization"]["fallback"]
    plain, chosen = search["trials"][0], search["trials"][search["chosen_trial"]]
    assert not plain["passed"] and plain["agreement"] < 0.97  # the loss the search had to find
    assert len(search["trials"]) <= 10 and chosen["remedies"] and not chosen["float_nodes"]
    # the stopping rule (timings decide which trial, never whether this test passes): the kept trial is not
    # slower than the fp32 reference it was timed beside, unless every passing trial was
    passing = [t for t in search["trials"] if t["passed"]]
    assert chosen["p50_ms"] <= chosen["reference_p50_ms"] or all(t["p50_ms"] > t["reference_p50_ms"] for t in passing)
    worst = search["diagnosis"]["activations"][0]
    assert worst["kind"] == "into a residual Add" and worst["outlier_channels"]  # BERT's outlier dims
    markdown = (out / "report.md").read_text()
    assert worst["name"] in markdown and "where the int8 error enters" in markdown
    assert f"remedy `{chosen['remedies'][-1]}`" in markdown and "meets the budgets" in markdown
