"""Fixtures for the remote tests: a real sshd on 127.0.0.1 and a device profile pointing at it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
