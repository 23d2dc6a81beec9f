"""The issue's build: the bundled sample on the arm64-tflite target, run in LiteRT (slow: minutes on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("litert_torch", reason="the TFLite extra is not installed (pip install 'edgeconv[tflite]')")


@pytest.fixture(scope="module")
def report(sample_tflite_build: Path) -> dict:
    return json.loads((sample_tflite_build / "report.json").read_text())


def test_every_tflite_precision_is_built_and_verified(report: dict) -> None:
    entries = {a["precision"]: a for a in report["artifacts"]}
    assert set(entries) == {"fp32", "fp16", "int8-dynamic", "int8-full"}
    for artifact in entries.values():
        assert artifact["backend"] == "tflite"
        assert artifact["status"] in ("passed", "failed"), artifact["reason"]
        assert Path(artifact["path"]).suffix == ".tflite"


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8-dynamic", "int8-full"])
def test_every_precision_agrees_with_the_reference(report: dict, precision: str) -> None:
    artifact = next(a for a in report["artifacts"] if a["precision"] == precision)
    assert artifact["agreement"] >= 0.98
    assert artifact["accuracy_delta"] >= -0.01


def test_full_integer_is_small(report: dict) -> None:
    entries = {a["precision"]: a for a in report["artifacts"]}
    assert entries["int8-full"]["size_bytes"] <= 0.3 * entries["fp32"]["size_bytes"]


def test_full_integer_says_which_groups_kept_float_activations(report: dict) -> None:
    quantization = next(a for a in report["artifacts"] if a["precision"] == "int8-full")["quantization"]
    fallback = quantization["fallback"]
    chosen = fallback["trials"][fallback["chosen_trial"]]
    assert fallback["met_budgets"] and chosen["passed"]
    assert quantization["float_activation_groups"] == chosen["float_nodes"]
    assert quantization["integer_only"] == (not chosen["float_nodes"])
    assert 0 <= quantization["float_activation_ops"] < quantization["quantized_ops"]
