"""Each device fault gives its own status and one clear line, and what was measured before is kept."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from edgeconv.remote import verify_remote
from edgeconv.remote.errors import RemoteError
from edgeconv.results import RunnerSpec
from edgeconv.spec import LatencySpec
from edgeconv.spec.device import DeviceConfig
from edgeconv.spec.targets import get_profile
from tests.conftest import make_tiny_onnx
from tests.remote.sshd import Sshd, free_port, keygen

ORT = "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner"
SLEEP = "tests.remote.sleep_runner:SleepRunner"
LATENCY = LatencySpec(warmup=1, runs=15, min_time_s=0)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    make_tiny_onnx(tmp_path / "tiny.onnx")
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32))
    return tmp_path / "tiny.onnx", tmp_path / "eval.npz"


def verify(device: DeviceConfig, tiny: tuple[Path, Path], folder: Path, runner: str = ORT, profile: str = "x86-cpu-ort",
           **kwargs: object) -> dict:
    model, feeds = tiny
    return verify_remote(get_profile(profile), RunnerSpec(runner, {"path": str(model), **kwargs}), model, feeds,
                         LATENCY, folder, device=device)


def fails(status: str, fn, *args, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        fn(*args, **kwargs)
    assert info.value.status == status, str(info.value)
    assert "\n" not in str(info.value)
    return info.value


def test_a_changed_host_key_is_refused(device: DeviceConfig, tiny: tuple[Path, Path], tmp_path: Path) -> None:
    other = keygen(tmp_path / "other_host")
    known = tmp_path / "known_hosts_wrong"
    known.write_text(f"[127.0.0.1]:{device.port} {' '.join(Path(str(other) + '.pub').read_text().split()[:2])}\n")
    for accept in (False, True):  # never trusted, even where unknown hosts are
        config = device.model_copy(update={"known_hosts": known, "accept_unknown_host_key": accept})
        err = fails("host_key_rejected", verify, config, tiny, tmp_path / "out")
        assert "does not match" in str(err)
    assert not (tmp_path / "out" / "result.json").exists()


def test_an_unknown_host_is_refused_unless_the_profile_allows_it(
    device: DeviceConfig, sshd: Sshd, tiny: tuple[Path, Path], tmp_path: Path,
) -> None:
    known = tmp_path / "known_hosts_empty"
    known.write_text("")
    config = device.model_copy(update={"known_hosts": known})
    assert "is not in" in str(fails("host_key_rejected", verify, config, tiny, tmp_path / "a"))
    trusting = config.model_copy(update={"accept_unknown_host_key": True})
    assert verify(trusting, tiny, tmp_path / "b")["examples"] == 8
    recorded = known.read_text().split()
    assert recorded[0] == f"[127.0.0.1]:{sshd.port}" and recorded[2] == sshd.host_key.with_suffix(".pub").read_text(
    ).split()[1]
    assert verify(config, tiny, tmp_path / "c")["examples"] == 8  # now known: checked strictly


def test_a_refused_user_key(device: DeviceConfig, tiny: tuple[Path, Path], tmp_path: Path) -> None:
    config = device.model_copy(update={"key_file": keygen(tmp_path / "stranger")})
    assert "refused the key" in str(fails("auth_failed", verify, config, tiny, tmp_path / "out"))


def test_an_unreachable_device(device: DeviceConfig, tiny: tuple[Path, Path], tmp_path: Path) -> None:
    config = device.model_copy(update={"port": free_port(), "retries": 1})
    start = time.monotonic()
    assert "cannot reach" in str(fails("unreachable", verify, config, tiny, tmp_path / "out"))
    assert time.monotonic() - start < 30  # bounded retries


def _when_started(marker: Path, action, times: int = 1) -> threading.Thread:
    """Run ``action`` once the remote worker has started ``times`` times (the runner appends to ``marker``)."""
    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().count("started") >= times:
                action()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_server_killed_mid_run_is_connection_lost_and_earlier_results_stay(
    device: DeviceConfig, sshd: Sshd, tiny: tuple[Path, Path], tmp_path: Path,
) -> None:
    done = verify(device, tiny, tmp_path / "done")
    before = (tmp_path / "done" / "result.json").read_bytes()
    marker = tmp_path / "marker"
    watcher = _when_started(marker, sshd.kill)
    err = fails("connection_lost", verify, device, tiny, tmp_path / "killed", runner=SLEEP, marker=str(marker),
                seconds=30)
    watcher.join(5)
    assert "reconnect attempt" in str(err) and err.partial["device"]["arch"] == done["device"]["arch"]
    assert (tmp_path / "done" / "result.json").read_bytes() == before
    assert np.load(tmp_path / "done" / "outputs.npy").shape == (8, 3)
    assert not (tmp_path / "killed" / "result.json").exists()


def test_a_dropped_connection_is_retried_and_the_run_completes(
    device: DeviceConfig, sshd: Sshd, tiny: tuple[Path, Path], tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    watcher = _when_started(marker, sshd.drop_connections)
    result = verify(device, tiny, tmp_path / "out", runner=SLEEP, marker=str(marker), seconds=2)
    watcher.join(5)
    assert marker.read_text().count("started") == 2 and result["examples"] == 8


def test_a_hanging_command_times_out_and_is_stopped_on_the_device(
    device: DeviceConfig, tiny: tuple[Path, Path], tmp_path: Path,
) -> None:
    config = device.model_copy(update={"command_timeout_s": 3})
    marker = tmp_path / "marker"
    err = fails("timeout", verify, config, tiny, tmp_path / "out", runner=SLEEP, marker=str(marker), seconds=120)
    assert "ran past 3 s" in str(err) and err.partial["device"]["modules"]["numpy"]
    time.sleep(0.5)
    assert not [p for p in psutil.process_iter(["cmdline"]) if device.workdir in " ".join(p.info["cmdline"] or [])]
    assert list((Path(device.workdir) / "runs").iterdir()) == []


def test_a_target_the_device_cannot_run_is_refused_naming_the_gap(
    device: DeviceConfig, tiny: tuple[Path, Path], tmp_path: Path,
) -> None:
    err = fails("unmet_requirements", verify, device, tiny, tmp_path / "a", profile="gpu-ort-cuda")
    assert "no CUDAExecutionProvider" in str(err) and err.partial["device"]["python"]
    wrong_arch = device.model_copy(update={"arch": "aarch64" if device.arch != "aarch64" else "riscv64"})
    assert "the profile expects" in str(fails("unmet_requirements", verify, wrong_arch, tiny, tmp_path / "b"))
    no_python = device.model_copy(update={"python": "/nonexistent/python3"})
    assert "does not run" in str(fails("unmet_requirements", verify, no_python, tiny, tmp_path / "c"))


def test_a_full_device_disk(device: DeviceConfig, tiny: tuple[Path, Path], tmp_path: Path) -> None:
    """A real 1 MB tmpfs as the device's work dir (needs root to mount)."""
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        config = device.model_copy(update={"workdir": str(small / "wd")})
        err = fails("disk_full", verify, config, tiny, tmp_path / "out")
        assert "MB free" in str(err) and err.partial["device"]["disk_free_bytes"] <= 1 << 20
    finally:
        subprocess.run(["umount", str(small)], check=False)
