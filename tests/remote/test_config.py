"""The device section of a target profile, and the device commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from edgeconv.cli.device import device_group
from edgeconv.remote.connection import command_line
from edgeconv.spec import targets
from edgeconv.spec.device import DeviceConfig
from edgeconv.spec.targets import TargetProfile
from tests.remote.conftest import board_profile

JETSON = {
    "name": "jetson-orin-nano", "backend": "onnxruntime", "providers": ["CPUExecutionProvider"],
    "precisions": ["fp32", "int8-dynamic"], "requires": ["onnxruntime"],
    "device": {"host": "orin.local", "user": "nvidia", "key_file": "~/.ssh/id_ed25519",
               "known_hosts": "~/.config/edgeconv/known_hosts", "arch": "aarch64",
               "jump_host": {"host": "bastion.example.org", "user": "me"}},
}


def test_a_profile_with_a_device_section() -> None:
    profile = TargetProfile.model_validate(JETSON)
    assert profile.device is not None and profile.device.port == 22 and profile.device.workdir == "/tmp/edgeconv"
    assert profile.device.accept_unknown_host_key is False and profile.device.jump_host.port == 22
    assert profile.device.label == "nvidia@orin.local:22" and profile.devices == []
    assert TargetProfile.model_validate({k: v for k, v in JETSON.items() if k != "device"}).device is None


@pytest.mark.parametrize(("change", "field"), [
    ({"workdir": "relative/dir"}, "workdir"), ({"workdir": "/"}, "workdir"), ({"port": 0}, "port"),
    ({"password": "x"}, "password"), ({"retries": -1}, "retries"),
])
def test_bad_device_fields_are_named(change: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        DeviceConfig.model_validate({**JETSON["device"], **change})


def test_every_argument_is_quoted() -> None:
    line = command_line(["python3", "-m", "w", "a b; rm -rf /", "$(reboot)"], cwd="/tmp/x y", env={"A": "1 2"})
    assert line == "cd '/tmp/x y' && exec env 'A=1 2' python3 -m w 'a b; rm -rf /' '$(reboot)'"


def test_own_profiles_from_edgeconv_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "jetson.yaml").write_text(yaml.safe_dump(JETSON))
    monkeypatch.setenv("EDGECONV_TARGETS", str(tmp_path))
    targets.all_profiles.cache_clear()
    try:
        assert targets.get_profile("jetson-orin-nano").device.host == "orin.local"
        assert targets.get_profile("x86-cpu-ort").device is None
    finally:
        targets.all_profiles.cache_clear()


def test_device_commands_on_the_local_sshd(device: DeviceConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          ) -> None:
    with board_profile(JETSON, device, tmp_path, monkeypatch) as (model, feeds):
        probed = CliRunner().invoke(device_group, ["probe", "jetson-orin-nano"])
        assert probed.exit_code == 0, probed.output
        assert json.loads(probed.output)["gaps"] == []
        args = ["verify", "jetson-orin-nano", str(model), "--feeds", str(feeds), "--out", str(tmp_path / "o"),
                "--runs", "11"]
        ran = CliRunner().invoke(device_group, args)
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.output)["accuracy"] == 1.0 and (tmp_path / "o" / "outputs.npy").is_file()
