"""One flashable archive per target: artifact file(s), runtime metadata, report.json and a manifest of hashes.

Layout inside ``<name>-<target>.tar.gz`` (all under the folder ``<name>-<target>/``)::

    artifacts/<precision>/<file>   the artifact(s) that passed (and any external-data sidecar)
    metadata.json                  inputs/outputs (names, shapes, dtypes), labels, preprocessing, quantization
    report.json                    the build's report, byte for byte
    manifest.json                  sha256 and size of every other file, and the versions that made them

``verify_bundle`` refuses an archive whose files do not match the manifest: a corrupted or tampered
bundle is bad input, exit code 2 (DataError), naming the first file that does not match.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from edgeconv import versions
from edgeconv.bundle.archive import write_archive
from edgeconv.bundle.metadata import artifact_metadata
from edgeconv.compare.load import read_report
from edgeconv.errors import DataError, SpecError
from edgeconv.fsutil import CHUNK, atomic_path, sha256_file

FORMAT = "edgeconv-bundle/1"
MANIFEST, METADATA, REPORT = "manifest.json", "metadata.json", "report.json"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


def targets_of(report: dict[str, Any]) -> list[str]:
    return sorted({str(a.get("target")) for a in report["artifacts"]})


def _artifact_files(build_dir: Path, entry: dict[str, Any]) -> list[Path]:
    """The artifact where the build left it (re-rooted under build_dir if the folder moved), checked by hash."""
    recorded = Path(entry.get("path") or "")
    local = build_dir / "artifacts" / f"{entry['target']}-{entry['precision']}" / recorded.name
    path = local if local.is_file() else recorded
    label = f"{entry['target']}/{entry['precision']}"
    if not path.is_file():
        raise SpecError(f"artifact file of {label} not found (looked for '{local}' and '{recorded}')",
                        fix="bundle the build folder that report.json came from")
    if entry.get("sha256") and sha256_file(path) != entry["sha256"]:
        raise DataError(f"artifact file '{path}' of {label} does not match the sha256 in report.json",
                        fix="rebuild: the file changed after the build")
    sidecar = path.with_name(path.name + ".data")
    return [path, sidecar] if sidecar.is_file() else [path]


def _preprocessing(report: dict[str, Any], spec: Any) -> dict[str, Any]:
    if report.get("preprocessing"):
        return report["preprocessing"]
    if spec is not None:
        model = spec.model
        return {"task": model.task, "text": model.text.model_dump(mode="json"),
                "preprocessor": model.preprocessor or model.path,
                "inputs": [i.model_dump(mode="json") for i in model.inputs or []]}
    return {"recorded": False, "note": "report.json records no preprocessing; pass the spec (--spec) to include it"}


def make_bundle(build_dir: Path, target: str, dest: Path, include_failed: bool = False, spec: Any = None) -> Path:
    """Write ``dest/<name>-<target>.tar.gz`` from a finished build; returns its path."""
    build_dir = Path(build_dir)
    report_file = build_dir / REPORT
    report = read_report(report_file)
    chosen = [a for a in report["artifacts"] if a.get("target") == target]
    if not chosen:
        raise SpecError(f"target '{target}' is not in {report_file}",
                        fix=f"use one of: {', '.join(targets_of(report)) or 'none'}")
    allowed = ("passed", "failed") if include_failed else ("passed",)
    entries = [a for a in chosen if a.get("status") in allowed]
    if not entries:
        states = ", ".join(f"{a.get('precision')}: {a.get('status')}" for a in chosen)
        raise SpecError(f"no artifact of target '{target}' passed its budgets ({states})",
                        fix="fix the build, or pass --include-failed to bundle failed artifacts too")
    name = f"{report.get('name', 'model')}-{target}"
    files: dict[str, bytes | Path] = {REPORT: report_file.read_bytes()}
    artifacts: dict[str, Any] = {}
    for entry in entries:
        paths = _artifact_files(build_dir, entry)
        for p in paths:
            files[f"artifacts/{entry['precision']}/{p.name}"] = p
        artifacts[entry["precision"]] = {"file": f"artifacts/{entry['precision']}/{paths[0].name}",
                                         **artifact_metadata(paths[0], entry)}
    files[METADATA] = _json({
        "format": FORMAT, "name": report.get("name"), "target": target,
        "labels": (report.get("evaluation") or {}).get("labels"),
        "preprocessing": _preprocessing(report, spec), "artifacts": artifacts,
    })
    files[MANIFEST] = _json({
        "format": FORMAT, "bundle": name, "spec_sha256": report.get("spec_sha256"),
        "files": {n: _hash(data) for n, data in sorted(files.items())},
        "versions": {"build": report.get("versions"), "bundle": versions.all_versions()},
    })
    out = Path(dest) / f"{name}.tar.gz"
    with atomic_path(out) as tmp:
        write_archive(tmp, {f"{name}/{n}": data for n, data in files.items()})
    return out


def _hash(data: bytes | Path) -> dict[str, Any]:
    if isinstance(data, Path):
        return {"sha256": sha256_file(data), "size": data.stat().st_size}
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def verify_bundle(path: Path) -> dict[str, Any]:
    """Check every file of the bundle against its manifest; returns the manifest, raises DataError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"no bundle at '{path}'", fix="pass a .tar.gz written by `edgeconv bundle`")
    found: dict[str, dict[str, Any]] = {}
    manifest_bytes = None
    try:
        with gzip.open(path, "rb") as gz, tarfile.open(fileobj=gz, mode="r:") as tar:
            for info in tar:
                parts = PurePosixPath(info.name).parts
                if not info.isreg() or info.name.startswith("/") or ".." in parts or len(parts) < 2:
                    raise DataError(f"bundle '{path.name}' holds an unexpected entry '{info.name}' (tampered?)",
                                    fix="do not flash it; rebuild the bundle with `edgeconv bundle`")
                rel = PurePosixPath(*parts[1:]).as_posix()
                digest, f = hashlib.sha256(), tar.extractfile(info)
                assert f is not None  # regular file
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    if rel == MANIFEST:
                        manifest_bytes = (manifest_bytes or b"") + chunk
                found[rel] = {"sha256": digest.hexdigest(), "size": info.size}
            while gz.read(CHUNK):  # read to the end so gzip checks its CRC over the padding too
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"bundle '{path.name}' is not a readable archive ({exc}); it is corrupted or truncated",
                        fix="download or copy it again, or rebuild it with `edgeconv bundle`") from exc
    if manifest_bytes is None:
        raise DataError(f"bundle '{path.name}' has no {MANIFEST}", fix="rebuild it with `edgeconv bundle`")
    try:
        manifest = json.loads(manifest_bytes)
        listed: dict[str, dict[str, Any]] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"the {MANIFEST} of bundle '{path.name}' is unreadable", fix="rebuild the bundle") from exc
    found.pop(MANIFEST)
    for rel in sorted(set(listed) | set(found)):
        if rel not in found:
            raise DataError(f"bundle '{path.name}' lacks '{rel}' listed in its manifest", fix="rebuild the bundle")
        if rel not in listed:
            raise DataError(f"bundle '{path.name}' holds '{rel}', which its manifest does not list (tampered?)",
                            fix="do not flash it; rebuild the bundle")
        if found[rel]["sha256"] != listed[rel].get("sha256") or found[rel]["size"] != listed[rel].get("size"):
            raise DataError(f"'{rel}' in bundle '{path.name}' does not match its sha256 in the manifest "
                            "(corrupted or tampered)", fix="do not flash it; copy it again or rebuild the bundle")
    return manifest
