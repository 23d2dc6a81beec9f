"""The README's build: the bundled sample, end to end on ONNX Runtime (slow: ~2 minutes on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_sample_build_passes_its_budgets(sample_build: tuple[int, Path]) -> None:
    code, out = sample_build
    report = json.loads((out / "report.json").read_text())
    assert code == 0, [(a["precision"], a["status"], a["reason"], a["budgets"]) for a in report["artifacts"]]
    assert report["passed"] is True


def test_sample_int8_artifacts_keep_accuracy(sample_build: tuple[int, Path]) -> None:
    _, out = sample_build
    report = json.loads((out / "report.json").read_text())
    reference = report["reference"]
    assert reference["accuracy"] > 0.85  # the majority class of the evaluation set is 0.692
    int8 = [a for a in report["artifacts"] if a["precision"].startswith("int8")]
    assert {a["precision"] for a in int8} == {"int8-dynamic", "int8-static"}
    for artifact in int8:
        assert artifact["accuracy_delta"] >= -0.01
        assert artifact["agreement"] >= 0.97
        assert artifact["size_bytes"] < reference["size_bytes"]


def test_sample_report_contract(sample_build: tuple[int, Path]) -> None:
    _, out = sample_build
    report = json.loads((out / "report.json").read_text())
    for name in ("report.md", "report.html", "junit.xml", "manifest.json", "device/tokenizer.json"):
        assert (out / name).is_file(), name
    required = {"target", "backend", "precision", "path", "sha256", "size_bytes", "accuracy", "accuracy_delta",
                "agreement", "latency_ms", "speedup_vs_reference", "peak_memory_mb", "budgets", "status"}
    for artifact in [report["reference"], *report["artifacts"]]:
        assert required <= set(artifact)
        assert set(artifact["latency_ms"]) >= {"p50", "p90", "p99", "mean"}
        assert Path(artifact["path"]).is_file()
    assert report["export"]["parity"]["top1_agreement"] == 1.0
    fp32 = next(a for a in report["artifacts"] if a["precision"] == "fp32")
    timing = fp32["quantization"]["fusion_timing"]  # ORT fusions kept only when measured faster here
    assert fp32["quantization"].get("fused", False) == (timing["fused_p50_ms"] < timing["plain_p50_ms"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["versions"]["onnxruntime"] and manifest["evaluation"]["sha256"]
    assert manifest["calibration"]["examples"] == 300
