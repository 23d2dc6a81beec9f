"""Length buckets for static-shape runtimes: a LiteRT flatbuffer fixes its sequence length, so instead of running
every text padded to ``text.max_length`` it carries one signature per bucket, and the runner runs each input in
the smallest bucket that holds it. The edges follow the data's token lengths (``latency.buckets: auto``)."""

from __future__ import annotations

import numpy as np

from edgeconv.data.trim import MASK

QUANTILES = (0.5, 0.9)  # the candidate edges below max_length: half the inputs fit the first, nine in ten the second
# (inverted_cdf: the shortest length that many inputs fit in, an observed one, never an interpolation)
MULTIPLE = 8  # edges rounded up to a multiple of 8: SIMD-friendly widths, and fewer distinct edges
# Each signature is one more conversion (the sample's float stage: 35 s for one bucket, 118 s for three), so a
# candidate edge stays only when it cuts the mean padded length by this share (the sample's 90 % edge saved 4 %).
MIN_SAVING = 0.10


def token_lengths(inputs: dict[str, np.ndarray]) -> np.ndarray | None:
    """Each example's own token count (its attention mask's sum), or None when there is no 2-D mask."""
    mask = inputs.get(MASK)
    if mask is None or mask.ndim != 2:
        return None
    return np.maximum(mask.sum(axis=1), 1).astype(np.int64)


def mean_padded(lengths: np.ndarray, edges: list[int]) -> float:
    """The mean length the inputs run at when each takes the smallest bucket that holds it (a call's cost)."""
    bounds = np.asarray(sorted(edges))
    return float(bounds[np.searchsorted(bounds, np.minimum(lengths, bounds[-1]))].mean())


def auto_edges(lengths: np.ndarray, max_length: int) -> list[int]:
    """``max_length`` plus the 50% and 90% quantiles of ``lengths`` rounded up to a multiple of 8, each kept only
    where it cuts the mean padded length by ``MIN_SAVING``: at most three buckets, the last holding every input."""
    quantiles = np.quantile(lengths, QUANTILES, method="inverted_cdf")
    edges = [max_length]
    for q in quantiles:
        edge = min(max_length, int(-(-q // MULTIPLE) * MULTIPLE))
        if edge > 0 and edge not in edges and mean_padded(lengths, [*edges, edge]) <= (
                1 - MIN_SAVING) * mean_padded(lengths, edges):
            edges.append(edge)
    return sorted(edges)


def edges_for(setting: str | list[int], inputs: dict[str, np.ndarray]) -> list[int]:
    """The bucket edges the spec's ``latency.buckets`` asks for on these feeds, or [] for none (no mask, no
    padding to save, or ``none``). Hand-set edges past the padded length are dropped; the padded length is always
    the last edge, so every input has a bucket."""
    lengths = token_lengths(inputs)
    if setting == "none" or lengths is None:
        return []
    max_length = int(inputs[MASK].shape[1])
    edges = auto_edges(lengths, max_length) if setting == "auto" else sorted({*(e for e in setting if e < max_length),
                                                                              max_length})
    return edges if len(edges) > 1 else []
