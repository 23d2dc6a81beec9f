"""The figures an exported (or imported) reference is checked by, and the line that says them.

Top-1 agreement is a classifier's figure: an argmax over a dense map (a detector's probability map, an
embedding) says nothing, so a model of any other task gets its numeric fidelity instead (max abs error,
cosine and SNR, as verify/fidelity.py computes them for every artifact).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.models.tasks import is_classification
from edgeconv.verify.fidelity import output_fidelity

# In the export stages' keys: a cached parity record made with other figures is made again.
PARITY_FIGURES = ("max_abs_error", "cosine", "cosine_min", "snr_db", "exact", "top1_agreement")


def parity_figures(expected: np.ndarray, got: np.ndarray, task: str) -> dict[str, Any]:
    """max_abs_error, cosine (mean and worst example) and SNR of ``got`` against ``expected`` (one row per
    example); ``top1_agreement`` for classification tasks, else None."""
    figures = output_fidelity(got, expected)
    return {
        "max_abs_error": figures["max_abs_error"],
        "cosine": figures["cosine"], "cosine_min": figures["cosine_min"], "snr_db": figures["snr_db"],
        "exact": figures["exact"],
        "top1_agreement": float(np.mean(expected.argmax(-1) == got.argmax(-1))) if is_classification(task) else None,
    }


def parity_text(parity: dict[str, Any]) -> str:
    """One line for the CLI, the export error and report.md: the figures that apply to this model (a record from
    an older build without cosine / SNR says what it has)."""
    parts = [f"max abs error {parity['max_abs_error']:.2e}"]
    if parity.get("cosine") is not None:
        parts.append(f"cosine {parity['cosine']:.6f} (worst example {parity['cosine_min']:.6f})")
    if parity.get("exact"):
        parts.append("SNR exact")
    elif parity.get("snr_db") is not None:
        parts.append(f"SNR {parity['snr_db']:.1f} dB")
    if parity.get("top1_agreement") is not None:
        parts.append(f"top-1 agreement {parity['top1_agreement']:.4f}")
    return ", ".join(parts)
