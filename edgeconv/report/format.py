"""The report's cells, shared by report.md, report.html and the terminal table: each figure written by its unit in
edgeconv.metric_table, as ``compare`` and the budgets write it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeconv.choose import speedup_text
from edgeconv.metric_table import DB, MB, MS, POINTS, definition
from edgeconv.results import ArtifactResult
from edgeconv.verify.fidelity import worst
from edgeconv.verify.retime import ROUNDS


def cell(format_: Callable[[float], str], value: float | None) -> str:
    """A table cell: ``value`` written by one of edgeconv.metric_table's unit formatters, "–" where there is none
    (None, or NaN)."""
    return "–" if value is None or value != value else format_(value)


def pct(value: float | None) -> str:
    return cell(POINTS.value, value)


def delta_points(value: float | None) -> str:
    return cell(POINTS.change, value)


def ms(value: float | None) -> str:
    return cell(MS.number, value)


def mb(size_bytes: int | None) -> str:
    return cell(MB.number, None if size_bytes is None else size_bytes / 1e6)


def snr(figures: dict[str, Any] | None, key: str = "snr_db") -> str:
    """An output's SNR over the whole set (``snr_db``) or its worst example's (``snr_db_min``), in dB; "–" where a
    report has none (an older report, or null for -inf)."""
    if not figures:
        return "–"
    return "exact" if figures.get("exact") else cell(DB.number, figures.get(key))


def _agreement(m: Any) -> str:
    """Top-1 agreement for classifiers; for detectors, mAP@0.5:0.95 against the reference's own boxes; for
    segmenters, mIoU against the reference's classes."""
    if m is None:
        return "–"
    if m.agreement is not None:
        return pct(m.agreement)
    if m.detection:
        return f"mAP {pct(m.detection['map50_95_vs_reference'])}"
    return f"mIoU {pct(m.segmentation['miou_vs_reference'])}" if m.segmentation else "–"


def task_metric(m: Any) -> tuple[str, float | None, float | None]:
    """The accuracy column: the task's labelled metric (accuracy, mAP@0.5:0.95 or mIoU), its value and the
    reference's, for the Δ column of detectors and segmenters."""
    if m is not None and m.detection and "map50_95" in m.detection:
        return "mAP", m.detection["map50_95"], m.detection["reference_map50_95"]
    if m is not None and m.segmentation and "miou" in m.segmentation:
        return "mIoU", m.segmentation["miou"], m.segmentation["reference_miou"]
    return "", None if m is None else m.accuracy, None


def row(a: ArtifactResult, metric: str = "accuracy") -> list[str]:
    """target, precision, accuracy (or ``metric``, the spec's evaluation.metric), Δ, agreement, worst output's SNR,
    p50, p90, speed-up, size MB, status."""
    m = a.measurement
    lowest = worst(m.outputs) if m else None
    return [
        a.target, a.precision,
        *_task_cells(a, metric),
        _agreement(m),
        snr(lowest[1] if lowest else None),
        ms(m.latency_ms["p50"] if m else None), ms(m.latency_ms["p90"] if m else None),
        speedup_text(a, cell=True),
        mb(a.size_bytes), a.status,
    ]


def _task_cells(a: ArtifactResult, metric: str) -> list[str]:
    m = a.measurement
    if metric != "accuracy" and m is not None and m.metric_value is not None:  # macro-F1, or the user's function
        unit = definition(metric).unit
        return [unit.value(m.metric_value), cell(unit.change, a.accuracy_delta)]
    name, value, reference = task_metric(m)
    if not name:
        return [pct(value), delta_points(a.accuracy_delta)]
    assert value is not None and reference is not None
    return [f"{name} {pct(value)}", delta_points(value - reference)]


HEADERS = ["target", "precision", "accuracy", "Δ vs fp32", "agreement", "SNR dB", "p50 ms", "p90 ms", "speed-up", "MB",
           "status"]


def metric_name(metric: str) -> str:
    """The accuracy column's header for the spec's evaluation.metric: a custom ``module:function`` by its
    function's name."""
    return {"accuracy": "accuracy", "macro_f1": "macro-F1"}.get(metric, metric.rpartition(":")[2])


def headers(metric: str = "accuracy") -> list[str]:
    """HEADERS with the accuracy column named after the metric it shows."""
    return [metric_name(metric) if h == "accuracy" else h for h in HEADERS]


def loaded_note(timing: dict[str, Any] | None) -> str | None:
    """One line when other processes competed for the cores during the interleaved pass."""
    if not timing or not timing.get("loaded"):
        return None
    return (f"the machine was busy while timing (load average {timing['load_average']:.2f} on {timing['cores']} cores; "
            f"other processes took {timing['competing_cpu_share'] * 100:.0f}% of them during the pass): measured "
            f"{timing['rounds']} rounds instead of {ROUNDS}, and each speed-up's interval says how far it can be "
            "trusted" + control_note(timing.get("control")))


def control_note(control: dict[str, Any] | None) -> str:
    """What the loaded pass's A/A control read (``verify.retime``): the band within which rows are ties."""
    if not control:
        return ""
    low, high = control["interval"]
    return (f"; a second session of the reference's own file read {control['ratio']:.2f}x ({low:.2f}-{high:.2f}) "
            f"of it, so speed differences within {control['floor']:.2f}x are called ties")


def precisions_note(machine: dict[str, Any] | None) -> str | None:
    """Which precisions the CPU that built this report executes natively, and which it would widen to fp32."""
    if not machine or not machine.get("precisions"):
        return None
    described = machine["precisions"]
    native = [f"{p} {how.removeprefix('native ')}".strip() for p, how in described.items()
              if p != "fp32" and how.startswith("native")]
    other = [p for p, how in described.items() if not how.startswith("native")]
    return (f"This CPU ({machine.get('cpu') or machine.get('arch')}) executes natively: fp32"
            + "".join(f", {n}" for n in native) + (f"; not natively: {', '.join(other)}" if other else ""))
