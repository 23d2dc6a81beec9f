"""Fixtures for the remote tests: a real sshd on 127.0.0.1 and a device profile pointing at it."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgeconv.spec.device import DeviceConfig
from tests.remote.sshd import MISSING, Sshd, make_sshd


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    if MISSING:
        pytest.skip(MISSING)
    server = make_sshd(tmp_path / "sshd")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def device(sshd: Sshd, tmp_path: Path) -> DeviceConfig:
    """This machine as the device: this interpreter has numpy and onnxruntime, like a prepared board."""
    return DeviceConfig(
        name="local-sshd", host="127.0.0.1", port=sshd.port, user=sshd.user, key_file=sshd.user_key,
        known_hosts=sshd.known_hosts, workdir=str(tmp_path / "device-workdir"), python=sys.executable,
        connect_timeout_s=5, command_timeout_s=120, retries=1,
    )


@contextlib.contextmanager
def board_profile(profile: dict, device: DeviceConfig, folder: Path, monkeypatch: pytest.MonkeyPatch,
                  flipped: int = 0) -> Iterator[tuple[Path, Path]]:
    """For the block, target ``profile`` runs on ``device`` (this machine over SSH); yields a tiny ONNX model and
    labelled feeds for it (``flipped``: how many of the 12 labels are wrong)."""
    from edgeconv.spec import targets
    from tests.conftest import make_tiny_onnx, tiny_logits

    (folder / "profiles").mkdir()
    profile = {**profile, "device": {**json.loads(device.model_dump_json()), "arch": None}}
    (folder / "profiles" / f"{profile['name']}.yaml").write_text(yaml.safe_dump(profile))
    monkeypatch.setenv("EDGECONV_TARGETS", str(folder / "profiles"))
    targets.all_profiles.cache_clear()
    try:
        make_tiny_onnx(folder / "m.onnx")
        x = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
        labels = tiny_logits(folder / "m.onnx", x).argmax(-1)
        labels[:flipped] = (labels[:flipped] + 1) % 3
        np.savez(folder / "eval.npz", x=x, __labels__=labels)
        yield folder / "m.onnx", folder / "eval.npz"
    finally:
        targets.all_profiles.cache_clear()
