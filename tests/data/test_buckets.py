"""Length-bucket edges from a tokenized set's lengths (latency.buckets: auto, a hand-set list, none)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.data.buckets import auto_edges, edges_for
from edgeconv.spec import LatencySpec


def _feeds(lengths: list[int], max_length: int = 64) -> dict[str, np.ndarray]:
    mask = (np.arange(max_length)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    return {"input_ids": mask * 7, "attention_mask": mask}


def test_auto_edges_are_the_median_and_p90_rounded_up_to_eight_then_the_padded_length():
    lengths = np.array([5] * 50 + [20] * 40 + [60] * 10)
    assert auto_edges(lengths, 64) == [8, 24, 64]
    assert edges_for("auto", _feeds(lengths.tolist())) == [8, 24, 64]


def test_an_edge_that_saves_little_is_not_worth_its_conversion():
    """The sample's lengths: the 90 % edge (56) cuts the mean padded length by 4 % over [40, 64]: left out."""
    lengths = np.array([34] * 74 + [50] * 24 + [60] * 2)
    assert auto_edges(lengths, 64) == [40, 64]


def test_edges_that_coincide_collapse_and_one_bucket_is_none():
    assert edges_for("auto", _feeds([60] * 10)) == []  # every input needs the padded length: nothing to save
    assert edges_for("auto", _feeds([10] * 9 + [60])) == [16, 64]


def test_hand_set_edges_always_end_at_the_padded_length_and_none_turns_them_off():
    assert edges_for([16, 32], _feeds([5, 40])) == [16, 32, 64]
    assert edges_for([16, 128], _feeds([5, 40])) == [16, 64]  # past the padded length: the padded length holds it
    assert edges_for("none", _feeds([5, 40])) == []
    assert edges_for("auto", {"x": np.zeros((3, 8), np.float32)}) == []  # not tokenized text


def test_the_spec_refuses_unordered_edges():
    assert LatencySpec(buckets=[16, 32]).buckets == [16, 32]
    with pytest.raises(ValueError, match="ascending positive"):
        LatencySpec(buckets=[32, 16])
