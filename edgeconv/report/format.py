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


def snr(figures: dict[str, Any] | None) -> str:
    if not figures:
        return "–"
    return "exact" if figures.get("exact") else f"{figures['snr_db']:.1f}"


def _agreement(m: Any) -> str:
    """Top-1 agreement for classifiers; for detectors, mAP@0.5:0.95 against the reference's own boxes."""
    if m is None:
        return "–"
    if m.agreement is not None:
        return f"{m.agreement:.4f}"
    return f"mAP {m.detection['map50_95_vs_reference']:.3f}" if m.detection else "–"


def row(a: ArtifactResult) -> list[str]:
    """target, precision, accuracy, Δ, agreement, worst output's SNR, p50, p90, speed-up, size MB, status."""
    m = a.measurement
    lowest = worst(m.outputs) if m else None
    return [
        a.target, a.precision,
        pct(m.accuracy if m else None), delta_points(a.accuracy_delta),
        _agreement(m),
        snr(lowest[1] if lowest else None),
        ms(m.latency_ms["p50"] if m else None), ms(m.latency_ms["p90"] if m else None),
        "–" if a.speedup_vs_reference is None else f"{a.speedup_vs_reference:.2f}×",
        mb(a.size_bytes), a.status,
    ]


HEADERS = ["target", "precision", "accuracy", "Δ vs fp32", "agreement", "SNR dB", "p50 ms", "p90 ms", "speed-up", "MB",
           "status"]
