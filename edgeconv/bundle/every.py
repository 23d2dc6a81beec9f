"""`edgeconv bundle OUT_DIR` as one library call: a bundle per target of a build (``make.make_bundle`` each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeconv.bundle.lm_files import NOT_BUNDLED
from edgeconv.bundle.make import make_bundle, targets_of
from edgeconv.errors import SpecError
from edgeconv.results import read_report


@dataclass
class Bundles:
    """The archives written, and the targets left out with why (none of their artifacts passed its budgets, or
    a decoder-LM runtime that run.py does not run yet)."""

    out_dir: Path
    made: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def check(self) -> None:
        """Raise SpecError when nothing was bundled (after the caller said what was skipped, and why)."""
        if not self.made:
            raise SpecError(f"no target of '{self.out_dir}' has an artifact that passed its budgets",
                            fix="fix the build, or pass --include-failed")


def make_bundles(out_dir: Path, targets: list[str] | None = None, dest: Path | None = None,
                 include_failed: bool = False, precisions: list[str] | None = None, every: bool = False) -> Bundles:
    """Bundle ``targets`` of the build in ``out_dir`` (default: every target of its report, skipping those with no
    artifact that passed) into ``dest`` (default: OUT_DIR/bundles). ``check()`` the result: nothing bundled is an
    error."""
    out_dir = Path(out_dir)
    done = Bundles(out_dir)
    for target in targets or targets_of(read_report(out_dir / "report.json")):
        try:
            done.made.append(make_bundle(out_dir, target, dest or out_dir / "bundles", include_failed, precisions,
                                         every))
        except SpecError as exc:
            if targets or not ("passed its budgets" in exc.message or exc.message.startswith(NOT_BUNDLED)):
                raise
            done.skipped.append((target, exc.message))
    return done
