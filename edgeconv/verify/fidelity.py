"""Numeric fidelity of every output against the fp32 reference: what Polygraphy's comparators report,
computed over the whole evaluation set so that any model, labelled or not, can be held to budgets.

Per output (arrays of one example per row, artifact vs reference):
- max_abs_error, mean_abs_error;
- max_rel_error: |a - r| / max(|r|, REL_FLOOR · max|r|), so elements near zero do not explode the ratio;
- cosine: the mean over examples of the cosine similarity of each example's flattened output, and
  cosine_min, the worst example's (a few broken examples hide in a mean);
- snr_db: 10·log10(Σr² / Σ(a - r)²) over the whole set (inf when identical), and snr_db_min, the worst
  example's (the same ratio over that example's elements alone; -inf for an example whose reference is all
  zero where the artifact's is not);
- within_tolerance: the fraction of elements with |a - r| <= atol + rtol·|r| (numpy.isclose semantics).
Written with numpy: each figure is one line of arithmetic, and the comparators' own definitions
(Polygraphy's) are the ones used here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

REL_FLOOR = 1e-3  # relative error is taken against at least this fraction of the output's largest |value|
DEFAULT_ATOL, DEFAULT_RTOL = 1e-3, 1e-3


def output_fidelity(artifact: np.ndarray, reference: np.ndarray, atol: float = DEFAULT_ATOL,
                    rtol: float = DEFAULT_RTOL, real: np.ndarray | None = None) -> dict[str, Any]:
    """The figures above for one output; shapes must match (one row per example). ``real`` marks the elements
    that are not padding (an output padded to a common shape): the means count only those; the other figures
    are the same with or without zero padding on both sides."""
    if artifact.shape != reference.shape:
        raise ValueError(f"shape {artifact.shape} differs from the reference's {reference.shape}")
    a, r = artifact.astype(np.float64), reference.astype(np.float64)
    diff = np.abs(a - r)
    scale = float(np.abs(r).max()) if r.size else 0.0
    floor = max(REL_FLOOR * scale, np.finfo(np.float64).tiny)
    rows = example_terms(a, r, atol, rtol, real)
    snrs = _row_snrs(rows["signal"], rows["noise"])
    real = np.ones(diff.shape, bool) if real is None else real
    elements = float(rows["elements"].sum())
    return {
        "shape": list(reference.shape[1:]),
        "max_abs_error": float(diff.max()) if diff.size else 0.0,
        "mean_abs_error": float(diff[real].mean()) if real.any() else 0.0,
        "max_rel_error": float((diff / np.maximum(np.abs(r), floor)).max()) if diff.size else 0.0,
        "cosine": float(rows["cosine"].mean()) if rows["cosine"].size else 1.0,
        "cosine_min": float(rows["cosine"].min()) if rows["cosine"].size else 1.0,
        "exact": float(rows["noise"].sum()) == 0,
        "snr_db": snr_db(float(rows["signal"].sum()), float(rows["noise"].sum())),
        "snr_db_min": float(snrs.min()) if snrs.size else math.inf,
        "within_tolerance": float(rows["within"].sum()) / elements if elements else 1.0,
        "atol": atol, "rtol": rtol,
    }


def example_terms(artifact: np.ndarray, reference: np.ndarray, atol: float = DEFAULT_ATOL,
                  rtol: float = DEFAULT_RTOL, real: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per example (row): its cosine, signal and noise energy (sum r^2, sum (a - r)^2), elements within
    atol + rtol*|r| and real elements. The whole set's figures are these averaged or summed, so a comparison
    between two builds (edgeconv.compare) can resample examples and recompute them."""
    a, r = artifact.astype(np.float64, copy=False), reference.astype(np.float64, copy=False)
    rows_a, rows_r = a.reshape(len(a), -1), r.reshape(len(r), -1)
    real = np.ones(a.shape, bool) if real is None else real
    within = (np.abs(a - r) <= atol + rtol * np.abs(r)) & real
    return {"cosine": _row_cosines(rows_a, rows_r), "signal": np.sum(rows_r**2, axis=1),
            "noise": np.sum((rows_a - rows_r) ** 2, axis=1), "within": within.reshape(len(a), -1).sum(axis=1),
            "elements": real.reshape(len(a), -1).sum(axis=1)}


def snr_db(signal: float, noise: float) -> float:
    """10·log10(signal / noise) in dB: inf for no noise, -inf for noise on a zero signal."""
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def _row_snrs(signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``snr_db`` per row (example), from its signal and noise energy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(noise == 0, np.inf, 10 * np.log10(signal / np.where(noise == 0, 1.0, noise)))


def _row_cosines(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Cosine similarity per row; two all-zero rows are identical (1.0), one all-zero row is 0.0."""
    dot = np.sum(a * r, axis=1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(r, axis=1)
    both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(r, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 0.0)
    return np.clip(np.where(both_zero, 1.0, cos), -1.0, 1.0)


def fidelity(artifact: dict[str, np.ndarray], reference: dict[str, np.ndarray],
             tolerances: dict[str, tuple[float, float]] | None = None) -> dict[str, dict[str, Any]]:
    """``output_fidelity`` for every output the reference has; ``tolerances`` maps names to (atol, rtol).

    An output whose shape varies per example is stored padded, beside each example's shape: it is compared
    element by element where both models gave every example the same shape (a map at each image's size), and
    left to the task metric where they did not (a post-NMS detector's K boxes need not be the same boxes)."""
    tolerances = tolerances or {}
    return {name: output_fidelity(a, r, *tolerances.get(name, (DEFAULT_ATOL, DEFAULT_RTOL)), real)
            for name, a, r, real in matched_outputs(artifact, reference)}


def matched_outputs(artifact: dict[str, np.ndarray], reference: dict[str, np.ndarray]
                    ) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]:
    """(name, artifact's, reference's, real-element mask or None) for each output compared element by element;
    ValueError when the artifact lacks one of the reference's outputs."""
    from edgeconv.verify.worker import SHAPE_SUFFIX

    if set(artifact) != set(reference) and len(artifact) == len(reference):
        # Runtimes that rename outputs (TFLite signatures call them output_0, output_1, ...) keep their order.
        artifact = dict(zip(reference, artifact.values(), strict=True))
    missing = [name for name in reference if name not in artifact]
    if missing:
        raise ValueError(f"the artifact has no output {missing[0]!r} (it has {sorted(artifact)})")
    found = []
    for name, ref in reference.items():
        if name.endswith(SHAPE_SUFFIX):
            continue
        real = None
        shapes = reference.get(name + SHAPE_SUFFIX)
        if shapes is not None:
            theirs = artifact.get(name + SHAPE_SUFFIX)
            if theirs is None or not np.array_equal(theirs, shapes) or artifact[name].shape != ref.shape:
                continue
            real = padding_mask(shapes, ref.shape)
        found.append((name, artifact[name], ref, real))
    return found


def padding_mask(shapes: np.ndarray, padded: tuple[int, ...]) -> np.ndarray:
    """True where an array padded to ``padded`` holds an example's own element (``shapes``: one per example)."""
    mask = np.zeros(padded, bool)
    for i, shape in enumerate(shapes):
        mask[(i, *(slice(0, int(n)) for n in shape))] = True
    return mask


def worst(outputs: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The output with the lowest SNR (the one a table shows when no task metric applies)."""
    if not outputs:
        return None
    return min(outputs.items(), key=lambda item: item[1]["snr_db"])
