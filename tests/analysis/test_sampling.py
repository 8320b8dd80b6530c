"""Allocation and stratified draws of sampled rounds (analysis.sampling)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.sampling import Allocation, allocate, draw_stratified

SIZES = {("A", "land"): 50, ("A", "civil"): 30, ("B", "land"): 15, ("C", "civil"): 5}
UNIT = {key: key[0] for key in SIZES}


def test_proportional_uses_largest_remainder_and_sums_to_total() -> None:
    # quotas for n = 10 of 100: 5.0, 3.0, 1.5, 0.5 -> 5, 3, then one of the two halves
    # (the first in sorted order: ("B", "land") sorts before ("C", "civil"))
    assert allocate(SIZES, 10, Allocation.PROPORTIONAL) == {
        ("A", "civil"): 3,
        ("A", "land"): 5,
        ("B", "land"): 2,
        ("C", "civil"): 0,
    }
    for total in range(1, 101):
        n = allocate(SIZES, total, "proportional")
        assert sum(n.values()) == total
        assert all(0 <= n[k] <= SIZES[k] for k in SIZES)


def test_equal_caps_small_strata_and_gives_the_rest_to_others() -> None:
    # ("C", "civil") is capped at its 5 dossiers; 35 left for three strata: 11.67 each, the
    # two extra dossiers to the strata that sort first
    assert allocate(SIZES, 40, Allocation.EQUAL) == {
        ("A", "civil"): 12,
        ("A", "land"): 12,
        ("B", "land"): 11,
        ("C", "civil"): 5,
    }


def test_minimum_per_unit_then_proportional() -> None:
    n = allocate(SIZES, 20, Allocation.MINIMUM, minimum=6, groups=UNIT)
    assert sum(n.values()) == 20
    assert n[("C", "civil")] == 5  # the unit has only 5 dossiers
    assert n[("B", "land")] >= 6
    assert n[("A", "land")] + n[("A", "civil")] >= 6
    for total in range(17, 101):
        n = allocate(SIZES, total, "minimum", minimum=6, groups=UNIT)
        assert sum(n.values()) == total
        assert all(0 <= n[k] <= SIZES[k] for k in SIZES)


@pytest.mark.parametrize(
    ("sizes", "total", "kwargs", "message"),
    [
        (SIZES, 101, {}, "exceeds the frame size"),
        (SIZES, -1, {}, "at least 1"),
        (SIZES, 0, {}, "at least 1"),
        ({}, 1, {}, "no strata"),
        ({"a": 0}, 1, {}, "at least 1"),
        ({"a": -3}, 1, {}, "at least 1"),
        (SIZES, 10, {"method": "cluster"}, "unknown allocation"),
        (SIZES, 10, {"method": "minimum", "minimum": 6, "groups": UNIT}, "minimum per unit"),
        (SIZES, 10, {"method": "minimum", "minimum": -1}, "must not be negative"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(sizes, total, kwargs, message) -> None:
    method = kwargs.pop("method", "proportional")
    with pytest.raises(ValueError, match=message):
        allocate(sizes, total, method, **kwargs)


def _frame() -> list[tuple[str, str]]:
    return [key for key, size in SIZES.items() for _ in range(size)]


def test_the_same_seed_gives_the_same_sample() -> None:
    n = allocate(SIZES, 20, Allocation.PROPORTIONAL)
    first = draw_stratified(_frame(), n, seed=20261205)
    assert first == draw_stratified(_frame(), n, seed=20261205)
    assert first.rows != draw_stratified(_frame(), n, seed=20261206).rows
    assert len(first.rows) == 20
    frame = _frame()
    for key in SIZES:
        assert sum(frame[r] == key for r in first.rows) == n[key]
        assert first.inclusion_probability(key) == n[key] / SIZES[key]


def test_empirical_inclusion_frequencies_match_n_h_over_n_h() -> None:
    frame = _frame()
    n = allocate(SIZES, 23, Allocation.MINIMUM, minimum=4, groups=UNIT)
    draws = 4000
    counts = np.zeros(len(frame))
    for seed in range(draws):
        counts[list(draw_stratified(frame, n, seed=seed).rows)] += 1
    # Each row's count is Binomial(draws, pi_h); a two-sided 1e-6 interval per row keeps the
    # chance of a false alarm over the 100 rows below 1e-4.
    for row, key in enumerate(frame):
        pi = n[key] / SIZES[key]
        low, high = stats.binom.ppf([0.5e-6, 1 - 0.5e-6], draws, pi)
        assert low <= counts[row] <= high, (row, key, counts[row] / draws, pi)


def test_draw_refuses_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        draw_stratified(["a", "a"], {"a": 3}, seed=1)
    with pytest.raises(ValueError, match="absent from the frame"):
        draw_stratified(["a"], {"b": 1}, seed=1)
    with pytest.raises(ValueError, match="seed"):
        draw_stratified(["a"], {"a": 1}, seed=-1)
    with pytest.raises(ValueError, match="no strata"):
        draw_stratified([], {}, seed=1)
