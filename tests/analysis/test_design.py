"""The variance engine against hand calculations of the formulas R's svyrecvar implements
(Lumley 2010, sec. 2.2 and appendix C), for what the R reference cases leave out: lonely units
below the first stage, ``average`` with a self-representing stratum, subsets, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.design import Design, LonelyPSUError, variance_of_totals


def _within(values: np.ndarray) -> float:
    """sum (x - mean)^2 of a group's totals."""
    return float(((values - values.mean()) ** 2).sum())


# Two stages: 3 of N1 = 10 PSUs; in each, 2, 3 and 1 of N2 = 5 units.
PSU = np.array(["A", "A", "B", "B", "B", "C"])
SSU = np.array([1, 2, 1, 2, 3, 1])
Z = np.array([2.0, 5.0, 1.0, 4.0, 7.0, 3.0])


def _two_stage(lonely: str) -> Design:
    return Design.build(
        n=6,
        ids=[PSU, SSU],
        fpc=[np.full(6, 10.0), np.full(6, 5.0)],
        lonely_psu=lonely,
    )


def _stage_one() -> float:
    totals = np.array([7.0, 12.0, 3.0])
    return (1 - 3 / 10) * 3 / 2 * _within(totals)


def _stage_two(m: int, values: np.ndarray) -> float:
    return 3 / 10 * (1 - m / 5) * m / (m - 1) * _within(values)


@pytest.mark.parametrize("lonely", ["adjust", "remove", "certainty"])
def test_a_unit_with_one_sampled_subunit_adds_nothing_at_its_stage(lonely: str) -> None:
    """R computes each PSU's second-stage variance on its own: PSU C's single unit is centred
    at its own total whatever the option (adjust recentres over the strata of that computation,
    which is C alone)."""
    expected = _stage_one() + _stage_two(2, Z[:2]) + _stage_two(3, Z[2:5])
    assert variance_of_totals(_two_stage(lonely), Z)[0, 0] == pytest.approx(expected, rel=1e-12)


def test_a_lonely_subunit_fails_or_cannot_be_averaged() -> None:
    with pytest.raises(LonelyPSUError, match="unit C of stage 1 has only one PSU at stage 2"):
        variance_of_totals(_two_stage("fail"), Z)
    with pytest.raises(LonelyPSUError, match="no stratum with two or more PSUs"):
        variance_of_totals(_two_stage("average"), Z)


def test_without_an_fpc_only_the_first_stage_counts() -> None:
    """Sampling with replacement at the first stage: R's ultimate-cluster variance."""
    design = Design.build(n=6, ids=[PSU, SSU], weights=np.ones(6))
    totals = np.array([7.0, 12.0, 3.0])
    expected = 3 / 2 * _within(totals)
    assert variance_of_totals(design, Z)[0, 0] == pytest.approx(expected, rel=1e-12)


def test_fpc_as_fractions_equals_fpc_as_population_sizes() -> None:
    sizes = _two_stage("adjust")
    fractions = Design.build(
        n=6,
        ids=[PSU, SSU],
        fpc=[np.full(6, 0.3), np.array([0.4, 0.4, 0.6, 0.6, 0.6, 0.2])],
        lonely_psu="adjust",
    )
    assert np.allclose(sizes.weights, fractions.weights)
    assert variance_of_totals(sizes, Z)[0, 0] == pytest.approx(
        variance_of_totals(fractions, Z)[0, 0], rel=1e-12
    )
    # Weights follow from the fpc: N1/n1 x N2/n2.
    assert np.allclose(sizes.weights, 10 / 3 * np.array([5 / 2, 5 / 2, 5 / 3, 5 / 3, 5 / 3, 5]))


def test_average_scales_the_first_stage_by_strata_over_usable_strata() -> None:
    """Strata h1 (2 PSUs), h2 (lonely), h3 (census: N = n, self-representing). R: the sum over
    the strata that have a variance, times 3 strata / 2 without NA."""
    strata = np.array(["h1", "h1", "h2", "h3", "h3"])
    fpc = np.array([np.inf, np.inf, np.inf, 2.0, 2.0])
    z = np.array([1.0, 4.0, 9.0, 2.0, 6.0])
    fpc[:3] = 100.0
    design = Design.build(n=5, strata=strata, fpc=[fpc], weights=np.ones(5), lonely_psu="average")
    h1 = (1 - 2 / 100) * 2 / 1 * _within(z[:2])
    assert variance_of_totals(design, z)[0, 0] == pytest.approx(h1 * 3 / 2, rel=1e-12)
    adjust = Design.build(n=5, strata=strata, fpc=[fpc], weights=np.ones(5), lonely_psu="adjust")
    grand = z.sum() / 5  # PSU totals over all PSUs of all strata
    expected = h1 + (1 - 1 / 100) * (9.0 - grand) ** 2
    assert variance_of_totals(adjust, z)[0, 0] == pytest.approx(expected, rel=1e-12)


def test_a_subset_keeps_the_designs_psu_counts() -> None:
    """R's subset: rows dropped, each stratum's n_h kept, missing PSUs counted as zero totals."""
    strata = np.repeat([0, 1], 4)
    psu = np.array([0, 0, 1, 2, 0, 1, 2, 3])
    design = Design.build(n=8, ids=[psu], strata=strata, nest=True, weights=np.full(8, 2.0))
    z = np.arange(1.0, 9.0)
    rows = np.array([True, True, False, False, True, False, False, False])
    sub = design.subset(rows)
    assert sub.n == 3
    h0 = 3 / 2 * _within(np.array([3.0, 0.0, 0.0]))
    h1 = 4 / 3 * _within(np.array([5.0, 0.0, 0.0, 0.0]))
    assert variance_of_totals(sub, z[rows])[0, 0] == pytest.approx(h0 + h1, rel=1e-12)
    assert variance_of_totals(design, z, rows)[0, 0] == pytest.approx(h0 + h1, rel=1e-12)
    assert variance_of_totals(design, np.where(rows, z, 0))[0, 0] == pytest.approx(h0 + h1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"ids": [np.array([1, 2, np.nan])]}, "cluster ids have missing values"),
        ({"strata": np.array(["a", None, "b"], dtype=object)}, "strata have missing values"),
        ({"weights": np.array([1.0, -1.0, 2.0])}, "weights cannot be negative"),
        ({"weights": np.array([1.0, np.nan, 2.0])}, "weights have missing"),
        ({"fpc": [np.array([2.0, 0.5, 2.0])]}, "all population sizes"),
        ({"fpc": [np.array([2.0, 2.0, 2.0])]}, "more than 100% sampling"),
        ({"strata": np.array([1, 1, 2]), "fpc": [np.array([5.0, 6.0, 5.0])]}, "vary within"),
        ({"lonely_psu": "skip"}, "lonely_psu must be one of"),
        ({"ids": [np.array([1, 1, 2])], "strata": np.array([1, 2, 2])}, "not nested in strata"),
        (
            {"ids": [np.array([1, 2, 3]), np.array([1, 1, 1])], "fpc": [np.full(3, 9.0)]},
            "no weights",
        ),
    ],
)
def test_bad_designs_say_what_is_wrong(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Design.build(n=3, **arguments)


def test_nested_ids_are_read_within_strata() -> None:
    strata = np.array([1, 1, 2, 2])
    ids = np.array([1, 2, 1, 2])
    nested = Design.build(n=4, ids=[ids], strata=strata, nest=True)
    assert len(nested.stages[0].stratum_of_cluster) == 4
    with pytest.raises(ValueError, match="not nested"):
        Design.build(n=4, ids=[ids], strata=strata)
