"""Number formatting shared by the Markdown report and the terminal table."""

from __future__ import annotations

from typing import Any

from edgeconv.results import ArtifactResult
from edgeconv.verify.fidelity import worst


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
        "–" if a.speedup_vs_reference is None else f"{a.speedup_vs_reference:.2f}×",
        mb(a.size_bytes), a.status,
    ]


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
