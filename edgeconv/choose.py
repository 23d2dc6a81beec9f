"""`precision: auto` and the timing warnings (slower than the reference, oversubscribed threads): what a build
recommends for each target."""

from __future__ import annotations

from typing import Any

from edgeconv.results import PASSED, ArtifactResult


def pass_reference(artifact: ArtifactResult) -> float:
    """The reference's p50 in the timing pass this artifact was timed in, recorded by `edgeconv merge`; 1.0 for
    one build. One build times everything in one pass, so ranking by milliseconds equals ranking by speed-up;
    merged shards join several passes, and each time is ranked as a share of the reference timed beside it,
    never as raw milliseconds from different processes."""
    return float((artifact.extra.get("timing_pass") or {}).get("reference_p50_ms") or 1.0)


def selections_of(artifacts: list[ArtifactResult], device: str | None, auto_targets: list[str],
                  left_out: list[str], pruned: dict[str, Any]) -> list[dict[str, Any]]:
    """Every choice a build makes: one across runtimes for a device build, else one per ``auto`` target (with
    its prune.auto candidates ``<target>@prune-...``)."""
    from edgeconv.compress.prune_auto import candidate_of

    if device is not None:
        return [{**choose_for_device(device, artifacts), "left_out": left_out, **pruned}]
    return [{**choose_precision(name, [a for a in artifacts if candidate_of(name, a.target)]), **pruned}
            for name in auto_targets]


def choose_precision(target: str, artifacts: list[ArtifactResult]) -> dict[str, Any]:
    """``precision: auto``: the fastest artifact (p50) that met every budget, and why it won."""
    passing = [a for a in artifacts if a.status == PASSED and a.measurement is not None]
    # A reduced precision that runs slower than the fp32 reference replaces it with nothing gained.
    slower = [a for a in passing if a.precision != "fp32" and (a.speedup_vs_reference or 0.0) < 1.0]
    passing = [a for a in passing if a not in slower]
    if not passing:
        why = "no precision met every budget; see the failed budgets of each artifact"
        if slower:
            why = "every precision that met the budgets ran slower than the fp32 reference: " + ", ".join(
                f"{a.precision} " + (f"{a.speedup_vs_reference:.2f}x" if a.speedup_vs_reference is not None
                                     else "(speed-up unknown)") for a in slower)
        return {"target": target, "precision": None, "reason": why}
    best = min(passing, key=lambda a: a.measurement.latency_ms["p50"] / pass_reference(a))  # type: ignore[union-attr]
    best.extra["selected"] = True
    others = ", ".join(_describe(a, a in slower, a.target != target) for a in artifacts if a is not best)
    # best.target: the target itself, or one of its pruned candidates (prune.auto: "<target>@prune-...")
    return {"target": best.target, "precision": best.precision, "path": best.path,
            "reason": f"fastest that met every budget: p50 {best.measurement.latency_ms['p50']:.2f} ms "  # type: ignore[union-attr]
                      f"(others: {others or 'none'})"}


def _describe(artifact: ArtifactResult, slower: bool, pruned: bool = False) -> str:
    name = artifact.label if pruned else artifact.precision
    if artifact.measurement is None:
        return f"{name} {artifact.status}"
    note = " (slower than the reference)" if slower else ""
    return f"{name} {artifact.measurement.latency_ms['p50']:.2f} ms{note}"


SLOWER_MARGIN = 0.95  # timings drift a few percent between processes: warn only past that


def slower_than_reference(result: ArtifactResult) -> str | None:
    """A warning when the artifact runs slower than the fp32 reference it is meant to replace."""
    speedup = result.speedup_vs_reference
    if speedup is None or speedup >= SLOWER_MARGIN:
        return None
    text = f"runs at {speedup:.2f}x the fp32 reference's speed (slower) on this machine"
    return text if result.precision == "fp32" else text + "; `precision: auto` does not choose it"


def oversubscribed(result: ArtifactResult, physical_cores: int) -> str | None:
    """A warning when an artifact timed here ran with more threads than this machine has cores (a 4-core board's
    profile on a 2-core build machine): its latency is then neither this machine's best nor the board's."""
    threads = ((result.extra.get("runner") or {}).get("kwargs") or {}).get("threads")
    if not isinstance(threads, int) or threads <= physical_cores or result.extra.get("remote"):
        return None
    return (f"timed with {threads} threads on this machine's {physical_cores} physical cores (oversubscribed: "
            f"neither this machine's latency nor the board's); set the target's threads: {physical_cores} here, "
            "or time it on the board (devices:)")


def choose_for_device(device_class: str, artifacts: list[ArtifactResult]) -> dict[str, Any]:
    """``build --device``: the fastest artifact of any runtime that met every budget and is not slower than the
    fp32 reference; among those whose p50 cannot be told apart from the fastest's (their medians' 95% notches
    overlap, McGill et al.: median +- 1.57 IQR / sqrt(n), from the interleaved pass's raw timings), the smaller,
    then the more faithful one. The ranking, and why each lost, is returned for the report."""
    import numpy as np

    def notch_ms(a: ArtifactResult) -> float:
        timings = np.asarray(a.measurement.timings_ms if a.measurement else [], float)  # type: ignore[union-attr]
        if timings.size < 2:
            return 0.0
        q75, q25 = np.percentile(timings, [75, 25])
        return 1.57 * float(q75 - q25) / timings.size ** 0.5

    def ms(a: ArtifactResult) -> float:
        return a.measurement.latency_ms["p50"]  # type: ignore[union-attr]

    # What is compared: ms, or a share of its pass's reference (merged shards)
    def p50(a: ArtifactResult) -> float:
        return ms(a) / pass_reference(a)

    def notch(a: ArtifactResult) -> float:
        return notch_ms(a) / pass_reference(a)

    measured = [a for a in artifacts if a.measurement is not None]
    eligible = [a for a in measured if a.status == PASSED
                and (a.precision == "fp32" or (a.speedup_vs_reference or 0.0) >= 1.0)]
    ranking = []
    best = None
    if eligible:
        fastest = min(eligible, key=p50)
        ties = [a for a in eligible if p50(a) - p50(fastest) <= notch(a) + notch(fastest)]
        best = min(ties, key=lambda a: (a.size_bytes or 0, -_faithfulness(a)))
        best.extra["selected"] = True
    for a in sorted(measured, key=p50):
        if a is best:
            why = "chosen" + (f" (within the timing noise of {len(ties) - 1} other(s): smaller or more faithful)"
                              if len(ties) > 1 else "")
        elif a.status != PASSED:
            why = "missed a budget"
        elif a not in eligible:
            why = "slower than the fp32 reference"
        elif a in ties:
            why = "as fast within noise, but larger or less faithful"
        else:
            why = "slower"
        m = a.measurement
        ranking.append({"artifact": a.label, "p50_ms": round(ms(a), 3),
                        "notch_ms": round(notch_ms(a), 3),
                        "p90_ms": round(m.latency_ms["p90"], 3) if m else None,  # type: ignore[union-attr]
                        "accuracy_delta": a.accuracy_delta, "agreement": m.agreement if m else None,
                        "size_bytes": a.size_bytes, "status": a.status, "why": why})
    if best is None:
        return {"device": device_class, "target": f"device {device_class}", "precision": None, "ranking": ranking,
                "reason": "no artifact met every budget without running slower than the fp32 reference"}
    return {"device": device_class, "target": best.target, "precision": best.precision, "path": best.path,
            "ranking": ranking, "reason": f"device {device_class}: fastest of {len(eligible)} artifact(s) of any "
                                          f"runtime that met every budget: p50 {ms(best):.2f} ms"}


def _faithfulness(a: ArtifactResult) -> float:
    """Agreement with the reference when measured, else the worst output's cosine: higher is more faithful."""
    m = a.measurement
    if m is not None and m.agreement is not None:
        return m.agreement
    cosines = [o.get("cosine", 0.0) for o in (m.outputs or {}).values()] if m is not None else []
    return min(cosines, default=0.0)
