from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeconv.bundle import make_bundle, verify_bundle
from edgeconv.errors import DataError, SpecError
from edgeconv.fsutil import sha256_file
from tests.cligroup import cli
from tests.fakebuild import PRECISIONS, TARGET, report_of


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def rewrite(src: Path, dst: Path, change) -> Path:
    """Copy a bundle, letting ``change(name, data)`` replace a member's bytes (None drops it)."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for m in tin:
            data = change(m.name, tin.extractfile(m).read())
            if data is not None:
                m.size = len(data)
                tout.addfile(m, io.BytesIO(data))
    return dst


def test_round_trip_holds_artifacts_metadata_report_and_hashes(build, tmp_path):
    path = make_bundle(build, TARGET, tmp_path, every=True)
    manifest = verify_bundle(path)
    files = members(path)
    prefix = f"tiny-{TARGET}/"
    assert set(files) == {prefix + n for n in manifest["files"]} | {prefix + "manifest.json"}
    for precision in PRECISIONS:
        entry = next(a for a in report_of(build)["artifacts"] if a["precision"] == precision)
        data = files[f"{prefix}artifacts/{precision}/model.onnx"]
        assert data == Path(entry["path"]).read_bytes()
    assert files[prefix + "report.json"] == (build / "report.json").read_bytes()
    meta = json.loads(files[prefix + "metadata.json"])
    int8 = meta["artifacts"]["int8-dynamic"]
    assert int8["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 8]}]
    assert int8["outputs"][0]["name"] == "logits" and int8["outputs"][0]["dtype"] == "float32"
    assert int8["quantization"]["weight_type"] == "int8"
    assert meta["labels"] == ["a", "b", "c"]
    assert manifest["versions"]["bundle"]["onnx"]


def test_same_inputs_give_the_same_bytes(build, tmp_path):
    a = make_bundle(build, TARGET, tmp_path / "a")
    copy = shutil.copytree(build, tmp_path / "copy")  # other mtimes, other folder
    for f in copy.rglob("*"):
        f.touch()
    b = make_bundle(copy, TARGET, tmp_path / "b")
    assert sha256_file(a) == sha256_file(b)
    assert a.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(a, "r:gz") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert {(i.mtime, i.uid, i.gid, i.mode) for i in infos} == {(0, 0, 0, 0o644)}


@pytest.mark.parametrize("attack", ["flip", "drop", "add"])
def test_corrupted_or_tampered_bundle_is_refused(build, tmp_path, attack):
    good = make_bundle(build, TARGET, tmp_path, every=True)
    target = f"tiny-{TARGET}/artifacts/int8-dynamic/model.onnx"

    def change(name, data):
        if attack == "flip" and name == target:
            return data[:-1] + bytes([data[-1] ^ 1])
        if attack == "drop" and name == target:
            return None
        return data

    bad = rewrite(good, tmp_path / "bad.tar.gz", change)
    if attack == "add":
        with tarfile.open(good, "r:gz") as tin, tarfile.open(bad, "w:gz") as tout:
            for m in tin:
                tout.addfile(m, tin.extractfile(m))
            extra = tarfile.TarInfo(f"tiny-{TARGET}/artifacts/int8-dynamic/evil.so")
            extra.size = 3
            tout.addfile(extra, io.BytesIO(b"bad"))
    with pytest.raises(DataError, match="int8-dynamic"):
        verify_bundle(bad)


def test_truncated_bundle_is_refused_via_cli_with_exit_2(build, tmp_path):
    good = make_bundle(build, TARGET, tmp_path)
    bad = tmp_path / "truncated.tar.gz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result = CliRunner().invoke(cli, ["bundle", "verify", str(bad)])
    assert result.exit_code == 2 and "corrupted" in result.output
    ok = CliRunner().invoke(cli, ["bundle", "verify", str(good)])
    assert ok.exit_code == 0 and "ok:" in ok.output


def test_cli_bundles_every_target_by_default(build, tmp_path):
    result = CliRunner().invoke(cli, ["bundle", str(build), "--dest", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / f"tiny-{TARGET}.tar.gz")
    assert result.stderr.startswith(f"tiny-{TARGET}.tar.gz: ") and result.stderr.strip().endswith(" MB")


def test_failed_artifacts_are_left_out_unless_asked(build, tmp_path):
    out = shutil.copytree(build, tmp_path / "out")
    report = report_of(out)
    for a in report["artifacts"]:
        a["status"] = "failed" if a["precision"] == "int8-dynamic" else a["status"]
    (out / "report.json").write_text(json.dumps(report))
    names = members(make_bundle(out, TARGET, tmp_path / "a", every=True))
    assert not any("int8-dynamic" in n for n in names)
    names = members(make_bundle(out, TARGET, tmp_path / "b", include_failed=True, every=True))
    assert any("int8-dynamic" in n for n in names)


def test_artifact_changed_after_the_build_is_refused(build, tmp_path):
    out = shutil.copytree(build, tmp_path / "out")
    model = out / "artifacts" / f"{TARGET}-fp32" / "model.onnx"
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(DataError, match="does not match the sha256"):
        make_bundle(out, TARGET, tmp_path)
    assert not list(tmp_path.glob("*.tar.gz"))  # nothing half-written


def test_unknown_target_names_the_known_ones(build, tmp_path):
    with pytest.raises(SpecError, match=TARGET):
        make_bundle(build, "jetson", tmp_path)
    result = CliRunner().invoke(cli, ["bundle", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no report" in result.output


def test_bundled_model_still_runs(build, tmp_path):
    import onnxruntime as ort

    files = members(make_bundle(build, TARGET, tmp_path))
    session = ort.InferenceSession(files[f"tiny-{TARGET}/artifacts/fp32/model.onnx"],
                                   providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.zeros((2, 8), np.float32)})[0].shape == (2, 3)


@pytest.mark.parametrize("where", [0.01, 0.3, 0.5, 0.9, 0.999])
def test_any_flipped_byte_is_refused(build, tmp_path, where):
    """Also in tar padding after the last file, which a reader stopping at end-of-archive would never check."""
    data = bytearray(make_bundle(build, TARGET, tmp_path).read_bytes())
    pos = min(int(len(data) * where), len(data) - 9)  # before the gzip trailer's size field
    data[pos] ^= 0x01
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError):
        verify_bundle(bad)
