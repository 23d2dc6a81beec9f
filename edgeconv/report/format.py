"""Number formatting shared by the Markdown report and the terminal table."""

from __future__ import annotations

from typing import Any

from edgeconv.choose import speed_interval, verdict_of
from edgeconv.results import ArtifactResult
from edgeconv.verify.fidelity import worst
from edgeconv.verify.retime import ROUNDS


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


def delta_points(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.2f} pt"


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def mb(size_bytes: int | None) -> str:
    return "–" if size_bytes is None else f"{size_bytes / 1e6:.1f}"


def snr(figures: dict[str, Any] | None, key: str = "snr_db") -> str:
    """An output's SNR over the whole set (``snr_db``) or its worst example's (``snr_db_min``), in dB; "–" where a
    report has none (an older report, or null for -inf)."""
    if not figures:
        return "–"
    if figures.get("exact"):
        return "exact"
    value = figures.get(key)
    return "–" if value is None else f"{value:.1f}"


def _agreement(m: Any) -> str:
    """Top-1 agreement for classifiers; for detectors, mAP@0.5:0.95 against the reference's own boxes; for
    segmenters, mIoU against the reference's classes."""
    if m is None:
        return "–"
    if m.agreement is not None:
        return f"{m.agreement:.4f}"
    if m.detection:
        return f"mAP {m.detection['map50_95_vs_reference']:.3f}"
    return f"mIoU {m.segmentation['miou_vs_reference']:.3f}" if m.segmentation else "–"


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
        speedup(a),
        mb(a.size_bytes), a.status,
    ]


def speedup(a: ArtifactResult) -> str:
    """The speed-up cell of an artifact (``speedup_cell``), its interval from the interleaved pass or its notch."""
    if a.speedup_vs_reference is None:
        return "–"
    return speedup_cell(*speed_interval(a), a.identical_to, a.target == "reference")


def speedup_cell(s: float | None, low: float | None, high: float | None, identical_to: str | None = None,
                 reference: bool = False) -> str:
    """``2.10× (1.95–2.30)``; ``≈0.98× (0.90–1.07)`` when the interval contains 1 (not distinguishable from the
    reference); ``= reference/fp32`` for a file identical to another row, which shares its figure."""
    if s is None:
        return "–"
    if identical_to:
        return f"= {identical_to}"
    low, high = (s, s) if low is None or high is None else (low, high)
    text = f"{s:.2f}×" + (f" ({low:.2f}–{high:.2f})" if (low, high) != (s, s) else "")
    same = not reference and (low, high) != (s, s) and verdict_of(low, high) == "same"
    return "≈" + text if same else text


def _task_cells(a: ArtifactResult, metric: str) -> list[str]:
    m = a.measurement
    if metric != "accuracy" and m is not None and m.metric_value is not None:  # macro-F1, or the user's function
        if metric == "macro_f1":
            return [f"{m.metric_value:.4f}", delta_points(a.accuracy_delta)]
        return [f"{m.metric_value:.4g}", "–" if a.accuracy_delta is None else f"{a.accuracy_delta:+.4g}"]
    name, value, reference = task_metric(m)
    if not name:
        return [pct(value), delta_points(a.accuracy_delta)]
    assert value is not None and reference is not None
    return [f"{name} {value:.3f}", delta_points(value - reference)]


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
            "trusted")


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
