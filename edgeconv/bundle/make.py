"""One flashable archive per target: artifact file(s), runtime metadata, report.json and a manifest of hashes.

Layout inside ``<name>-<target>.tar.gz`` (all under the folder ``<name>-<target>/``)::

    artifacts/<precision>/<file>   the build's choice for the target (``--precision``, ``--all`` for more), and
                                   any external-data sidecar; never the fp32 reference unless it is the choice
    run.py, requirements.txt       run the artifact on raw input with only its runtime installed; ``--check``
                                   replays the golden set (docs/release.md)
    pkg/edgeconv/...               the runner, worker, raw-input and pixel modules, copied as they are
    preprocessing/tokenizer.json   text models: the tokenizer (the ``tokenizers`` library's format)
    golden/                        golden.npz (feeds and verified outputs of the first evaluation examples) and,
                                   for image models, those images
    metadata.json                  inputs/outputs, labels, preprocessing, tolerances, runners, quantization
    report.json                    the build's report, byte for byte
    manifest.json                  sha256 and size of every other file, and the versions that made them

A text-generation build's bundle (``lm_files``) holds instead ``artifacts/<precision>/<folder>/`` (the ONNX
Runtime GenAI folder whole: graph, weights, genai_config.json, tokenizer files), its own run.py (streams greedy
tokens for a prompt; ``--check`` replays the greedy generations recorded in ``golden/golden.json``) and the
generation runner modules under ``pkg/``.

``verify_bundle`` refuses an archive whose files do not match the manifest: a corrupted or tampered
bundle is bad input, exit code 2 (DataError), naming the first file that does not match.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import zlib
from math import inf
from pathlib import Path, PurePosixPath
from typing import Any

from edgeconv import versions
from edgeconv.api.device_assets import ASSETS
from edgeconv.bundle.archive import write_archive
from edgeconv.bundle.device_files import RUN_PY, device_assets, golden, requirements, runnable, vendored
from edgeconv.bundle.lm_files import lm_files
from edgeconv.bundle.metadata import artifact_metadata
from edgeconv.errors import DataError, SpecError
from edgeconv.fsutil import CHUNK, atomic_path, sha256_file
from edgeconv.results import ArtifactResult, BuildResult, read_report

FORMAT = "edgeconv-bundle/1"
MANIFEST, METADATA, REPORT = "manifest.json", "metadata.json", "report.json"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


def targets_of(report: BuildResult) -> list[str]:
    return sorted({a.target for a in report.artifacts})


def artifact_files(build_dir: Path, entry: ArtifactResult) -> list[Path]:
    """The artifact where the build left it (re-rooted under build_dir if the folder moved), checked by hash."""
    recorded = Path(entry.path or "")
    local = build_dir / "artifacts" / f"{entry.target}-{entry.precision}" / recorded.name
    path = local if local.is_file() else recorded
    label = entry.label
    if not path.is_file():
        raise SpecError(f"artifact file of {label} not found (looked for '{local}' and '{recorded}')",
                        fix="bundle the build folder that report.json came from")
    if entry.sha256 and sha256_file(path) != entry.sha256:
        raise DataError(f"artifact file '{path}' of {label} does not match the sha256 in report.json",
                        fix="rebuild: the file changed after the build")
    sidecar = path.with_suffix(".bin") if path.suffix == ".xml" else path.with_name(path.name + ".data")
    return [path, sidecar] if sidecar.is_file() else [path]  # ONNX external data, or an OpenVINO IR's weights


def select(report: BuildResult, target: str, precisions: list[str] | None, every: bool,
           include_failed: bool) -> list[ArtifactResult]:
    """The artifacts of ``target`` to bundle: those named, every one that passed (``every``), or by default the
    build's choice: ``precision: auto``'s, else by auto's rule (the fastest that passed, never a reduced
    precision slower than the fp32 reference)."""
    rows = [a for a in report.artifacts if a.target == target]
    if not rows:
        raise SpecError(f"target '{target}' is not in the build's report.json",
                        fix=f"use one of: {', '.join(targets_of(report)) or 'none'}")
    allowed = ("passed", "failed") if include_failed else ("passed",)
    if precisions:
        unknown = [p for p in precisions if p not in {a.precision for a in rows}]
        if unknown:
            raise SpecError(f"target '{target}' has no {unknown[0]} artifact",
                            fix=f"use one of: {', '.join(a.precision for a in rows)}")
        rows = [a for a in rows if a.precision in precisions]
        refused = [a for a in rows if a.status not in allowed]
        if refused:
            raise SpecError(f"{target}/{refused[0].precision} did not pass its budgets "
                            f"({refused[0].status})", fix="pass --include-failed to bundle it anyway")
    entries = [a for a in rows if a.status in allowed]
    if not entries:
        states = ", ".join(f"{a.precision}: {a.status}" for a in rows)
        raise SpecError(f"no artifact of target '{target}' passed its budgets ({states})",
                        fix="fix the build, or pass --include-failed to bundle failed artifacts too")
    if precisions or every:
        return entries
    chosen = choice(report, target, entries)
    return [a for a in entries if a.precision == chosen]


def choice(report: BuildResult, target: str, entries: list[ArtifactResult]) -> str:
    """``precision: auto``'s pick when the build made one among ``entries``, else auto's own rule
    (choose.choose_precision, across a merged build's timing passes too), else the fastest entry."""
    from edgeconv.choose import choose_precision

    picked = {s.get("precision") for s in report.selections if s.get("target") == target}
    among = [a for a in entries if a.precision in picked]
    if among:
        return among[0].precision
    chosen = choose_precision(target, entries)["precision"]
    fastest = min(entries, key=lambda a: a.measurement.latency_ms.get("p50", inf) if a.measurement else inf)
    return str(chosen or fastest.precision)


def make_bundle(build_dir: Path, target: str, dest: Path, include_failed: bool = False,
                precisions: list[str] | None = None, every: bool = False) -> Path:
    """Write ``dest/<name>-<target>.tar.gz`` from a finished build; returns its path."""
    build_dir = Path(build_dir)
    report_file = build_dir / REPORT
    report = read_report(report_file)
    entries = select(report, target, precisions, every, include_failed)
    name = f"{report.spec_name or 'model'}-{target}"
    files: dict[str, bytes | Path] = {REPORT: report_file.read_bytes()}
    if report.evaluation.get("task") == "text-generation":
        own, meta = lm_files(build_dir, report, entries)
        meta["default"] = choice(report, target, entries)
    else:
        own, meta = _model_files(build_dir, report, target, entries)
    files.update(own)
    files[METADATA] = _json({"format": FORMAT, "name": report.spec_name, "target": target, **meta})
    files[MANIFEST] = _json({
        "format": FORMAT, "bundle": name, "spec_sha256": report.spec_sha256,
        "files": {n: _hash(data) for n, data in sorted(files.items())},
        "versions": {"build": report.versions, "bundle": versions.all_versions()},
    })
    out = Path(dest) / f"{name}.tar.gz"
    # A language model's quantized weights barely compress: on the int4 SmolLM2 folder gzip level 9 took 4x level
    # 1's time for 1.5 % less (docs/llm.md), so its bundles use level 1.
    level = 1 if report.evaluation.get("task") == "text-generation" else 9
    with atomic_path(out) as tmp:
        write_archive(tmp, {f"{name}/{n}": data for n, data in files.items()}, level)
    return out


def _model_files(build_dir: Path, report: BuildResult, target: str, entries: list[ArtifactResult]) -> tuple[
        dict[str, bytes | Path], dict[str, Any]]:
    """(archive files, metadata.json's content) of a classifier-style build: each artifact file, run.py with
    edgeconv's runner modules, the preprocessing assets and the golden set."""
    recipe, raw = device_assets(build_dir)
    cannot = {e.precision: runnable(e) for e in entries}
    files: dict[str, bytes | Path] = {}
    artifacts: dict[str, Any] = {}
    for entry in entries:
        paths = artifact_files(build_dir, entry)
        for path in paths:
            files[f"artifacts/{entry.precision}/{path.name}"] = path
        artifacts[entry.precision] = {"file": f"artifacts/{entry.precision}/{paths[0].name}",
                                      "runner": entry.runner.to_dict() if entry.runner else None,
                                      "run_py": cannot[entry.precision] or "ok", **artifact_metadata(paths[0], entry)}
    runnable_entries = [e for e in entries if cannot[e.precision] is None]
    recipe = dict(recipe)
    if recipe["kind"] == "text":
        files[f"preprocessing/{recipe['tokenizer']}"] = build_dir / ASSETS / recipe["tokenizer"]
        recipe["tokenizer"] = f"preprocessing/{recipe['tokenizer']}"
    golden_meta = None
    if runnable_entries:
        golden_bytes, golden_meta = golden(build_dir, recipe, raw, runnable_entries)
        files[golden_meta["file"]] = golden_bytes
        if recipe["kind"] == "image":
            for rel in golden_meta["raw"]:
                files[rel] = build_dir / ASSETS / rel
        files["run.py"] = RUN_PY
        files["requirements.txt"] = requirements(recipe, runnable_entries)
        files.update(vendored({e.runner.runner for e in runnable_entries if e.runner}))
    return files, {"task": recipe.get("task"), "labels": recipe.get("labels") or report.evaluation.get("labels"),
                   "default": choice(report, target, runnable_entries or entries), "preprocessing": recipe,
                   "artifacts": artifacts, "golden": golden_meta}


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
