"""Confidence intervals for the change between two builds.

numpy only: scipy/statsmodels would add a large dependency for a percentile bootstrap and the
Newcombe interval (a few lines each, formulas cited below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

CHUNK = 250  # resamples drawn at once: bounds memory at CHUNK x n indices


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    method: str


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap_mean_diff(
    baseline: np.ndarray, candidate: np.ndarray, resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
) -> Interval:
    """CI of mean(candidate) - mean(baseline) over the same examples (e.g. per-example correctness).

    Resampling examples (not each side apart) keeps the pairing, so two builds that err on the same
    examples get a narrow interval: the noise that matters is the examples where they disagree.
    """
    diff = candidate.astype(np.float64) - baseline.astype(np.float64)
    n = len(diff)
    rng = np.random.default_rng(seed)
    draws = np.concatenate([
        diff[rng.integers(0, n, size=(min(CHUNK, resamples - start), n))].mean(axis=1)
        for start in range(0, resamples, CHUNK)
    ])
    low, high = _percentiles(draws, confidence)
    return Interval(float(diff.mean()), low, high, f"paired bootstrap over {n} examples, {resamples} resamples")


def wilson(p: float, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (Wilson 1927)."""
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(centre - half), float(centre + half)


def newcombe_diff(p_base: float, n_base: int, p_cand: float, n_cand: int, confidence: float = 0.95) -> Interval:
    """CI of p_cand - p_base for independent proportions: Newcombe's hybrid score (1998, method 10).

    Used when per-example outputs are not at hand. It treats the two builds as independent samples,
    which they are not (same evaluation set), so it is wider, i.e. conservative, than the paired interval.
    """
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    lb, ub = wilson(p_base, n_base, z)
    lc, uc = wilson(p_cand, n_cand, z)
    d = p_cand - p_base
    low = d - np.sqrt((p_cand - lc) ** 2 + (ub - p_base) ** 2)
    high = d + np.sqrt((uc - p_cand) ** 2 + (p_base - lb) ** 2)
    return Interval(d, float(low), float(high), f"unpaired Newcombe/Wilson interval (n={n_base} vs {n_cand})")


def bootstrap_median_ratio(
    baseline: np.ndarray, candidate: np.ndarray, resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
) -> Interval:
    """CI of median(candidate) / median(baseline) from raw timing samples, each side resampled on its own."""
    rng = np.random.default_rng(seed)
    base, cand = np.asarray(baseline, np.float64), np.asarray(candidate, np.float64)
    draws = []
    for start in range(0, resamples, CHUNK):
        k = min(CHUNK, resamples - start)
        b = np.median(base[rng.integers(0, len(base), size=(k, len(base)))], axis=1)
        c = np.median(cand[rng.integers(0, len(cand), size=(k, len(cand)))], axis=1)
        draws.append(c / b)
    low, high = _percentiles(np.concatenate(draws), confidence)
    return Interval(float(np.median(cand) / np.median(base)), low, high,
                    f"bootstrap of the ratio of medians ({len(base)} vs {len(cand)} runs, {resamples} resamples)")


Statistic = Callable[[np.ndarray], np.ndarray]  # example indices (a resample) -> the figures over them


def bootstrap_change(
    baseline: Statistic, n_base: int, candidate: Statistic, n_cand: int, paired: bool, resamples: int = 2000,
    confidence: float = 0.95, seed: int = 0,
) -> list[Interval]:
    """CI of each figure's candidate - baseline, for figures computed over a set of examples (mAP over images,
    mIoU over pixels, SNR over elements): each resample recomputes them on examples drawn with replacement.

    ``paired`` (the same evaluation set, in the same order): one draw of indices serves both builds, so the
    interval reflects where they differ; otherwise each side is resampled on its own (wider)."""
    rng = np.random.default_rng(seed)
    estimate = np.asarray(candidate(np.arange(n_cand)), np.float64) - np.asarray(baseline(np.arange(n_base)),
                                                                                 np.float64)
    draws = []
    for _ in range(resamples):
        b_idx = rng.integers(0, n_base, size=n_base)
        c_idx = b_idx if paired else rng.integers(0, n_cand, size=n_cand)
        draws.append(np.asarray(candidate(c_idx), np.float64) - np.asarray(baseline(b_idx), np.float64))
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.nanpercentile(np.stack(draws), [tail, 100 - tail], axis=0)
    how = (f"paired bootstrap over {n_base} examples" if paired
           else f"unpaired bootstrap ({n_base} vs {n_cand} examples, different evaluation sets)")
    return [Interval(float(e), float(lo), float(hi), f"{how}, {resamples} resamples")
            for e, lo, hi in zip(estimate, low, high, strict=True)]
