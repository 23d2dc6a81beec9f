"""`edgeconv prune --sweep`: one pruned model per ratio, each built and verified like a build's artifacts.

The unpruned reference (and its artifacts, as ratio 0) is prepared once; each ratio gets its own
stage folder (``out/sweep/ratio-<r>/``) so its pruned model and artifacts are cached and kept side
by side. Rows that no other row beats on accuracy, p50 latency and size at once are Pareto-optimal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import KW_ONLY, asdict, dataclass
from pathlib import Path
from typing import Any

from edgeconv.compress.trials import on_ray_now
from edgeconv.errors import SpecError
from edgeconv.results import PRUNE, ArtifactResult, BuildResult, row_label
from edgeconv.spec import PruneSpec, Spec


@dataclass
class SweepRow:
    """One ratio x precision of the sweep: the figures its artifact measured, flat, for sweep.json and the plot."""

    ratio: float
    precision: str
    status: str
    _: KW_ONLY  # the figures are named: each row is made from its ArtifactResult by ``_row``
    params: int | None = None
    size_bytes: int | None = None
    size_gzip_bytes: int | None = None
    accuracy: float | None = None
    accuracy_delta: float | None = None
    agreement: float | None = None
    p50_ms: float | None = None
    speedup: float | None = None
    path: str | None = None
    pareto: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_ratios(text: str) -> list[float]:
    try:
        ratios = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise SpecError(f"--sweep '{text}' is not a list of numbers", fix="e.g. --sweep 0.1,0.2,0.3") from exc
    bad = [r for r in ratios if not 0 < r < 1]
    if not ratios or bad:
        raise SpecError(f"--sweep ratios must lie strictly between 0 and 1 (got {bad or 'none'})",
                        fix="e.g. --sweep 0.1,0.2,0.3")
    return sorted(set(ratios))


DEFAULT_PRECISIONS = ["fp32", "int8-dynamic"]


@dataclass
class Sweep:
    """A finished `prune --sweep`: the build of every row (its reports written), the rows, and the mode swept."""

    result: BuildResult
    rows: list[SweepRow]
    mode: str


def sweep(
    spec: Spec, ratios: list[float], precisions: list[str] | None = None, out: Path | None = None,
    mode: str | None = None, use_cache: bool = True, on_event: Callable[[str, str], None] | None = None,
    ray: str | None = None,
) -> Sweep:
    """`edgeconv prune --sweep` as one call: ``run_sweep`` (on Ray at ``ray`` when given), then every report a
    build writes, report.md with the sweep's table (Pareto rows marked) and report.html with its chart."""
    from edgeconv.api.outcome import finish, within_ray
    from edgeconv.fsutil import write_text
    from edgeconv.report import render_html, report_paths
    from edgeconv.report.prune import render_sweep_markdown

    folder = Path(out or spec.output)
    with within_ray(ray):
        result, rows = run_sweep(spec, ratios, precisions or DEFAULT_PRECISIONS, folder, mode, use_cache=use_cache,
                                 on_event=on_event)
        finish(result)
    chosen = mode or (spec.prune.mode if spec.prune else "structured")
    paths = report_paths(folder)
    markdown = paths["markdown"].read_text(encoding="utf-8")
    write_text(paths["markdown"], markdown.rstrip() + "\n\n" + render_sweep_markdown(
        rows, chosen, spec.prune.drop_blocks if spec.prune and chosen == "structured" else 0))
    write_text(paths["html"], render_html(result.to_dict(), sweep=[r.to_dict() for r in rows]))
    return Sweep(result, rows, chosen)


def run_sweep(
    spec: Spec, ratios: list[float], precisions: list[str], out: Path, mode: str | None = None,
    use_cache: bool = True, on_event: Callable[[str, str], None] | None = None,
) -> tuple[BuildResult, list[SweepRow]]:
    """Build and verify the unpruned artifacts (ratio 0) and one pruned set per ratio."""
    from edgeconv.api.pipeline import build_artifacts, result_of
    from edgeconv.api.session import reference_session, with_pruned
    from edgeconv.cache.stages import Stages
    from edgeconv.spec.targets import get_profile

    base = spec.prune or PruneSpec(mode=mode or "structured", ratio=ratios[0])
    if mode and base.mode != mode:
        # whole blocks are structured pruning: another mode's sweep keeps every block
        base = PruneSpec.model_validate({**base.model_dump(), "mode": mode, "ratio": ratios[0],
                                         "drop_blocks": base.drop_blocks if mode == "structured" else 0})
    if base.mode == "2:4":
        raise SpecError("a 2:4 sweep has nothing to sweep: 2:4 always removes half the weights",
                        fix="sweep mode structured or unstructured")
    unpruned = spec.model_copy(update={"prune": None})
    target = spec.targets[0]
    if not target.name:
        raise SpecError("prune --sweep builds one named target, and this spec's target is a device class",
                        fix="use a spec with targets: [x86-cpu-ort] (or --set) for the sweep")
    profile, _ = get_profile(target.name).for_build(target)
    selected = [(profile, precisions)]
    session = reference_session(unpruned, out, use_cache=use_cache, on_event=on_event)
    levels = [(PruneSpec.model_validate({**base.model_dump(), "ratio": r, "auto": None}),
               Path(out) / "sweep" / f"ratio-{r:g}") for r in ratios]
    on_ray = on_ray_now()
    if on_ray:  # each ratio's pruning and distillation as a Ray task, into this build's stage cache
        _prune_on_ray(unpruned, session, levels, use_cache)
    results: list[tuple[float, ArtifactResult]] = [(0.0, a) for a in build_artifacts(session, selected)]
    for ratio, (prune, folder) in zip(ratios, levels, strict=True):
        # On Ray, the tasks just made (or, without --no-cache, reused) each ratio's pruned model: use it here.
        stages = Stages(folder, use_cache=use_cache or on_ray, on_event=on_event, remote=session.stages.remote)
        pruned = with_pruned(session, prune, stages)
        for artifact in build_artifacts(pruned, selected):
            artifact.target = row_label(profile.name, prune=f"{PRUNE}{ratio:g}")
            results.append((ratio, artifact))
    rows = mark_pareto([_row(ratio, a) for ratio, a in results])
    unpruned_params = next((a.prune.params_before for _, a in results if a.prune is not None), None)
    for row in rows:
        if row.ratio == 0:
            row.params = unpruned_params
    build = result_of(unpruned, Path(out), session, [a for _, a in results])
    return build, rows


def _prune_on_ray(spec: Spec, session: Any, levels: list[tuple[PruneSpec, Path]], use_cache: bool) -> None:
    """--ray: prune and distil every ratio as a Ray task (the sweep's heavy, independent part), each writing its
    stages into this build's cache; the loop that follows finds them there and builds, verifies and times the
    artifacts here, so no latency comes from a Ray worker. Each task asks for this machine's cores, the threads
    torch uses here, so the distillation's arithmetic (and its result) is the same as in the sequential run."""
    from edgeconv.compress.trials import map_trials
    from edgeconv.machine import physical_cores
    from edgeconv.progress.steps import Task

    trial = functools.partial(prune_level, spec=spec, prepared=session.prepared, cache=session.stages.cache,
                              remote=session.stages.remote, use_cache=use_cache)
    map_trials(trial, levels, physical_cores(), Task("prune sweep on Ray: ratio", len(levels)),
               lambda level, sha: f"{level[0].ratio:g}: pruned model {sha[:12]}")


def prune_level(level: tuple[PruneSpec, Path], spec: Spec, prepared: Any, cache: Path, remote: Any,
                use_cache: bool) -> str:
    """One ratio's pruned and distilled fp32 ONNX (a Ray task: a module-level function); its sha256. With a
    remote cache, a node that does not share this machine's disk uploads it there, and the build downloads it."""
    from edgeconv.api.prune_stage import pruned_reference
    from edgeconv.api.session import torch_loader
    from edgeconv.cache.stages import Stages

    prune, folder = level
    stages = Stages(folder, use_cache=use_cache, cache=cache, remote=remote)
    return pruned_reference(spec, prune, prepared, stages, torch_loader(spec)).sha256


def _row(ratio: float, a: ArtifactResult) -> SweepRow:
    from edgeconv.compress.sparsity import gzip_size

    m, prune = a.measurement, a.prune
    path = Path(a.path) if a.path else None
    gzip_bytes = (prune.size_gzip_bytes if prune else None) or (gzip_size(path) if path else None)
    return SweepRow(
        ratio=ratio, precision=a.precision, status=a.status, params=prune.params_after if prune else None,
        size_bytes=a.size_bytes, size_gzip_bytes=gzip_bytes,
        accuracy=m.accuracy if m else None, accuracy_delta=a.accuracy_delta, agreement=m.agreement if m else None,
        p50_ms=m.latency_ms["p50"] if m else None, speedup=a.speedup_vs_reference, path=a.path,
    )


def mark_pareto(rows: list[SweepRow]) -> list[SweepRow]:
    """A measured row is Pareto-optimal when no other row is as accurate, as fast and as small, and better in one."""
    measured = [r for r in rows if None not in (r.accuracy, r.p50_ms, r.size_bytes)]

    def beats(a: SweepRow, b: SweepRow) -> bool:
        ge = a.accuracy >= b.accuracy and a.p50_ms <= b.p50_ms and a.size_bytes <= b.size_bytes  # type: ignore[operator]
        gt = a.accuracy > b.accuracy or a.p50_ms < b.p50_ms or a.size_bytes < b.size_bytes  # type: ignore[operator]
        return ge and gt

    for row in measured:
        row.pareto = not any(beats(other, row) for other in measured if other is not row)
    return rows
