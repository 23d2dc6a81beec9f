"""The zoo's LSTM: Resemblyzer's speaker encoder (TorchScript traced from the weights its wheel ships) built for
OpenVINO int8, where NNCF's plain int8 loses the embedding (SNR about 0 dB): the search must meet the fidelity
budgets, or its report must name what it kept float and why it still misses."""

from __future__ import annotations

import importlib.util
import json
import runpy
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeconv.cli import main

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "samples" / "zoo" / "resemblyzer-voice-encoder"
QUICK = ("--set", "latency={warmup: 2, runs: 11, min_time_s: 0}", "--set", "evaluation.count=16",
         "--set", "calibration.count=16", "--set", "quantize.fallback.sensitivity_examples=4")


@pytest.mark.skipif(importlib.util.find_spec("resemblyzer") is None,
                    reason="the zoo's speaker encoder ships in resemblyzer: pip install --no-deps resemblyzer")
def test_openvino_int8_of_the_lstm_encoder_meets_its_fidelity_budgets_or_names_what_it_kept_float(
        tmp_path: Path) -> None:
    pytest.importorskip("nncf", reason="NNCF is not installed (pip install 'edgeconv[openvino]')")
    model = runpy.run_path(str(FOLDER / "make_model.py"))["trace"](tmp_path / "voice-encoder.pt")
    result = CliRunner().invoke(main, [
        "build", str(FOLDER / "edgeconv.yaml"), "--out", str(tmp_path / "out"), *QUICK,
        "--set", f"model.path={model}", "--set", "targets=[{name: x86-cpu-openvino, precisions: [int8-static]}]"])
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    row = next(a for a in report["artifacts"] if a["precision"] == "int8-static")
    search = row["quantization"]["fallback"]
    plain, chosen = search["trials"][0], search["trials"][search["chosen_trial"]]
    assert not plain["passed"], "NNCF's plain int8 met the budgets: the search is not exercised"
    assert search["diagnosis"]["ops"][0]["op_type"] == "LSTMSequence"  # the diagnosis finds the recurrence
    kept_float = row["quantization"]["ignored_scope"]
    assert kept_float["types"] or kept_float["names"]
    if row["status"] == "passed":
        assert result.exit_code == 0 and chosen["passed"] and chosen["fidelity"]["snr_db"] >= 20
    else:  # a miss names what it kept float and why, and exits 1 (a missed budget)
        assert result.exit_code == 1 and all(r["why"] for r in search["remedies"])
