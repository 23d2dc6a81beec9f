"""What ends a build for every caller alike: its reports written, the ``--baseline`` gate, and its exit code.

Here, not in the CLI, so ``api.build(spec, baseline=...)`` leaves exactly the files ``edgeconv build`` leaves and
``exit_code(result)`` is the code the command exits with: the CLI only maps it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from edgeconv.compress.trials import on_ray, ray_record
from edgeconv.errors import ExitCode
from edgeconv.report import write_reports
from edgeconv.results import ERROR, BuildResult
from edgeconv.spec import Spec


@contextlib.contextmanager
def within_ray(address: str | None) -> Iterator[None]:
    """The searches' trials on Ray at ``address`` ("local": a Ray started here) for the block; None: as the
    caller set it (a caller's own ``on_ray`` block, or no Ray)."""
    with on_ray(address) if address else contextlib.nullcontext():
        yield


def finish(result: BuildResult, spec: Spec | None = None, baseline: Path | None = None) -> BuildResult:
    """Write every report of ``result`` into its folder, then, with a ``baseline`` (an earlier report.json or
    build folder), hold it to that build: compare.md and compare-junit.xml beside the reports, the comparison in
    ``result.gate``. The spec gives the gate its default limits and its trusted custom metric."""
    result.ray = ray_record() or result.ray
    write_reports(result, Path(result.out_dir))
    if baseline is not None:
        from edgeconv.compare.gate import gate_on_baseline

        result.gate = gate_on_baseline(result, Path(baseline), spec)
    return result


def exit_code(result: BuildResult) -> ExitCode:
    """4 when an artifact could not be built or verified, 1 when a budget is missed or the gate found a
    regression beyond noise, else 0."""
    if any(a.status == ERROR for a in result.artifacts):
        return ExitCode.STAGE_FAILED
    if not result.passed or (result.gate is not None and result.gate.regressed):
        return ExitCode.BUDGET_FAILED
    return ExitCode.OK
