from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest

from edgeconv.backends.tensorrt.plan import make_plan
from edgeconv.backends.tensorrt.trtexec import display, parse_summary, run_trtexec, trtexec_argv
from edgeconv.errors import StageError
from edgeconv.spec.targets import get_profile

FIXTURES = Path(__file__).parent / "fixtures"
TEXT_INPUTS = [(n, ("batch", "sequence")) for n in ("input_ids", "attention_mask")]
STAT_KEYS = ("latency_ms", "gpu_compute_ms", "h2d_ms", "d2h_ms", "enqueue_ms")


def _plan(target: str, precision: str, tmp_path: Path):
    return make_plan(get_profile(target), precision, TEXT_INPUTS, sequence=64, opt_batch=1, cache_dir=tmp_path,
                     tensorrt_version="10.3.0", compute_capability="8.7")


def test_argv_for_gpu_fp16(tmp_path: Path) -> None:
    plan = _plan("gpu-trt", "fp16", tmp_path)
    argv = trtexec_argv(plan, Path("m.onnx"), Path("m.engine"))
    assert argv[:4] == ["trtexec", "--onnx=m.onnx", "--saveEngine=m.engine", "--fp16"]
    assert "--minShapes=input_ids:1x1,attention_mask:1x1" in argv
    assert "--optShapes=input_ids:1x64,attention_mask:1x64" in argv
    max_batch = get_profile("gpu-trt").tensorrt.max_batch  # type: ignore[union-attr]
    assert f"--maxShapes=input_ids:{max_batch}x64,attention_mask:{max_batch}x64" in argv
    assert f"--memPoolSize=workspace:{plan.workspace_bytes >> 20}M" in argv
    assert f"--timingCacheFile={plan.timing_cache}" in argv
    assert not any(a.startswith(("--useDLACore", "--sparsity", "--int8")) for a in argv)


@pytest.mark.parametrize(("precision", "flag"), [("int8-static", "--int8"), ("best", "--best")])
def test_argv_precisions(precision: str, flag: str, tmp_path: Path) -> None:
    argv = trtexec_argv(_plan("gpu-trt", precision, tmp_path), Path("m.onnx"), Path("m.engine"))
    assert flag in argv and "--fp16" not in argv


def test_argv_dla_and_sparsity(tmp_path: Path) -> None:
    profile = get_profile("jetson-agx-orin")
    assert profile.tensorrt is not None
    sparse = profile.model_copy(update={"tensorrt": profile.tensorrt.model_copy(update={"sparsity": True})})
    plan = make_plan(sparse, "int8-static", TEXT_INPUTS, sequence=64)
    argv = trtexec_argv(plan, Path("m.onnx"), Path("m.engine"), "/usr/src/tensorrt/bin/trtexec")
    assert argv[0] == "/usr/src/tensorrt/bin/trtexec"
    assert "--useDLACore=0" in argv and "--allowGPUFallback" in argv and "--sparsity=enable" in argv


def test_display_quotes_paths_with_spaces_and_quotes(tmp_path: Path) -> None:
    argv = trtexec_argv(_plan("gpu-trt", "fp16", tmp_path), Path("my models/it's.onnx"), Path("out dir/m.engine"))
    shown = display(argv)
    assert shlex.split(shown) == argv
    assert "'--onnx=my models/" in shown  # the space is inside quotes, not an argument break


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("trtexec_*.log")))
def test_parse_summary_fixtures(fixture: str) -> None:
    text = (FIXTURES / fixture).read_text()
    summary = parse_summary(text)
    assert summary["passed"] is True
    assert summary["tensorrt_version"].count(".") == 2
    assert summary["throughput_qps"] > 0
    for key in STAT_KEYS:
        stats = summary[key]
        pcts = sorted((k for k in stats if k.startswith("p")), key=lambda k: float(k[1:]))
        assert pcts, f"{key} has no percentile"
        chain = [stats["min"], stats["median"], *(stats[p] for p in pcts), stats["max"]]
        assert chain == sorted(chain), f"{key} out of order: {stats}"
    # "H2D Latency:" must not be read as "Latency:" (same suffix)
    assert summary["latency_ms"] != summary["h2d_ms"]
    latency_line = next(line for line in text.splitlines() if "] Latency: " in line or line.startswith("Latency: "))
    assert f"mean = {summary['latency_ms']['mean']:g} ms" in latency_line


def test_tensorrt10_fixture_has_three_percentiles() -> None:
    summary = parse_summary((FIXTURES / "trtexec_10_fp16.log").read_text())
    assert {"p90", "p95", "p99"} <= set(summary["latency_ms"])
    assert summary["tensorrt_version"].startswith("10.")
    # the device block: what an engine built on a board records as its GPU ("Selected Device ID" is not it)
    assert (summary["device_name"], summary["compute_capability"]) == ("NVIDIA H100 80GB HBM3", "9.0")


def test_parse_summary_refuses_output_without_a_summary() -> None:
    with pytest.raises(StageError, match="Performance summary"):
        parse_summary("&&&& RUNNING TensorRT.trtexec\n[E] Error[4]: failed\n&&&& FAILED TensorRT.trtexec\n")


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "trtexec"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_run_trtexec_keeps_the_log_and_reports_the_error_line(tmp_path: Path) -> None:
    fake = _script(tmp_path, 'echo "[E] [TRT] ModelImporter: unsupported op Det"\necho "&&&& FAILED TensorRT.trtexec"\n'
                             "exit 1\n")
    log = tmp_path / "trtexec.log"
    with pytest.raises(StageError, match="unsupported op Det"):
        run_trtexec([fake, "--onnx=x.onnx"], log)
    assert "FAILED" in log.read_text()


def test_run_trtexec_returns_output_that_parses(tmp_path: Path) -> None:
    fixture = FIXTURES / "trtexec_10_fp16.log"
    fake = _script(tmp_path, f"cat '{fixture}'\n")
    output = run_trtexec([fake], tmp_path / "trtexec.log")
    assert parse_summary(output)["throughput_qps"] > 0
