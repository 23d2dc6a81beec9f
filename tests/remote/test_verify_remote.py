"""End to end against a real OpenSSH server on 127.0.0.1: this machine is the device."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeconv.remote import verify_remote
from edgeconv.results import RunnerSpec
from edgeconv.spec import LatencySpec
from edgeconv.spec.device import DeviceConfig
from edgeconv.spec.targets import get_profile
from edgeconv.verify.measure import run_worker, score
from tests.conftest import make_tiny_onnx, tiny_logits
from tests.remote import samples

ORT = "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner"
LATENCY = LatencySpec(warmup=1, runs=15, min_time_s=0)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    model = tmp_path / "tiny.onnx"
    make_tiny_onnx(model)
    x = np.random.default_rng(3).normal(size=(40, 8)).astype(np.float32)
    labels = tiny_logits(model, x).argmax(-1)
    labels[:5] = (labels[:5] + 1) % 3
    np.savez(tmp_path / "eval.npz", x=x, __labels__=labels.astype(np.int64))
    return model, tmp_path / "eval.npz", labels


def remote(device: DeviceConfig, model: Path, feeds: Path, folder: Path, profile: str = "x86-cpu-ort") -> dict:
    return verify_remote(get_profile(profile), RunnerSpec(ORT, {"path": str(model), "threads": 1}), model, feeds,
                         LATENCY, folder, device=device)


def test_remote_run_gives_the_same_outputs_accuracy_and_agreement_as_local(
    device: DeviceConfig, tiny: tuple[Path, Path, np.ndarray], tmp_path: Path,
) -> None:
    model, feeds, labels = tiny
    local = run_worker(RunnerSpec(ORT, {"path": str(model), "threads": 1}), feeds, LATENCY, tmp_path / "local", "t")
    result = remote(device, model, feeds, tmp_path / "remote")
    local_out, remote_out = np.load(tmp_path / "local" / "outputs.npy"), np.load(tmp_path / "remote" / "outputs.npy")
    np.testing.assert_array_equal(remote_out, local_out)
    reference = tiny_logits(model, np.load(feeds)["x"])
    mine, theirs = (score(r, o, labels, ["a", "b", "c"], reference)
                    for r, o in ((local, local_out), (result, remote_out)))
    assert theirs.accuracy == mine.accuracy == pytest.approx(35 / 40)
    assert theirs.agreement == mine.agreement == 1.0
    assert len(result["timings_s"]) >= LATENCY.runs and result["runtime"]["runtime"] == "onnxruntime"
    assert json.loads((tmp_path / "remote" / "result.json").read_text())["examples"] == 40
    facts = result["device"]
    assert facts["arch"] == os.uname().machine and facts["modules"]["onnxruntime"] and facts["l4t"] is None
    assert facts["disk_free_bytes"] > 0 and facts["complete"]
    assert "pkg/edgeconv/verify/worker.py" in result["remote"]["pushed"]
    workdir = Path(device.workdir)
    assert list((workdir / "runs").iterdir()) == []  # the run folder is cleaned up
    assert len(list((workdir / "cache").iterdir())) >= 5  # the content cache stays for the next run


def test_files_already_on_the_device_are_not_pushed_again(
    device: DeviceConfig, tiny: tuple[Path, Path, np.ndarray], tmp_path: Path,
) -> None:
    model, feeds, _ = tiny
    first = remote(device, model, feeds, tmp_path / "a")
    second = remote(device, model, feeds, tmp_path / "b")
    assert first["remote"]["skipped"] == [] and second["remote"]["pushed"] == []
    assert sorted(second["remote"]["skipped"]) == sorted(first["remote"]["pushed"])
    other = tmp_path / "other" / "tiny.onnx"
    other.parent.mkdir()
    make_tiny_onnx(other, seed=7)
    third = remote(device, other, feeds, tmp_path / "c")
    assert third["remote"]["pushed"] == ["artifact/tiny.onnx"]
    np.testing.assert_allclose(np.load(tmp_path / "c" / "outputs.npy"), tiny_logits(other, np.load(feeds)["x"]),
                               rtol=1e-6)


def test_a_partly_uploaded_cache_file_is_replaced(
    device: DeviceConfig, tiny: tuple[Path, Path, np.ndarray], tmp_path: Path,
) -> None:
    model, feeds, _ = tiny
    remote(device, model, feeds, tmp_path / "a")
    from edgeconv.fsutil import sha256_file

    cached = Path(device.workdir) / "cache" / sha256_file(model)
    cached.write_bytes(cached.read_bytes()[:100])  # a truncated copy under the right name
    again = remote(device, model, feeds, tmp_path / "b")
    assert again["remote"]["pushed"] == ["artifact/tiny.onnx"]
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "outputs.npy"), np.load(tmp_path / "a" / "outputs.npy"))


def test_tegrastats_is_sampled_during_the_run_and_stopped_after(
    device: DeviceConfig, tiny: tuple[Path, Path, np.ndarray], tmp_path: Path,
) -> None:
    """No Jetson here: a stand-in `tegrastats` replays real Orin Nano lines with the real tool's options."""
    import psutil

    model, feeds, _ = tiny
    fake = tmp_path / "bin" / "tegrastats"
    fake.parent.mkdir()
    lines = tmp_path / "bin" / "lines.txt"
    lines.write_text("\n".join(samples.TEGRASTATS_ORIN_NANO) + "\n")
    fake.write_text(f'#!/bin/sh\n# tegrastats --interval MS --logfile FILE\nwhile true; do cat "{lines}" >> "$4"; '
                    "sleep 0.1; done\n")
    fake.chmod(0o755)
    config = device.model_copy(update={"tegrastats": str(fake), "tegrastats_interval_ms": 100,
                                       "throttle_temp_c": 56.0})
    result = verify_remote(get_profile("x86-cpu-ort"), RunnerSpec(ORT, {"path": str(model), "threads": 1}), model,
                           feeds, LatencySpec(warmup=1, runs=15, min_time_s=0.5), tmp_path / "r", device=config)
    summary = result["tegrastats"]
    assert result["device"]["tegrastats"] == str(fake)
    assert summary["samples"] >= 3 and summary["temps_c"]["tj"]["max"] == 56.656
    assert summary["throttled"] and any(r.startswith("tj reached 56.7 C") for r in summary["throttle_reasons"])
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(fake) in " ".join(p.info["cmdline"] or [])]


@pytest.mark.slow
def test_built_artifacts_verified_remotely_match_the_local_build(
    device: DeviceConfig, tiny_project: Path, tmp_path: Path,
) -> None:
    """The real build (fp32, int8 dynamic, int8 static of the tiny project), then each artifact on the device."""
    from edgeconv.api import build
    from edgeconv.spec import load_spec

    spec = load_spec(tiny_project / "edgeconv.yaml")
    result = build(spec, out=tiny_project / "out")
    reference = np.load(next((tiny_project / "out" / "verify" / "reference").glob("**/outputs.npy")))
    feeds = tiny_project / "out" / "data" / "eval.npz"
    labels = np.load(feeds)["__labels__"]
    for artifact in result.artifacts:
        folder = tmp_path / artifact.label
        remote_result = verify_remote(get_profile(artifact.target), RunnerSpec(ORT, {"path": artifact.path}),
                                      Path(artifact.path), feeds, spec.latency, folder, device=device)
        m = score(remote_result, np.load(folder / "outputs.npy"), labels, ["a", "b", "c"], reference)
        assert m.accuracy == artifact.measurement.accuracy, artifact.label
        assert m.agreement == artifact.measurement.agreement, artifact.label
    assert len(result.artifacts) == 3



@pytest.mark.slow
def test_build_verifies_on_a_device_and_on_each_board_of_a_pool(
    device: DeviceConfig, tiny_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`edgeconv build --target` with a device section verifies there; with a devices list, on every board."""
    import json

    import yaml
    from click.testing import CliRunner

    from edgeconv.cli import main
    from edgeconv.spec.targets import all_profiles

    boards = [device.model_copy(update={"name": name, "workdir": f"{device.workdir}-{name}"}).model_dump(mode="json")
              for name in ("board-a", "board-b")]
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    base = {"backend": "onnxruntime", "providers": ["CPUExecutionProvider"], "threads": 1,
            "precisions": ["fp32", "int8-dynamic"]}
    (profiles / "one.yaml").write_text(yaml.safe_dump({**base, "name": "tiny-board", "device": boards[0]}))
    (profiles / "pool.yaml").write_text(yaml.safe_dump({**base, "name": "tiny-pool", "devices": boards}))
    monkeypatch.setenv("EDGECONV_TARGETS", str(profiles))
    all_profiles.cache_clear()
    try:
        result = CliRunner().invoke(main, ["build", str(tiny_project / "edgeconv.yaml"), "--target", "x86-cpu-ort",
                                           "--target", "tiny-board", "--target", "tiny-pool"])
    finally:
        all_profiles.cache_clear()
    assert result.exit_code == 0, result.output
    report = json.loads((tiny_project / "out" / "report.json").read_text())
    rows = {(a["target"], a["precision"]): a for a in report["artifacts"]}
    for precision in ("fp32", "int8-dynamic"):
        local = rows[("x86-cpu-ort", precision)]
        for target in ("tiny-board", "tiny-pool@board-a", "tiny-pool@board-b"):
            remote = rows[(target, precision)]
            assert remote["accuracy"] == local["accuracy"] and remote["agreement"] == local["agreement"]
            assert remote["remote"]["device"]["arch"], target  # the device's probed facts are in the report
