"""A precision says what executes: OpenVINO's fp32 artifact computes in fp32 on every CPU (OpenVINO's own default is
bf16 on AMX / AVX-512 BF16 CPUs), and bf16 is a precision of its own, built only where the CPU executes it.
Held on a real model nobody here made: Google's Magika classifier as the magika wheel ships it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeconv.cli import main

pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'edgeconv[openvino]')")
pytest.importorskip("magika", reason="the zoo's models ship in the zoo extra: pip install -e '.[zoo]'")

ROOT = Path(__file__).resolve().parents[3]
TARGETS = "targets=[{name: x86-cpu-ort, precisions: [fp32]}, {name: x86-cpu-openvino, precisions: [fp32, bf16]}]"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("magika") / "out"
    result = CliRunner().invoke(main, ["build", str(ROOT / "samples/zoo/magika-file-types/edgeconv.yaml"),
                                       "--out", str(out), "--set", TARGETS,
                                       "--set", "latency={warmup: 2, runs: 11, min_time_s: 0}"])
    assert result.exit_code in (0, 1), result.stdout + result.stderr  # bf16 may miss the accuracy budget
    return {**json.loads((out / "report.json").read_text()), "markdown": (out / "report.md").read_text(),
            "html": (out / "report.html").read_text()}


def row(report: dict, target: str, precision: str) -> dict:
    return next(a for a in report["artifacts"] if (a["target"], a["precision"]) == (target, precision))


def worst_snr(artifact: dict) -> float:
    return min(float("inf") if o.get("exact") else o["snr_db"] for o in artifact["outputs"].values())


def test_fp32_artifacts_compute_in_fp32(report: dict) -> None:
    openvino = row(report, "x86-cpu-openvino", "fp32")
    assert openvino["runtime"]["executes"] == "f32"  # what the compiled model reports, not what was asked
    assert openvino["runner"]["kwargs"]["inference_precision"] == "f32"
    assert worst_snr(openvino) >= 80  # bf16 arithmetic sits at ~10-15 dB on this model
    assert row(report, "x86-cpu-ort", "fp32")["max_abs_error"] <= 1e-5


def test_bf16_is_its_own_precision_where_the_cpu_executes_it(report: dict) -> None:
    from edgeconv.backends.openvino.backend import device_executes

    bf16 = row(report, "x86-cpu-openvino", "bf16")
    if not device_executes("CPU", "bf16"):
        assert bf16["status"] == "skipped" and "does not execute bf16 natively" in bf16["reason"]
        return
    assert bf16["status"] in ("passed", "failed"), bf16["reason"]  # built and verified, held to the budgets
    assert bf16["runtime"]["executes"] == "bf16" and "bf16" in bf16["quantization"]["method"]
    assert worst_snr(bf16) < worst_snr(row(report, "x86-cpu-openvino", "fp32"))  # it is not fp32 arithmetic


def test_the_report_says_which_precisions_this_cpu_executes_natively(report: dict) -> None:
    from edgeconv.machine import native_precisions

    assert report["machine"]["precisions"] == native_precisions()
    natively = [p for p, how in native_precisions().items() if how.startswith("native") and p != "fp32"]
    line = next(t for t in report["markdown"].splitlines() if "executes natively" in t)
    assert all(f", {p}" in line for p in natively) and "executes natively" in report["html"]
