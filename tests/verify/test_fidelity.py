"""Numeric fidelity figures against hand-computed values on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeconv.verify.fidelity import REL_FLOOR, fidelity, output_fidelity, worst


def test_figures_match_hand_computed_values() -> None:
    reference = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    artifact = np.array([[1.0, 0.1], [0.0, 1.8]], dtype=np.float32)
    f = output_fidelity(artifact, reference, atol=0.05, rtol=0.0)
    assert f["max_abs_error"] == pytest.approx(0.2)
    assert f["mean_abs_error"] == pytest.approx((0.1 + 0.2) / 4)
    # relative error: 0.1 against the floor (REL_FLOOR * max|ref| = 0.002), 0.2 against 2.0
    assert f["max_rel_error"] == pytest.approx(0.1 / (REL_FLOOR * 2.0), rel=1e-5)
    cos_row0 = 1.0 / math.sqrt(1.0 + 0.01)
    assert f["cosine"] == pytest.approx((cos_row0 + 1.0) / 2) and f["cosine_min"] == pytest.approx(cos_row0)
    assert f["snr_db"] == pytest.approx(10 * math.log10(5.0 / 0.05), rel=1e-5)  # Σr² = 5, Σ(a-r)² = 0.05
    assert f["within_tolerance"] == pytest.approx(0.5)  # 0.1 and 0.2 are outside atol 0.05
    assert f["exact"] is False and f["shape"] == [2]


def test_identical_outputs_are_exact_with_infinite_snr() -> None:
    reference = np.random.default_rng(0).normal(size=(3, 4, 5))
    f = output_fidelity(reference.copy(), reference)
    assert f["exact"] and math.isinf(f["snr_db"]) and f["cosine"] == pytest.approx(1.0)
    assert f["within_tolerance"] == 1.0 and f["max_rel_error"] == 0.0


def test_zero_rows_do_not_divide_by_zero() -> None:
    reference = np.zeros((2, 3))
    assert output_fidelity(np.zeros((2, 3)), reference)["cosine"] == 1.0
    f = output_fidelity(np.ones((2, 3)), reference)
    assert f["cosine"] == 0.0 and f["snr_db"] == -math.inf and np.isfinite(f["max_rel_error"])


def test_outputs_are_paired_by_name_or_by_order_and_the_worst_is_the_lowest_snr() -> None:
    ref = {"boxes": np.ones((2, 4)), "scores": np.array([[0.5], [0.25]])}
    renamed = {"output_0": np.ones((2, 4)), "output_1": np.array([[0.5], [0.3]])}
    figures = fidelity(renamed, ref, {"scores": (0.1, 0.0)})
    assert set(figures) == {"boxes", "scores"} and figures["scores"]["atol"] == 0.1
    assert worst(figures)[0] == "scores"
    with pytest.raises(ValueError, match="no output 'scores'"):
        fidelity({"boxes": np.ones((2, 4)), "other": np.ones((2, 1)), "x": np.ones(1)}, ref)
    with pytest.raises(ValueError, match="shape"):
        output_fidelity(np.ones((2, 3)), np.ones((2, 4)))


def test_outputs_of_varying_shape_are_compared_per_example_without_their_padding() -> None:
    from edgeconv.verify.worker import SHAPE_SUFFIX, pad_rows, unpad

    rows_r = [np.array([[1.0, 2.0]]), np.array([[1.0, 2.0, 3.0, 4.0]])]  # two examples, [1, 2] and [1, 4]
    rows_a = [np.array([[1.0, 2.5]]), np.array([[1.0, 2.0, 3.0, 4.0]])]
    (ref, shapes), (art, art_shapes) = pad_rows(rows_r), pad_rows(rows_a)  # type: ignore[misc]
    assert ref.shape == (2, 4) and shapes.tolist() == [[2], [4]]  # the runtime's batch axis dropped, as join_rows
    assert unpad(art, art_shapes, 0).tolist() == [1.0, 2.5]
    figures = fidelity({"y": art, "y" + SHAPE_SUFFIX: art_shapes}, {"y": ref, "y" + SHAPE_SUFFIX: shapes})["y"]
    assert figures["mean_abs_error"] == pytest.approx(0.5 / 6)  # six real elements, the two padded ones left out
    assert figures["within_tolerance"] == pytest.approx(5 / 6) and figures["max_abs_error"] == 0.5
    other = pad_rows([np.zeros((1, 3)), np.zeros((1, 4))])  # another model gave example 0 three elements
    assert other is not None
    assert fidelity({"y": other[0], "y" + SHAPE_SUFFIX: other[1]}, {"y": ref, "y" + SHAPE_SUFFIX: shapes}) == {}


def test_the_worst_examples_snr_is_its_own_ratio_beside_the_whole_sets() -> None:
    """One broken example among good ones: the set's SNR stays high, the worst example's does not."""
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(20, 50))
    artifact = reference + 1e-3 * rng.normal(size=reference.shape)
    artifact[7] = reference[7] + 0.5 * rng.normal(size=50)  # one example far off
    f = output_fidelity(artifact, reference)
    per_example = [10 * math.log10(np.sum(r**2) / np.sum((a - r) ** 2)) for a, r in zip(artifact, reference,
                                                                                         strict=True)]
    assert f["snr_db_min"] == pytest.approx(min(per_example)) == pytest.approx(per_example[7])
    assert f["snr_db"] - f["snr_db_min"] > 10  # the mean hides it
    assert f["cosine_min"] < f["cosine"]
    exact = output_fidelity(reference.copy(), reference)
    assert math.isinf(exact["snr_db_min"]) and exact["snr_db_min"] > 0
    zero = output_fidelity(np.ones((2, 3)), np.vstack([np.ones(3), np.zeros(3)]))
    assert zero["snr_db_min"] == -math.inf  # noise on an example whose reference is all zero


def test_a_cosine_budget_holds_the_worst_example_beside_the_mean() -> None:
    """The issue's detector: fine on the mean, one example far off. A plain number is the mean, as before."""
    from edgeconv.spec.budgets import Budgets
    from edgeconv.verify.budgets import fidelity_checks

    rng = np.random.default_rng(1)
    reference = rng.normal(size=(20, 64))
    artifact = reference + 0.05 * rng.normal(size=reference.shape)
    artifact[3] = reference[3] + 0.8 * rng.normal(size=64)
    f = output_fidelity(artifact, reference)
    assert f["cosine"] > 0.95 > f["cosine_min"]
    plain = fidelity_checks("map", f, Budgets(min_cosine=0.95).for_output("map"))
    assert [(c.name, c.passed) for c in plain] == [("min_cosine[map]", True)]
    both = fidelity_checks("map", f, Budgets(min_cosine={"mean": 0.95, "worst": 0.9}).for_output("map"))
    assert [(c.name, c.passed) for c in both] == [("min_cosine[map]", True), ("min_cosine[map].worst", False)]
    assert both[1].value == f["cosine_min"] and "the worst example's cosine" in both[1].shortfall
