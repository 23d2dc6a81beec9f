"""``prune.auto``: pruned candidates built beside the unpruned artifacts, so ``precision: auto`` and
``build --device`` choose across prune levels as they do across runtimes and precisions.

Each level gets its own stage folder (``out/prune-auto/<tag>/``: the pruned model, its distillation and its
artifacts, cached like any stage) and its rows are named ``<target>@<tag>``. The reference stays the unpruned
fp32 model, so every candidate is judged against the same outputs and timed in the same interleaved pass. A
level costs a prune and a distillation (minutes on a CPU): the build says how long each took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgeconv.cache.stages import Stages
from edgeconv.errors.failures import contained
from edgeconv.results import ERROR, ArtifactResult, pruned_label
from edgeconv.spec import PruneSpec

if TYPE_CHECKING:
    from edgeconv.api.session import Session
    from edgeconv.spec.targets import TargetProfile

BuildRows = Callable[["Session", list[tuple["TargetProfile", list[str]]]], list[ArtifactResult]]


def level_tag(level: PruneSpec) -> str:
    """A prune level's name in row labels and folders: ``prune-b2-r0.35`` (blocks dropped, width ratio)."""
    parts = [f"b{level.drop_blocks}"] if level.drop_blocks else []
    parts += [f"r{level.ratio:g}"] if level.ratio is not None else []
    return "-".join(["prune", *parts]) if level.mode == "structured" else f"prune-{level.mode}-r{level.ratio:g}"


def pruned_candidates(session: Session, selected: list[tuple[TargetProfile, list[str]]], build_rows: BuildRows,
                      ) -> tuple[list[ArtifactResult], list[dict[str, Any]]]:
    """Every level's artifacts (unjudged: the build times and judges them with the others), and what each level
    cost: {prune, build_s, rows, error}."""
    from edgeconv.api.session import with_pruned

    prune = session.spec.prune
    assert prune is not None
    rows: list[ArtifactResult] = []
    costs: list[dict[str, Any]] = []
    for level in prune.levels():
        tag = level_tag(level)
        stages = Stages(session.stages.out / "prune-auto" / tag, use_cache=session.stages.use_cache,
                        on_event=session.stages.on_event, remote=session.stages.remote)
        start = time.perf_counter()
        cost: dict[str, Any] = {"prune": tag}
        try:
            mine = build_rows(with_pruned(session, level, stages), selected)
        except Exception as exc:  # contained: one level's failure costs that level, not the build
            cost["error"] = str(contained(f"prune {tag}", exc, session.stages.out))
            mine = [ArtifactResult(target=profile.name, backend=profile.backend, precision=precision,
                                   status=ERROR, reason=cost["error"])
                    for profile, precisions in selected for precision in precisions]
        for row in mine:
            row.target = pruned_label(row.target, tag)
        cost.update(build_s=round(time.perf_counter() - start, 1), rows=len(mine))
        costs.append(cost)
        rows += mine
    return rows, costs
