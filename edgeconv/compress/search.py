"""The accuracy-aware int8 search, for any runtime: remedies in order of cost, then float fallback.

Trial 0 quantizes everything the recipe covers. If it misses a budget (``Judge.passes``), the error is
localised first when the runtime can (``localise``: which tensors lose the most, and why), then:
1. **remedies** (``rungs``, cheapest first: a calibration method, float residual outputs, SmoothQuant,
   7-bit weights, ...), each one trial; a remedy that brings the candidate closer to the reference is
   kept and the next one is tried on top of it (``compress/remedies.py`` lists them per runtime);
2. only then, when no trial met the budgets, **float fallback**: the units that read the activations the
   localisation found worst first (``diagnosed_first``), then the units ranked most sensitive (``rank``)
   go back to float, k = 1, 2, 4, ... until a trial passes, then bisection for the smallest k. When three
   doublings gain nothing (``STALL_AT``: the error is spread, not in a few units) the next trial keeps every
   ranked unit float, the fallback's ceiling; if even that misses, the error also lies outside the ranked units
   (element-wise ops, a MatMul's output), so a dropped remedy that keeps those float (``Rung.complements``)
   is tried again under the fallback, bisecting down from the ceiling.
The search stops at the first trial that meets every budget and is not slower than the fp32 reference
(timed interleaved with it, when the judge can; slower means under 0.95x its speed, the noise margin the
build's warnings use). The kept artifact is the passing, not-slower trial with
the fewest float units (the earliest on a tie), else the fastest passing one, else the closest one.
The number of trials is bounded (``quantize.fallback.max_trials``). Every trial is recorded.

A candidate the runtime refuses to load is not the end of the search when the backend can localise the refusal
(``refusal``: which node, why, and the remedy: settings that avoid it or the nodes to keep float): the remedy is
tried next, and every later trial is built on top of it; report.json's ``refusals`` names each refused node.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edgeconv.compress.judge import DETECTION, SEGMENTATION, TASK_FIGURES
from edgeconv.compress.qdq_error import POOR_SQNR_DB
from edgeconv.errors import StageError
from edgeconv.progress.steps import Task
from edgeconv.spec import FallbackSpec
from edgeconv.verify.timing import SLOWER_MARGIN

if TYPE_CHECKING:
    from edgeconv.compress.judge import Judge

R = TypeVar("R")
# (destination, units kept in float, the settings the remedies so far change) -> the candidate's record
Make = Callable[[Path, list[str], dict[str, Any]], R]
# (a candidate, what its load raised) -> the localised refusal ({"node", "why", "remedy", "keep_float", "change",
# ...}), or None when it is not a refusal the search can act on (then it is raised)
Refusal = Callable[[Path, Exception], "dict[str, Any] | None"]


@dataclass
class Rung:
    """One remedy: the settings it changes, and why it can help."""

    name: str
    change: dict[str, Any]
    why: str
    # keeps float what the fallback's units do not cover (weighted-ops: the element-wise ops): alone it may gain
    # nothing, and still be what the fallback needs once the ranked units' own error is gone
    complements: bool = False


# the diagnosis (or None) -> (the remedies to try, cheapest first; the ones left out: {"remedy", "why"})
Ladder = Callable[[dict[str, Any] | None], tuple[Sequence[Rung], list[dict[str, str]]]]


@dataclass
class Trial:
    float_nodes: list[str]
    accuracy: float
    agreement: float
    p50_ms: float
    passed: bool
    fidelity: dict[str, float] | None = None  # the worst output's cosine and SNR, when fidelity budgets are set
    remedies: list[str] = field(default_factory=list)  # the remedies this trial's settings hold
    reference_p50_ms: float | None = None  # the fp32 reference, timed interleaved with this trial
    refused: dict[str, Any] | None = None  # the runtime refused to load it: the node, why, and the remedy

    @property
    def slower(self) -> bool:
        """Slower than the fp32 reference it was timed beside, past the timing noise the build's warnings allow
        (timing.SLOWER_MARGIN: under 0.95x its speed); unknown: not slower."""
        return self.reference_p50_ms is not None and self.p50_ms * SLOWER_MARGIN > self.reference_p50_ms


def search_int8(make: Make[R], dst: Path, judge: Judge, settings: FallbackSpec,
                rank: Callable[[Path], list[Any]] | None, ladder: Ladder | None = None,
                localise: Callable[[Path], dict[str, Any]] | None = None,
                refusal: Refusal | None = None) -> tuple[R, dict[str, Any]]:
    """Write the chosen candidate to ``dst``; return its record and the ``fallback`` entry for report.json.
    ``ladder(diagnosis)`` gives the remedies to try and the ones left out with why."""
    work = dst.parent / ".trials"
    work.mkdir(exist_ok=True)
    trials: list[tuple[Trial, Path, R]] = []
    searching = settings.enabled and (rank is not None or ladder is not None)
    progress = Task("quantize-and-evaluate trial", settings.max_trials if searching else 1, at_most=searching)

    def attempt(float_units: list[str], change: dict[str, Any], remedies: list[str]) -> Trial:
        path = work / f"trial{len(trials)}{dst.suffix}"
        float_units = list(dict.fromkeys([*base.units, *float_units]))
        change, remedies = {**base.change, **change}, [*base.remedies, *remedies]
        record = make(path, float_units, change)
        try:
            score, agreement, p50, outputs = judge(path)
        except Exception as exc:
            found = refusal(path, exc) if refusal is not None else None
            if found is None:
                raise
            trial = Trial(float_units, float("nan"), float("nan"), float("nan"), False, None, remedies, refused=found)
        else:
            trial = Trial(float_units, score, agreement, p50, judge.passes(score, agreement, outputs),
                          trial_fidelity(outputs), remedies, judge.reference_p50_ms)
        trials.append((trial, path, record))
        progress.advance(describe(trial))
        return trial

    entry: dict[str, Any] = {}
    base = _Base()
    first = attempt([], {}, [])
    while first.refused is not None and len(trials) < settings.max_trials and base.take(first.refused):
        entry.setdefault("refusals", []).append({**first.refused, "trial": len(trials) - 1})
        first = attempt([], {}, [])
    if first.refused is not None:
        entry.setdefault("refusals", []).append({**first.refused, "trial": len(trials) - 1})
    if not _done(first) and searching and len(trials) < settings.max_trials:
        if localise is not None and first.refused is None:
            entry["diagnosis"] = localise(trials[-1][1])
        rungs, entry["remedies_left_out"] = ladder(entry.get("diagnosis")) if ladder is not None else ([], [])
        change, remedies, entry["remedies"] = _remedies(rungs, attempt, first, settings.max_trials - len(trials))
        left = settings.max_trials - len(trials)
        # Float fallback buys accuracy, not speed: it runs only when no trial met the budgets.
        if not any(t[0].passed for t in trials) and rank is not None and left > 0:
            closest = _closest([t for t in trials if t[0].remedies == [*base.remedies, *remedies]])
            ranked = rank(closest[1])
            entry["sensitivity_top"] = [asdict(r) for r in ranked[:20]]
            first = diagnosed_first([r.name for r in ranked], entry.get("diagnosis"))
            order = [*first, *(r.name for r in ranked if r.name not in first)]
            if first:
                entry["diagnosed_first"] = first
            missed = _fallback(order, lambda units: attempt(units, change, remedies), left, closest[0])
            for rung in [r for r in rungs if r.complements and r.name not in remedies] if missed else []:
                left = settings.max_trials - len(trials)
                if left <= 0 or any(t[0].passed for t in trials):
                    break
                entry.setdefault("complemented", []).append(rung.name)
                _fallback(order, lambda units, rung=rung: attempt(units, {**change, **rung.change},
                                                                  [*remedies, rung.name]), left, None)
    loaded = [t for t in trials if t[0].refused is None]
    if not loaded:
        shutil.rmtree(work, ignore_errors=True)
        last = trials[-1][0].refused or {}
        raise StageError(f"the runtime refused every int8 candidate ({len(trials)}): node {last.get('node')} "
                         f"({last.get('op')}): {last.get('why')}"[:600],
                         fix="keep that node float (quantize.static.exclude_nodes) or its op type "
                             "(quantize.static.exclude_op_types)")
    best = _choose(loaded)
    trial, path, record = best
    shutil.move(str(path), str(dst))
    shutil.rmtree(work, ignore_errors=True)
    return record, {"trials": [asdict(t[0]) for t in trials], "chosen_trial": trials.index(best),
                    "met_budgets": trial.passed, "sensitivity_top": [], **entry}


@dataclass
class _Base:
    """What every trial is built on: the remedies for the runtime's refusals so far."""

    units: list[str] = field(default_factory=list)
    change: dict[str, Any] = field(default_factory=dict)
    remedies: list[str] = field(default_factory=list)

    def take(self, refused: dict[str, Any]) -> bool:
        """Add a refusal's remedy; False when it adds nothing new (the same refusal again: give up)."""
        units = [u for u in refused.get("keep_float", []) if u not in self.units]
        change = {k: v for k, v in refused.get("change", {}).items() if self.change.get(k) != v}
        if not units and not change:
            return False
        self.units += units
        self.change.update(change)
        self.remedies.append(refused.get("remedy", "refusal"))
        return True


def _done(trial: Trial) -> bool:
    return trial.passed and not trial.slower


def _remedies(rungs: Sequence[Rung], attempt: Callable[[list[str], dict[str, Any], list[str]], Trial],
              best: Trial, budget: int) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """Try each rung on top of the best settings so far (from ``best``, the plain trial); keep it when it
    brings the candidate closer."""
    change: dict[str, Any] = {}
    kept: list[str] = []
    record = []
    for rung in rungs:
        if budget <= 0:
            record.append({"remedy": rung.name, "outcome": "not tried: the trial budget ran out", "why": rung.why})
            continue
        budget -= 1
        try:
            trial = attempt([], {**change, **rung.change}, [*kept, rung.name])
        except Exception as exc:  # a remedy that cannot be applied to this model is a finding, not a failed build
            message = str(exc) if isinstance(exc, StageError) else f"{type(exc).__name__}: {exc}"
            record.append({"remedy": rung.name, "outcome": f"failed: {message}"[:300], "why": rung.why})
            continue
        closer = closeness(trial) > closeness(best)
        outcome = "meets the budgets" if trial.passed else ("kept: closer" if closer else "dropped: no closer")
        if trial.refused is not None:
            outcome = f"dropped: the runtime refused it ({trial.refused.get('why', '')})"[:300]
        record.append({"remedy": rung.name, "outcome": outcome + (", but slower than fp32" if trial.slower else ""),
                       "why": rung.why})
        if _done(trial):
            return {**change, **rung.change}, [*kept, rung.name], record
        if closer:
            change, kept, best = {**change, **rung.change}, [*kept, rung.name], trial
    return change, kept, record


def _choose(trials: list[tuple[Trial, Path, R]]) -> tuple[Trial, Path, R]:
    done = [t for t in trials if _done(t[0])]
    if done:
        return min(done, key=lambda t: len(t[0].float_nodes))
    passing = [t for t in trials if t[0].passed]
    if passing:
        return min(passing, key=lambda t: t[0].p50_ms)
    return _closest(trials)


def _closest(trials: list[tuple[Trial, Path, R]]) -> tuple[Trial, Path, R]:
    return max(trials, key=lambda t: closeness(t[0]))


def closeness(trial: Trial) -> tuple[float, ...]:
    """How near the reference a trial is, for ranking trials that all missed: task metric, then mAP/mIoU,
    then agreement, then SNR."""
    return (trial.passed, trial.refused is None, _or_low(trial.accuracy), _task_figure(trial),
            _or_low(trial.agreement), _snr(trial))


def describe(trial: Trial) -> str:
    """A trial in one line of progress: remedies, float units, the task metric, agreement, verdict."""
    figures = [" + ".join(trial.remedies)] if trial.remedies else []
    if trial.refused is not None:
        return ", ".join([*figures, f"refused by the runtime at {trial.refused.get('op')} node "
                                    f"{trial.refused.get('node')}"])
    figures.append(f"{len(trial.float_nodes)} kept float")
    if trial.accuracy == trial.accuracy:
        figures.append(f"metric {trial.accuracy:.3f}")
    if trial.agreement == trial.agreement:
        figures.append(f"agreement {trial.agreement:.3f}")
    figures.extend(f"{name} {value:.3g}" for name, value in (trial.fidelity or {}).items() if name != "output")
    if trial.reference_p50_ms:
        figures.append(f"{trial.p50_ms / trial.reference_p50_ms:.2f}x fp32 time")
    return ", ".join(figures) + (": meets the budgets" if trial.passed else ": misses a budget")




def trial_fidelity(outputs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """What report.json keeps of a trial: the worst output's cosine and SNR, and the mAP when detecting."""
    from edgeconv.verify.fidelity import worst

    named = {k: v for k, v in outputs.items() if k not in TASK_FIGURES}
    lowest = worst(named)
    kept: dict[str, Any] = {"output": lowest[0], "cosine": lowest[1]["cosine"], "snr_db": lowest[1]["snr_db"]} \
        if lowest else {}
    for key, figures in ((DETECTION, ("map50_95", "map50_95_vs_reference")),
                         (SEGMENTATION, ("miou", "miou_vs_reference"))):
        kept.update({name: outputs[key][name] for name in figures if name in outputs.get(key, {})})
    return kept or None


def _task_figure(trial: Trial) -> float:
    """A dense task's figure (labelled first) for ranking trials that all failed."""
    figures = trial.fidelity or {}
    for name in ("map50_95", "miou", "map50_95_vs_reference", "miou_vs_reference"):
        if name in figures:
            return figures[name]
    return 0.0


def _snr(trial: Trial) -> float:
    return (trial.fidelity or {}).get("snr_db", 0.0)


def _or_low(value: float) -> float:
    """NaN (not measured) ranks below every measured value."""
    return float("-inf") if value != value else value


def diagnosed_first(units: list[str], diagnosis: dict[str, Any] | None) -> list[str]:
    """The units (of ``units``) that read the activations the localisation found worst, worst first. The ranking
    scores what a node adds to its output beyond its inputs' error, so a node whose own input quantizer ruins the
    signal (PP-OCR's detector: a Relu output at 1.3 dB read by one Conv, ranked last of 65) can rank last."""
    known = set(units)
    named = [c for a in (diagnosis or {}).get("activations", []) if a.get("channel_sqnr_db", 99.0) < POOR_SQNR_DB
             for c in a.get("consumers", []) if c in known]
    return list(dict.fromkeys(named))


STALL_AT = 4  # after k = 1, 2, 4 without a gain, the ceiling next
GAIN = {"accuracy": 0.005, "task": 0.005, "agreement": 0.005, "snr": 1.0}  # half a point, or 1 dB: not noise


def _fallback(order: list[str], attempt: Callable[[list[str]], Trial], budget: int, start: Trial | None) -> bool:
    """Doubling k until a trial passes, then bisection for the smallest passing k, within ``budget``. A stall
    (``STALL_AT`` float units gained nothing over ``start``) jumps to the ceiling (every unit float); without a
    ``start`` (a complementing remedy under the fallback) the search bisects down from the ceiling, which keeps
    every ranked unit float and so would be no int8 artifact at all. True when even the ceiling missed."""
    n = len(order)
    low, k, high = 0, 1, None  # low: largest k known to fail; high: smallest k known to pass
    if start is None:
        low, high = 0, n
    while budget > 0 and high is None and low < n:
        k = min(k, n)
        budget -= 1
        trial = attempt(order[:k])
        if trial.passed:
            high = k
        else:
            low = k
            k = n if k >= STALL_AT and start is not None and not _gained(trial, start) else k * 2
    if low >= n:
        return True
    while budget > 0 and high is not None and high - low > 1:
        mid = (low + high) // 2
        budget -= 1
        if attempt(order[:mid]).passed:
            high = mid
        else:
            low = mid
    return False


def _gained(trial: Trial, start: Trial) -> bool:
    """Whether ``trial`` came measurably closer to the reference than ``start`` (past ``GAIN``: not noise)."""
    pairs = {"accuracy": (trial.accuracy, start.accuracy), "task": (_task_figure(trial), _task_figure(start)),
             "agreement": (trial.agreement, start.agreement), "snr": (_snr(trial), _snr(start))}
    return any(new - old > GAIN[name] for name, (new, old) in pairs.items() if new == new and old == old)
