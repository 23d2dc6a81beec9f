"""The whole build as report.json holds it: ``BuildResult``, and ``read_report``, the one way every feature
(bundle, serve, merge, compare) reads a report back as typed rows."""

from __future__ import annotations

import json
from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError, model_validator
from pydantic.dataclasses import dataclass as typed_dataclass

from edgeconv.errors import SpecError
from edgeconv.results.facts import BudgetCheck, json_safe
from edgeconv.results.rows import PASSED, SKIPPED, ArtifactResult

_OPTIONAL = ("shard", "merged", "ray", "timing", "machine")  # written only when the build has them


@typed_dataclass
class BuildResult:
    spec_name: str
    out_dir: str
    reference: ArtifactResult
    artifacts: list[ArtifactResult]
    export: dict[str, Any]
    manifest: dict[str, Any]  # manifest.json; report.json holds its versions and spec_sha256
    evaluation: dict[str, Any]
    selections: list[dict[str, Any]] = field(default_factory=list)  # `precision: auto` choices
    shard: dict[str, Any] | None = None  # --shard I/N: this shard's slice of the matrix (scale/shard.py)
    merged: dict[str, Any] | None = None  # `edgeconv merge`: the shards this result joins (scale/merge.py)
    ray: dict[str, Any] | None = None  # --ray: where the searches' trials ran (scale/trials.py); never timings
    timing: dict[str, Any] | None = None  # the interleaved pass: rounds, order, load (verify/retime.py)
    machine: dict[str, Any] | None = None  # the CPU that built and timed: which precisions it executes natively
    # build --baseline: compare's Comparison with the earlier build (compare.md); part of the exit code, not of
    # report.json. Typed Any: results sits below compare.
    gate: Any = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return all(a.status in (PASSED, SKIPPED) for a in self.artifacts)

    @property
    def failed_budgets(self) -> list[tuple[ArtifactResult, BudgetCheck]]:
        return [(a, b) for a in self.artifacts for b in a.budgets if not b.passed]

    @property
    def spec_sha256(self) -> str | None:
        return self.manifest.get("spec_sha256")

    @property
    def versions(self) -> dict[str, Any]:
        return self.manifest.get("versions", {})

    @model_validator(mode="before")
    @classmethod
    def _from_report(cls, data: Any) -> Any:
        """A dict is report.json (``name``, the manifest's versions and spec hash, ``passed`` recomputed); a
        constructor call passes through. report.json does not say where it lies: ``out_dir`` may be given."""
        if not isinstance(data, dict):
            return data
        return {
            "spec_name": data.get("name"), "out_dir": data.get("out_dir", ""), "reference": data.get("reference"),
            "artifacts": data.get("artifacts"), "export": data.get("export") or {},
            "manifest": {"versions": data.get("versions", {}), "spec_sha256": data.get("spec_sha256")},
            "evaluation": data.get("evaluation") or {}, "selections": data.get("selections") or [],
            **{k: data[k] for k in _OPTIONAL if data.get(k)},
        }

    @classmethod
    def from_report(cls, report: dict[str, Any], out_dir: str | Path = "") -> BuildResult:
        """The typed result of a report.json dict: ``from_report(r).to_dict() == r`` for every report edgeconv
        writes (tests/conftest.py checks each one the suite writes)."""
        return _ADAPTER.validate_python({**report, "out_dir": str(out_dir)})

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "name": self.spec_name, "passed": self.passed,
            "reference": self.reference.to_dict(),
            "artifacts": [a.to_dict() for a in self.artifacts],
            "export": self.export, "evaluation": self.evaluation, "selections": self.selections,
            "versions": self.versions, "spec_sha256": self.spec_sha256,
            **{k: getattr(self, k) for k in _OPTIONAL if getattr(self, k)},
        })


_ADAPTER = TypeAdapter(BuildResult)


def report_json(path: Path) -> dict[str, Any]:
    """report.json as its JSON dict, refused in one line (exit 2) when it is not an edgeconv report (``compare``
    reads reports of older edgeconv versions key by key through it)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"no report at '{path}'", fix="pass a report.json file or a build folder that holds one")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"'{path}' is not an edgeconv report: not JSON ({exc})",
                        fix="pass the report.json written by `edgeconv build`") from exc
    if not isinstance(report, dict) or not isinstance(report.get("artifacts"), list):
        raise SpecError(f"'{path}' is not an edgeconv report: no 'artifacts' list",
                        fix="pass the report.json written by `edgeconv build`")
    return report


def read_report(path: Path) -> BuildResult:
    """A build's report.json as a typed BuildResult (``out_dir``: its folder): how bundle, serve and merge read
    a build back."""
    path = Path(path)
    try:
        return BuildResult.from_report(report_json(path), path.parent)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SpecError(f"'{path}' is not an edgeconv report: {where}: {first['msg']}",
                        fix="pass the report.json written by `edgeconv build` (or rebuild with this edgeconv)") from exc
