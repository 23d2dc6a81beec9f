"""A TensorRT target with a device: the engine is built by the board's own trtexec and comes back with metadata.

The "board" is this machine behind the test sshd, and its trtexec a stand-in script that writes an
engine file and prints a trtexec log (tests/backends/tensorrt/fixtures), since there is no TensorRT here. What
is tested is everything edgeconv does around trtexec: push, argv, pull, log parsing, metadata, and the
honest failure of verification on a board without TensorRT's Python bindings.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgeconv.cli import main
from edgeconv.spec.device import DeviceConfig
from edgeconv.spec.targets import all_profiles

FIXTURE = Path(__file__).resolve().parents[1] / "backends" / "tensorrt" / "fixtures" / "trtexec_10_fp16.log"


def fake_trtexec(folder: Path) -> Path:
    script = folder / "trtexec"
    script.write_text(f"""#!/usr/bin/env bash
set -e
for arg in "$@"; do
  case "$arg" in --saveEngine=*) engine="${{arg#--saveEngine=}}";; esac
done
printf 'engine built from %s\\n' "$*" > "$engine"
cat {FIXTURE}
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.mark.slow
def test_engine_is_built_on_the_device_by_its_trtexec(
    device: DeviceConfig, tiny_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    trtexec = fake_trtexec(tmp_path)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    board = device.model_copy(update={"trtexec": str(trtexec)}).model_dump(mode="json")
    (profiles / "board-trt.yaml").write_text(yaml.safe_dump({
        "name": "board-trt", "backend": "tensorrt", "precisions": ["fp16"], "requires": ["tensorrt"],
        "tensorrt": {"builder": "trtexec"}, "device": board,
    }))
    monkeypatch.setenv("EDGECONV_TARGETS", str(profiles))
    all_profiles.cache_clear()
    try:
        result = CliRunner().invoke(main, ["build", str(tiny_project / "edgeconv.yaml"), "--target", "board-trt"])
    finally:
        all_profiles.cache_clear()
    report = json.loads((tiny_project / "out" / "report.json").read_text())
    (artifact,) = report["artifacts"]
    engine = Path(artifact["path"])
    assert engine.name == "model.engine" and engine.read_text().startswith("engine built from")
    assert "--fp16" in engine.read_text() and "--saveEngine=" in engine.read_text()
    meta = json.loads(engine.with_name("model.engine.json").read_text())
    assert (meta["tensorrt_version"], meta["compute_capability"], meta["builder"]) == ("10.1.0", "9.0", "trtexec")
    assert artifact["trtexec"]["summary"]["throughput_qps"] > 0
    assert artifact["trtexec"]["built_on"] == "local-sshd"
    # No TensorRT bindings on this "board": verification is refused there, with the gap named.
    assert artifact["status"] == "error" and artifact["remote"]["status"] == "unmet_requirements"
    assert "tensorrt" in artifact["reason"]
    assert result.exit_code == 4
