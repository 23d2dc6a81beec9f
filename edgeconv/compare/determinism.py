"""Which stages of two builds of the same inputs produced identical bytes, and which did not.

Compares the sha256 of export/model.onnx and of every file under artifacts/*/ (stage.json aside:
it records keys, not outputs). The first stage whose bytes differ is the non-deterministic one:
artifacts made from differing exports differ for that reason alone, so they are not blamed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.cache.stages import STAGE_FILE
from edgeconv.errors import SpecError
from edgeconv.fsutil import sha256_file


@dataclass
class FileCheck:
    stage: str  # "export" or "artifacts/<target>-<precision>"
    file: str  # relative to the build folder
    identical: bool | None  # None: only one build has it
    sha256_a: str | None
    sha256_b: str | None


@dataclass
class DeterminismReport:
    files: list[FileCheck] = field(default_factory=list)

    @property
    def deterministic(self) -> bool:
        return all(f.identical for f in self.files)

    @property
    def nondeterministic_stages(self) -> list[str]:
        """Stages whose own output differs although what they consumed was identical."""
        export_same = all(f.identical for f in self.files if f.stage == "export")
        bad = {f.stage for f in self.files if f.identical is False}
        if not export_same:
            return ["export"]
        return sorted(bad)

    def to_dict(self) -> dict[str, Any]:
        return {"deterministic": self.deterministic, "nondeterministic_stages": self.nondeterministic_stages,
                "files": [asdict(f) for f in self.files]}


def _outputs(build: Path) -> dict[str, tuple[str, Path]]:
    found: dict[str, tuple[str, Path]] = {}
    export = build / "export" / "model.onnx"
    if export.is_file():
        found["export/model.onnx"] = ("export", export)
    for folder in sorted(p for p in (build / "artifacts").glob("*") if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != STAGE_FILE):
            found[f.relative_to(build).as_posix()] = (f"artifacts/{folder.name}", f)
    return found


def compare_builds(build_a: Path, build_b: Path) -> DeterminismReport:
    a, b = _outputs(Path(build_a)), _outputs(Path(build_b))
    if not a and not b:
        raise SpecError(f"neither '{build_a}' nor '{build_b}' holds export/ or artifacts/",
                        fix="pass two build output folders")
    report = DeterminismReport()
    for rel in sorted(set(a) | set(b)):
        ha = sha256_file(a[rel][1]) if rel in a else None
        hb = sha256_file(b[rel][1]) if rel in b else None
        same = None if ha is None or hb is None else ha == hb
        report.files.append(FileCheck((a.get(rel) or b[rel])[0], rel, same, ha, hb))
    return report
