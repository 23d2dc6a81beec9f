"""Basic Pitch (tf2onnx, three outputs): ONNX Runtime refuses its plain static int8 candidate, and the search
localises the refusal and goes on to a candidate that loads and is verified (compress/refusal.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.zoo.test_zoo import build, ort_only

REFUSED = "model_1/cq_t2010v2_1/conv1d_25;model_1/cq_t2010v2_1/conv1d_252__306"


def test_a_refused_int8_candidate_is_localised_and_the_remedied_one_is_verified(tmp_path: Path) -> None:
    pytest.importorskip("basic_pitch", reason="basic-pitch's dependencies pin tensorflow<2.15.1 (numpy<2): "
                        "pip install --no-deps basic-pitch")
    # The plain recipe (the spec keeps the constant-Q front end float, which also avoids the refusal), two trials:
    # the refused one and its remedy. Whether they reach the budgets is not asked here (the rest of the search is
    # tests/compress's and bench/zoo.py's), only that the candidate loads and is verified.
    built = build("basic-pitch", tmp_path / "out", *ort_only("int8-static"),
                  "--set", "quantize.static.op_types=null", "--set", "quantize.static.exclude_nodes=[]",
                  "--set", "quantize.fallback.max_trials=2", "--set", "evaluation.count=4",
                  "--set", "calibration.count=4")
    assert built.code in (0, 1), built.stdout + built.stderr  # 1: a missed budget; never 4, a failed stage
    static = built.artifact("int8-static")
    assert static["status"] in ("passed", "failed"), static["reason"]  # verified, not "error"
    outputs = static["outputs"]
    assert set(outputs) == {"StatefulPartitionedCall:0", "StatefulPartitionedCall:1", "StatefulPartitionedCall:2"}
    assert all(0 < figures["cosine"] <= 1 for figures in outputs.values())
    search = static["quantization"]["fallback"]
    (refused,) = search["refusals"]
    assert (refused["node"], refused["op"], refused["trial"]) == (REFUSED, "Transpose", 0)
    assert refused["remedy"] == "unshare-initializers" and "input shape = {36}" in refused["reason"]
    assert search["chosen_trial"] == 1 and search["trials"][1]["remedies"] == ["unshare-initializers"]
    assert "unshare-initializers" in " ".join(static["quantization"]["notes"])
    assert f"refused by the runtime at Transpose node `{REFUSED}`" in (built.out / "report.md").read_text()
