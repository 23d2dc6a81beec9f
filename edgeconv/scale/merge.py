"""`edgeconv merge SHARD_DIR... --out OUT`: the shards of one build (``--shard I/N``) joined into one result.

Refused (one line, exit 2): a folder that is not a shard, a missing or repeated shard, shards of another matrix,
or shards built from a different spec, model, data or package versions. Joined: the artifacts in the order one
build would list them, the files placed under OUT (hard links where possible), and the ``auto`` choices made
over every shard's rows. Each shard timed its own cells interleaved with the reference, so each speed-up is
over the reference timed in the same pass, and the choices rank those speed-ups and their intervals (choose.py),
never raw milliseconds from different processes; the merged report says which pass timed each artifact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.api.outcome import finish
from edgeconv.api.shard import cell
from edgeconv.cache.stages import place_tree
from edgeconv.choose import selections_of
from edgeconv.errors import SpecError
from edgeconv.results import ArtifactResult, BuildResult, TimingPass, parse_row, read_report

SAME_BUILD_FIX = "rebuild every shard from the same spec, model, data and edgeconv version, then merge again"


@dataclass
class ShardReport:
    folder: Path
    report: BuildResult
    manifest: dict[str, Any]

    @property
    def record(self) -> dict[str, Any]:
        assert self.report.shard is not None  # _read refuses a report without one
        return self.report.shard

    @property
    def label(self) -> str:
        return f"{self.record['index']}/{self.record['count']}"

    @property
    def name(self) -> str:
        return f"shard {self.label} ('{self.folder}')"

    @property
    def reference_p50(self) -> float | None:
        """The reference's p50 in this shard's interleaved pass: every speed-up of the shard is over it."""
        measured = self.report.reference.measurement
        return measured.latency_ms.get("p50") if measured is not None else None


def merge(folders: list[Path], out: Path) -> BuildResult:
    """One BuildResult from every shard of a build, its reports written into ``out`` as `edgeconv merge` does
    (``api.exit_code`` of it: the command's exit code)."""
    shards = sorted((_read(Path(f)) for f in folders), key=lambda s: s.record["index"])
    _check(shards)
    first = shards[0]
    out = Path(out)
    placed: dict[Path, Path] = {}
    reference = first.report.reference
    _relocate(reference, first.folder, out, placed)
    rows: list[ArtifactResult] = []
    for shard in shards:
        for row in shard.report.artifacts:
            row.selected = False  # the merge chooses again, over every shard's rows
            row.timing_pass = TimingPass(shard=shard.label, reference_p50_ms=shard.reference_p50)
            _relocate(row, shard.folder, out, placed)
            rows.append(row)
    artifacts = sorted(rows, key=lambda r: _order(r, first.record))
    record = first.record
    pruned = [c for s in shards for c in s.record.get("prune_candidates", [])]
    manifest = {**first.manifest, "reference": {"path": reference.path, "sha256": reference.sha256},
                "artifacts": {a.label: {"path": a.path, "sha256": a.sha256} for a in artifacts if a.path}}
    machines = [s.report.machine for s in shards]  # the CPU each shard built on: one, or said unknown
    result = BuildResult(first.report.spec_name, str(out), reference, artifacts, first.report.export,
                         manifest, first.report.evaluation,
                         machine=machines[0] if all(m == machines[0] for m in machines) else None)
    result.selections = selections_of(artifacts, record.get("device"), record.get("auto_targets", []),
                                      record.get("left_out", []), {"prune_candidates": pruned} if pruned else {})
    result.merged = {
        "shards": [{"shard": s.label, "folder": str(s.folder), "cells": s.record["cells"],
                    "reference_p50_ms": s.reference_p50,
                    "machine": s.report.reference.timing.machine if s.report.reference.timing else None}
                   for s in shards],
        "timing": "each shard timed its cells interleaved with the reference in its own pass: every speed-up is "
                  "over the reference of that pass (artifacts' timing_pass), and `auto` ranks those speed-ups",
    }
    return finish(result)


def _read(folder: Path) -> ShardReport:
    report = read_report(folder / "report.json")
    if not isinstance(report.shard, dict):
        raise SpecError(f"'{folder}' is not a shard: its report.json has no 'shard' record",
                        fix="merge the folders of `edgeconv build SPEC --shard I/N`")
    manifest_file = folder / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.is_file() else {}
    return ShardReport(folder, report, manifest)


def _check(shards: list[ShardReport]) -> None:
    if not shards:
        raise SpecError("nothing to merge", fix="give the folders of every shard")
    first = shards[0]
    count = first.record["count"]
    indices = [s.record["index"] for s in shards]
    for shard in shards[1:]:
        if shard.record["count"] != count or shard.record["matrix"] != first.record["matrix"]:
            raise SpecError(f"{shard.name} split another matrix than {first.name}", fix=SAME_BUILD_FIX)
        for what, mine, theirs in _provenance(shard, first):
            if mine != theirs:
                raise SpecError(f"{shard.name} was built from a different {what} than {first.name} "
                                f"({_brief(mine)} vs {_brief(theirs)})", fix=SAME_BUILD_FIX)
    repeated = sorted({i for i in indices if indices.count(i) > 1})
    missing = sorted(set(range(1, count + 1)) - set(indices))
    if repeated or missing:
        said = ", ".join([*(f"shard {i}/{count} given twice" for i in repeated),
                          *(f"shard {i}/{count} missing" for i in missing)])
        raise SpecError(f"cannot merge: {said}", fix="give each shard's folder exactly once")


def _provenance(shard: ShardReport, first: ShardReport) -> list[tuple[str, Any, Any]]:
    def data(s: ShardReport, kind: str) -> Any:
        return (s.manifest.get(kind) or {}).get("sha256")

    pairs = [("spec", shard.report.spec_sha256, first.report.spec_sha256),
             ("model", shard.manifest.get("model"), first.manifest.get("model")),
             ("evaluation set", data(shard, "evaluation"), data(first, "evaluation")),
             ("calibration set", data(shard, "calibration"), data(first, "calibration")),
             ("reference export", shard.report.reference.sha256, first.report.reference.sha256)]
    versions, theirs = shard.report.versions or {}, first.report.versions or {}
    pairs += [(f"{package} version", versions.get(package), theirs.get(package))
              for package in sorted(set(versions) | set(theirs))]
    return pairs


def _brief(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text[:12] + "…" if len(text) > 16 else text


def _order(row: ArtifactResult, record: dict[str, Any]) -> tuple:
    """One build's order: the matrix's cells, then the pruned candidates level by level."""
    parts = parse_row(row.target)
    name = cell(parts.target, row.precision, parts.board)
    index = record["matrix"].index(name) if name in record["matrix"] else len(record["matrix"])
    if parts.prune:
        levels = [c["prune"] for c in record.get("prune_candidates", [])]
        return (1, levels.index(parts.prune) if parts.prune in levels else len(levels), index)
    return (0, index)


def _relocate(row: ArtifactResult, folder: Path, out: Path, placed: dict[Path, Path]) -> None:
    """Place the artifact's stage folder under ``out`` (at the same place under the shard's output) and point
    the row at it; a shard copied without its files keeps the path it reported."""
    if not row.path:
        return
    path = Path(row.path)
    tails = [Path(*path.parts[k:]) for k in range(1 if path.is_absolute() else 0, len(path.parts))]
    if path.is_absolute() and path.resolve().is_relative_to(folder.resolve()):  # the shard's folder, in place
        tails.insert(0, path.resolve().relative_to(folder.resolve()))
    # else the path as the shard wrote it, its folder since moved (a CI artifact download): find its tail here
    rest = next((tail for tail in tails if (folder / tail).is_file()), None)
    if rest is None:
        return
    source = (folder / rest).parent
    if source not in placed:
        placed[source] = place_tree(source, out / rest.parent)
    row.path = str(placed[source] / rest.name)
