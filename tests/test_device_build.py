"""`edgeconv build --device CLASS`: every profile of the class this machine can build, every precision, one
choice across runtimes; near-ties broken toward the smaller, more faithful artifact; bad classes are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeconv.choose import choose_for_device
from edgeconv.cli import main
from edgeconv.results import FAILED, PASSED, ArtifactResult, Measurement
from tests.conftest import write_spec


def row(target: str, precision: str, timings: list[float], size_mb: float, agreement: float = 1.0,
        speedup: float | None = None, status: str = PASSED) -> ArtifactResult:
    """A measured row; its speed-up over a 20 ms reference unless given (a row of a merged shard's pass)."""
    p50 = sorted(timings)[len(timings) // 2]
    speedup = 20.0 / p50 if speedup is None else speedup
    latency = {"p50": p50, "p90": max(timings), "p99": max(timings), "mean": p50, "std": 0.0, "runs": len(timings)}
    m = Measurement(0.9, 0.9, {}, agreement, 0.0, latency, timings, 10.0, 0.1, {})
    return ArtifactResult(target, "onnxruntime", precision, size_bytes=int(size_mb * 1e6), status=status,
                          measurement=m, speedup_vs_reference=speedup)


def test_a_near_tie_goes_to_the_smaller_artifact_and_a_clear_win_to_the_faster() -> None:
    noisy = [9.0, 11.0] * 20  # median 10-11 ms, wide spread: a notch of ~0.5 ms
    big_fast = row("x86-cpu-ort", "int8-dynamic", [t - 0.2 for t in noisy], size_mb=23)
    small = row("x86-cpu-tflite", "int8-full", noisy, size_mb=6)
    slow_failed = row("x86-cpu-ort", "int8-static", [5.0] * 40, size_mb=23, status=FAILED)
    slower_than_fp32 = row("x86-cpu-tflite", "fp16", [4.0] * 40, size_mb=45, speedup=0.9)
    choice = choose_for_device("x86-64", [big_fast, small, slow_failed, slower_than_fp32])
    assert (choice["target"], choice["precision"]) == ("x86-cpu-tflite", "int8-full")
    why = {r["artifact"]: r["why"] for r in choice["ranking"]}
    assert why["x86-cpu-ort/int8-static"] == "missed a budget"
    assert why["x86-cpu-tflite/fp16"] == "slower than the fp32 reference"
    assert why["x86-cpu-ort/int8-dynamic"] == "as fast within noise, but larger or less faithful"
    steady = [10.0] * 40  # no spread: 0.2 ms is a real difference
    clear = choose_for_device("x86-64", [row("a", "int8-dynamic", [9.8] * 40, size_mb=23),
                                         row("b", "int8-full", steady, size_mb=6)])
    assert clear["target"] == "a" and [r["why"] for r in clear["ranking"]] == ["chosen", "slower"]


def test_bad_device_classes_are_one_line(tiny_project: Path) -> None:
    spec = str(tiny_project / "edgeconv.yaml")
    unknown = CliRunner().invoke(main, ["build", spec, "--device", "x86"])
    assert unknown.exit_code == 2 and "unknown device class 'x86' (did you mean 'x86-64'?)" in unknown.stderr
    both = CliRunner().invoke(main, ["build", spec, "--device", "x86-64", "--target", "x86-cpu-ort"])
    assert both.exit_code == 2 and "--device and --target" in both.stderr
    pytest.importorskip("onnxruntime")
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    gpu = CliRunner().invoke(main, ["build", spec, "--device", "nvidia-gpu"])
    assert gpu.exit_code == 3 and "no runtime for device class 'nvidia-gpu' is installed here" in gpu.stderr
    for result in (unknown, both, gpu):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_device_target_in_the_spec_is_one_class_alone() -> None:
    from pydantic import ValidationError

    from edgeconv.api.device_class import device_targets
    from edgeconv.spec import Spec, TargetRef

    with pytest.raises(ValidationError, match=r"one profile .* or one device class"):
        TargetRef(name="x86-cpu-ort", device="x86-64")
    base = {"model": {"path": "m.onnx"}, "evaluation": {"path": "e.npz"}}
    with pytest.raises(ValidationError, match="make it the only entry of targets"):
        Spec.model_validate({**base, "targets": [{"device": "x86-64"}, "x86-cpu-tflite"]})
    assert Spec.model_validate({**base, "targets": [{"device": "x86-64"}]}).device_class == "x86-64"
    refs, _ = device_targets("x86-64", calibrated=False, wanted=["fp32", "int8-dynamic"])
    assert {r.name for r in refs} >= {"x86-cpu-ort"}
    assert all(set(r.precisions or []) <= {"fp32", "int8-dynamic"} for r in refs)


def test_a_device_build_ranks_every_runtime_and_picks_one(tiny_project: Path) -> None:
    """The spec form, ``targets: [{device: x86-64, precisions: [auto]}]``: the same build as ``--device x86-64``."""
    pytest.importorskip("litert_torch", reason="the TFLite extra is not installed (pip install 'edgeconv[tflite]')")
    write_spec(tiny_project, targets=[{"device": "x86-64", "precisions": ["auto"]}])
    result = CliRunner().invoke(main, ["build", str(tiny_project / "edgeconv.yaml")])
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    report = json.loads((tiny_project / "out" / "report.json").read_text())
    built = {(a["target"], a["precision"]) for a in report["artifacts"]}
    assert {("x86-cpu-ort", "int8-static"), ("x86-cpu-tflite", "int8-full"), ("x86-cpu-tflite", "fp32")} <= built
    import importlib.util

    if importlib.util.find_spec("openvino") and importlib.util.find_spec("nncf"):
        assert {("x86-cpu-openvino", "int8-static"), ("x86-cpu-openvino", "int8-weights")} <= built
    (choice,) = report["selections"]
    measured = [a for a in report["artifacts"] if a["latency_ms"]]  # bf16 is a skipped row on a CPU without it
    assert choice["device"] == "x86-64" and len(choice["ranking"]) == len(measured)
    assert [r["speedup"] for r in choice["ranking"]] == sorted((r["speedup"] for r in choice["ranking"]), reverse=True)
    assert all(r["speedup_interval"][0] <= r["speedup"] <= r["speedup_interval"][1] for r in choice["ranking"])
    if choice["precision"]:
        chosen = next(a for a in report["artifacts"]
                      if (a["target"], a["precision"]) == (choice["target"], choice["precision"]))
        assert chosen["status"] == "passed"
    markdown = (tiny_project / "out" / "report.md").read_text()
    assert "Artifacts for device class `x86-64`, fastest first" in markdown
