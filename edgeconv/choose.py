"""`precision: auto`, the choice across runtimes for `build --device`, and the timing warnings (slower than the
reference, oversubscribed threads): what a build recommends.

Every choice ranks speed-ups over the reference timed in the same pass (one build's interleaved pass, or each
shard's own in a merge), never milliseconds from different passes, and never by a bare median: artifacts that
cannot be told apart from the fastest are a tie, and among them the smaller, then the more faithful, one wins (the
documented tie-break). Two rows timed in the same pass are compared round by round (the ratio of their p50s in each
round, with its 95% interval), as each is compared with the reference: a burst of load slows both in that round, so
it cancels, where two separate intervals against the reference add their noise and call a 1.4x gap a tie (when
the pass was loaded, the paired interval is 99%, ``LOADED_CONFIDENCE``, and must clear how far a second session
of the reference's own file read from it in that pass, ``noise_floor``). Rows without shared rounds (a board's
figures, two shards, an older report) fall back to overlapping intervals. Each choice records its margin over the
runner-up.
"""

from __future__ import annotations

from typing import Any

from edgeconv.results import PASSED, ArtifactResult
from edgeconv.verify.timing import SLOWER_MARGIN

# Other processes on the cores make each row's turn in a round land in a different regime (here: 9, 15 or 23 ms for
# one file, as the scheduler gave it two cores, one, or a share), so a true tie reads as a winner more often: with
# the fastest of three identical rows compared with the other two over 24 rounds, 5% of builds at 95% (and so two
# builds disagree ~10% of the time: a CI run did), 1.7% at 99% (simulated from a loaded build's rounds).
LOADED_CONFIDENCE = 0.99


def speed_interval(a: ArtifactResult) -> tuple[float, float, float]:
    """(median, low, high) of the speed-up over the reference: the interleaved pass's interval; for a row timed
    without one (a board's figures, an older report), the 95% notch of its timings' median (McGill et al.:
    median +- 1.57 IQR / sqrt(n)) carried over to the speed-up."""
    import numpy as np

    s = a.speedup_vs_reference or 0.0
    if a.speedup_interval:
        return s, float(a.speedup_interval[0]), float(a.speedup_interval[1])
    timings = np.asarray(a.measurement.timings_ms if a.measurement else [], float)
    if timings.size < 2 or not s:
        return s, s, s
    p50 = float(np.median(timings))
    q75, q25 = np.percentile(timings, [75, 25])
    notch = 1.57 * float(q75 - q25) / timings.size ** 0.5
    return s, s * p50 / (p50 + notch), s * p50 / max(p50 - notch, 1e-9)


def verdict_of(low: float, high: float, floor: float = 1.0) -> str:
    """Against the reference: "faster" or "slower" when the whole interval says so, else "same" (it contains 1,
    or reaches into the pass's ``noise_floor``: not distinguishable)."""
    return "faster" if low > floor else "slower" if high < 1.0 / floor else "same"


def verdict(a: ArtifactResult) -> str | None:
    """``verdict_of`` an artifact's speed-up interval; None when it was not timed."""
    return None if a.speedup_vs_reference is None else verdict_of(*speed_interval(a)[1:], noise_floor(a))


def noise_floor(a: ArtifactResult) -> float:
    """How far from 1.00 a file identical to the reference read in the loaded pass that timed ``a`` (its A/A
    control, ``verify.retime``; >= 1): under load a difference within it is no difference. 1.0 when the pass was
    quiet or ran no control."""
    if not loaded_pass(a):
        return 1.0
    control = a.timing.interleaved.get("control") if a.timing is not None else None  # type: ignore[union-attr]
    return max(1.0, float(control["floor"])) if isinstance(control, dict) else 1.0


def clearly_slower(a: ArtifactResult) -> bool:
    """Slower than the reference by the whole interval, and by more than the margin."""
    return verdict(a) == "slower" and speed_interval(a)[0] < SLOWER_MARGIN


def speed_text(s: float | None, low: float | None, high: float | None, identical_to: str | None = None, *,
               reference: bool = False, cell: bool = False, floor: float = 1.0) -> str:
    """A speed-up over the reference, written one way everywhere: ``2.10x (1.95-2.30)`` in a sentence (a choice's
    reason, a warning); in a table ``cell``, ``2.10× (1.95–2.30)``, with ``≈`` before one whose interval contains
    1 (not distinguishable from the reference) and ``= <row>`` for a byte-identical file, which shares that row's
    figure."""
    if s is None:
        return "–" if cell else "speed-up unknown"
    if identical_to:
        return f"= {identical_to}" if cell else f"{s:.2f}x (identical to {identical_to})"
    times, dash = ("×", "–") if cell else ("x", "-")
    low, high = (s, s) if low is None or high is None else (low, high)
    text = f"{s:.2f}{times}" + (f" ({low:.2f}{dash}{high:.2f})" if (low, high) != (s, s) else "")
    same = cell and not reference and (low, high) != (s, s) and verdict_of(low, high, floor) == "same"
    return "≈" + text if same else text


def speedup_text(a: ArtifactResult, cell: bool = False) -> str:
    """``speed_text`` of an artifact: its interval from the interleaved pass, else its timings' notch."""
    if a.speedup_vs_reference is None:
        return speed_text(None, None, None, cell=cell)
    return speed_text(*speed_interval(a), a.identical_to, reference=a.target == "reference", cell=cell,
                      floor=noise_floor(a))


def paired_speedup(slow: ArtifactResult, fast: ArtifactResult) -> tuple[float, float, float] | None:
    """``fast``'s speed-up over ``slow`` (median, low, high) from their p50s round by round, when both were timed
    in the same interleaved pass (a 99% interval when that pass was loaded, else 95%); None otherwise."""
    from edgeconv.verify.timing import round_ratio

    a, b = (r.timing.round_p50_ms if r.timing is not None else None for r in (slow, fast))
    shards = {r.timing_pass.shard if r.timing_pass is not None else None for r in (slow, fast)}
    if not a or not b or len(a) != len(b) or len(shards) != 1 or min(b) <= 0:
        return None
    return round_ratio(a, b, LOADED_CONFIDENCE if loaded_pass(slow) or loaded_pass(fast) else 0.95)


def loaded_pass(a: ArtifactResult) -> bool:
    """Whether the interleaved pass that timed ``a`` saw other processes take the cores."""
    record = a.timing.interleaved if a.timing is not None else None
    return isinstance(record, dict) and bool(record.get("loaded"))


def tied(a: ArtifactResult, fastest: ArtifactResult) -> bool:
    """Whether ``a`` cannot be told from the fastest: round by round when they share a pass (the fastest's
    interval over ``a`` reaches 1, or under load the ``noise_floor``), else their speed-up intervals overlap."""
    if a is fastest:
        return True
    paired = paired_speedup(a, fastest)
    if paired is not None:
        return paired[1] <= max(noise_floor(a), noise_floor(fastest))
    return speed_interval(a)[2] >= speed_interval(fastest)[1]


def pick(eligible: list[ArtifactResult]) -> tuple[ArtifactResult, list[ArtifactResult], dict[str, Any]]:
    """The chosen artifact, the artifacts tied with the fastest (``tied``), and the choice's margin: over the
    fastest artifact outside the tie, or that none is distinguishable."""
    fastest = max(eligible, key=lambda a: speed_interval(a)[0])
    ties = [a for a in eligible if tied(a, fastest)]
    best = min(ties, key=lambda a: (a.size_bytes or 0, -faithfulness(a), -speed_interval(a)[0]))
    best.selected = True
    margin: dict[str, Any] = {"tied_with": [a.label for a in ties if a is not best]}
    rest = [a for a in eligible if a not in ties]
    if rest:
        runner_up = max(rest, key=lambda a: speed_interval(a)[0])
        margin.update(runner_up=runner_up.label,
                      ratio=round(speed_interval(best)[0] / max(speed_interval(runner_up)[0], 1e-9), 3))
    return best, ties, margin


def margin_text(best: ArtifactResult, margin: dict[str, Any]) -> str:
    tied = margin["tied_with"]
    text = f"{speedup_text(best)} the reference's speed"
    if tied:
        text += (f"; not distinguishable from {', '.join(tied)} (within the timing noise): chosen as the smaller, "
                 "then more faithful")
    if margin.get("runner_up"):
        text += f"; {margin['ratio']:.2f}x the speed-up of the next, {margin['runner_up']}"
    return text


def selections_of(artifacts: list[ArtifactResult], device: str | None, auto_targets: list[str],
                  left_out: list[str], pruned: dict[str, Any]) -> list[dict[str, Any]]:
    """Every choice a build makes: one across runtimes for a device build, else one per ``auto`` target (with
    its prune.auto candidates ``<target>@prune-...``)."""
    from edgeconv.results import candidate_of

    if device is not None:
        return [{**choose_for_device(device, artifacts), "left_out": left_out, **pruned}]
    return [{**choose_precision(name, [a for a in artifacts if candidate_of(name, a.target)]), **pruned}
            for name in auto_targets]


def choose_precision(target: str, artifacts: list[ArtifactResult]) -> dict[str, Any]:
    """``precision: auto``: the fastest artifact that met every budget (ties: smaller, then more faithful)."""
    passing = [a for a in artifacts if a.status == PASSED and a.measurement is not None]
    # A reduced precision that runs slower than the fp32 reference replaces it with nothing gained.
    slower = [a for a in passing if a.precision != "fp32" and clearly_slower(a)]
    passing = [a for a in passing if a not in slower]
    if not passing:
        why = "no precision met every budget; see the failed budgets of each artifact"
        if slower:
            why = "every precision that met the budgets ran slower than the fp32 reference: " + ", ".join(
                f"{a.precision} {speedup_text(a)}" for a in slower)
        return {"target": target, "precision": None, "reason": why}
    best, _, margin = pick(passing)
    others = ", ".join(_describe(a, a in slower, a.target != target) for a in artifacts if a is not best)
    # best.target: the target itself, or one of its pruned candidates (prune.auto: "<target>@prune-...")
    return {"target": best.target, "precision": best.precision, "path": best.path, "margin": margin,
            "reason": f"fastest that met every budget: {margin_text(best, margin)} (others: {others or 'none'})"}


def _describe(artifact: ArtifactResult, slower: bool, pruned: bool = False) -> str:
    name = artifact.label if pruned else artifact.precision
    if artifact.measurement is None:
        return f"{name} {artifact.status}"
    note = " (slower than the reference)" if slower else ""
    return f"{name} {speedup_text(artifact)}{note}"


def slower_than_reference(result: ArtifactResult) -> str | None:
    """A warning when the artifact runs slower than the fp32 reference it is meant to replace: only when the whole
    speed-up interval says so (a burst of load on a shared machine is not a slower artifact)."""
    if not clearly_slower(result):
        return None
    text = f"runs at {speedup_text(result)} the fp32 reference's speed (slower) on this machine"
    return text if result.precision == "fp32" else text + "; `precision: auto` does not choose it"


def oversubscribed(result: ArtifactResult, physical_cores: int) -> str | None:
    """A warning when an artifact timed here ran with more threads than this machine has cores (a 4-core board's
    profile on a 2-core build machine): its latency is then neither this machine's best nor the board's."""
    threads = result.runner.kwargs.get("threads") if result.runner is not None else None
    if not isinstance(threads, int) or threads <= physical_cores or result.remote is not None:
        return None
    return (f"timed with {threads} threads on this machine's {physical_cores} physical cores (oversubscribed: "
            f"neither this machine's latency nor the board's); set the target's threads: {physical_cores} here, "
            "or time it on the board (devices:)")


def choose_for_device(device_class: str, artifacts: list[ArtifactResult]) -> dict[str, Any]:
    """``build --device``: the fastest artifact of any runtime that met every budget and is not slower than the
    fp32 reference, by the same rule as ``auto``. The ranking, and why each lost, is returned for the report."""
    measured = [a for a in artifacts if a.measurement is not None]
    eligible = [a for a in measured if a.status == PASSED and (a.precision == "fp32" or not clearly_slower(a))]
    best, ties, margin = pick(eligible) if eligible else (None, [], {})
    ranking = []
    for a in sorted(measured, key=lambda a: -speed_interval(a)[0]):
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
        s, low, high = speed_interval(a)
        ranking.append({"artifact": a.label, "speedup": round(s, 3), "speedup_interval": [round(low, 3),
                                                                                          round(high, 3)],
                        "p50_ms": round(m.latency_ms["p50"], 3) if m else None,  # type: ignore[union-attr]
                        "p90_ms": round(m.latency_ms["p90"], 3) if m else None,  # type: ignore[union-attr]
                        "accuracy_delta": a.accuracy_delta, "agreement": m.agreement if m else None,
                        "size_bytes": a.size_bytes, "status": a.status, "why": why})
    if best is None:
        return {"device": device_class, "target": f"device {device_class}", "precision": None, "ranking": ranking,
                "reason": "no artifact met every budget without running slower than the fp32 reference"}
    return {"device": device_class, "target": best.target, "precision": best.precision, "path": best.path,
            "ranking": ranking, "margin": margin,
            "reason": f"device {device_class}: fastest of {len(eligible)} artifact(s) of any runtime that met every "
                      f"budget: {margin_text(best, margin)}"}


def faithfulness(a: ArtifactResult) -> float:
    """Agreement with the reference when measured, else the worst output's cosine: higher is more faithful."""
    m = a.measurement
    if m is not None and m.agreement is not None:
        return m.agreement
    cosines = [o.get("cosine", 0.0) for o in (m.outputs or {}).values()] if m is not None else []
    return min(cosines, default=0.0)
