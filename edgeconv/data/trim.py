"""Text examples at their own length: a tokenized evaluation set is padded to ``text.max_length`` so it can be
stored as one array, but a user's input arrives at its own length, and a runtime with a dynamic sequence axis
(ONNX Runtime, OpenVINO) runs it at that length. Latency on real inputs (``latency.shape: real``) times each
example cut to its attention mask's length."""

from __future__ import annotations

import numpy as np

MASK = "attention_mask"


def real_length(feeds: dict[str, np.ndarray]) -> int | None:
    """The longest example's own token count in ``feeds`` (its attention mask's sum), or None when the feeds
    have no 2-D attention mask (not a tokenized text model)."""
    mask = feeds.get(MASK)
    if mask is None or mask.ndim != 2:
        return None
    return max(int(mask.sum(axis=1).max()), 1)


def trim(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feeds`` cut to ``real_length`` along the sequence axis: every input shaped like the attention mask
    (input_ids, token_type_ids, position_ids) is cut with it; other inputs pass unchanged. Right padding is
    assumed (the tokenizers' default, and what edgeconv.data.make writes); left-padded feeds pass unchanged."""
    length = real_length(feeds)
    mask = feeds.get(MASK)
    if length is None or mask is None or length == mask.shape[1] or not np.all(mask[:, length:] == 0):
        return feeds
    return {k: np.ascontiguousarray(v[:, :length]) if v.shape == mask.shape else v for k, v in feeds.items()}


def trims(examples: list[dict[str, np.ndarray]]) -> bool:
    """Whether any of ``examples`` is shorter than its padded length (so a real-length pass differs)."""
    return any(trim(e) is not e for e in examples)
