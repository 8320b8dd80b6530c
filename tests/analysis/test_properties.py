"""Properties that hold for every design (hypothesis), the p = 0 / p = 1 rule, and the coverage of
the 95% intervals on a synthetic stratified population."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis import calibration, estimators
from analysis.design import Design, LonelyPSUError, degrees_of_freedom, variance_of_totals
from analysis.intervals import CIMethod

METHODS = [m.value for m in CIMethod]


@st.composite
def samples(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified cluster sample: strata, PSU ids (two or more per stratum), 0/1 outcomes
    (some missing) and positive weights."""
    n = draw(st.integers(min_value=8, max_value=60))
    strata = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    strata[:6] = [0, 0, 1, 1, 2, 2]
    psu = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    psu[:6] = [0, 1, 0, 1, 0, 1]  # at least two PSUs in every stratum
    y = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, np.nan]), min_size=n, max_size=n)))
    y[:6] = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0]  # every stratum has answers, both kinds overall
    w = np.array(draw(st.lists(st.floats(0.5, 50), min_size=n, max_size=n)))
    return strata, psu, y, w


def _design(strata: np.ndarray, psu: np.ndarray, w: np.ndarray) -> Design:
    return Design.build(n=len(w), ids=[psu], strata=strata, weights=w, nest=True)


@settings(max_examples=40, deadline=None)
@given(samples(), st.floats(0.01, 1000))
def test_scaling_the_weights_changes_no_proportion(sample: tuple, factor: float) -> None:
    strata, psu, y, w = sample
    for method in ("logit", "beta", "likelihood"):
        a = estimators.proportion(_design(strata, psu, w), y, ci=method)
        b = estimators.proportion(_design(strata, psu, w * factor), y, ci=method)
        assert math.isclose(a.value, b.value, rel_tol=1e-9)
        assert math.isclose(a.se, b.se, rel_tol=1e-7, abs_tol=1e-12)
        assert math.isclose(a.ci_low, b.ci_low, rel_tol=1e-6, abs_tol=1e-9)
        assert math.isclose(a.ci_high, b.ci_high, rel_tol=1e-6, abs_tol=1e-9)


@settings(max_examples=40, deadline=None)
@given(samples(), st.sampled_from(METHODS), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_the_interval_contains_the_estimate(sample: tuple, method: str, level: float) -> None:
    strata, psu, y, w = sample
    e = estimators.proportion(_design(strata, psu, w), y, ci=method, level=level)
    assert e.ci_low <= e.value + 1e-12 and e.value <= e.ci_high + 1e-12
    if method != "mean":  # only the Wald interval may leave [0, 1]
        assert e.ci_low >= 0 and e.ci_high <= 1
    assert ("p_is_0_or_1" in e.flags) == (e.value in (0.0, 1.0))


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 80), st.floats(1.0, 100.0), st.integers(0, 10**6))
def test_effective_size_never_exceeds_n_for_equal_weights(n: int, weight: float, seed: int) -> None:
    """Simple random sampling with equal weights: deff >= 1, so n_eff <= n."""
    y = np.random.default_rng(seed).normal(size=n)
    e = estimators.mean(Design.build(n=n, weights=np.full(n, weight)), y, deff=True)
    assert e.n_eff <= e.n * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(samples(), st.integers(0, 2))
def test_a_domain_mean_is_the_ratio_of_domain_totals(sample: tuple, stratum: int) -> None:
    """R's domain identity (survey's tests/domain.R): the mean over a domain equals
    svyratio(y * d, d) on the whole design, estimate and SE."""
    strata, psu, y, w = sample
    design = _design(strata, psu, w)
    domain = (strata == stratum) | (psu == 0)
    present = ~np.isnan(y)
    indicator = (domain & present).astype(float)
    as_domain = estimators.mean(design, y, domain)
    as_ratio = estimators.ratio(design, np.nan_to_num(y) * indicator, indicator)
    assert math.isclose(as_domain.value, as_ratio.value, rel_tol=1e-12)
    assert math.isclose(as_domain.se, as_ratio.se, rel_tol=1e-9, abs_tol=1e-15)


@settings(max_examples=40, deadline=None)
@given(samples())
def test_a_domain_total_is_the_total_with_zero_influence_outside(sample: tuple) -> None:
    """Estimating on a domain equals estimating on the whole design with y = 0 outside it."""
    strata, psu, y, w = sample
    design = _design(strata, psu, w)
    domain = psu <= 1
    values = np.nan_to_num(y)
    inside = estimators.total(design, values, domain)
    zeroed = estimators.total(design, np.where(domain, values, 0.0))
    assert math.isclose(inside.value, zeroed.value, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(inside.se, zeroed.se, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=30, deadline=None)
@given(samples(), st.integers(0, 10**6))
def test_row_order_changes_nothing(sample: tuple, seed: int) -> None:
    strata, psu, y, w = sample
    order = np.random.default_rng(seed).permutation(len(w))
    a = estimators.proportion(_design(strata, psu, w), y, ci="beta", deff=True)
    b = estimators.proportion(
        _design(strata[order], psu[order], w[order]), y[order], ci="beta", deff=True
    )
    assert math.isclose(a.value, b.value, rel_tol=1e-12)
    assert math.isclose(a.se, b.se, rel_tol=1e-9, abs_tol=1e-15)
    assert (a.df, a.n) == (b.df, b.n)


@settings(max_examples=30, deadline=None)
@given(samples())
def test_difference_of_domains_in_disjoint_strata_adds_their_variances(sample: tuple) -> None:
    strata, psu, y, w = sample
    design = _design(strata, psu, w)
    a, b = strata == 0, strata == 1
    d = estimators.difference(design, y, a, b)
    first, second = estimators.mean(design, y, a), estimators.mean(design, y, b)
    assert math.isclose(d.value, first.value - second.value, rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(d.se**2, first.se**2 + second.se**2, rel_tol=1e-9, abs_tol=1e-15)


@settings(max_examples=30, deadline=None)
@given(samples())
def test_a_composite_of_one_item_twice_is_that_item(sample: tuple) -> None:
    strata, psu, y, w = sample
    design = _design(strata, psu, w)
    single = estimators.proportion(design, y, ci="mean")
    double = estimators.composite(design, [y, y], item_weights=[0.3, 0.7])
    assert math.isclose(single.value, double.value, rel_tol=1e-12)
    assert math.isclose(single.se, double.se, rel_tol=1e-9, abs_tol=1e-15)


def test_a_composite_keeps_the_covariance_of_its_items() -> None:
    """Two items that always agree (correlation 1): the composite's variance is that of one item,
    not half of it as it would be if the covariance were dropped."""
    rng = np.random.default_rng(7)
    y = (rng.random(200) < 0.7).astype(float)
    design = Design.build(n=200, ids=[np.repeat(np.arange(20), 10)], weights=np.full(200, 3.0))
    item = estimators.proportion(design, y, ci="mean")
    both = estimators.composite(design, [y, y.copy()])
    assert math.isclose(both.se, item.se, rel_tol=1e-12)


def test_variance_of_totals_takes_several_columns_at_once() -> None:
    rng = np.random.default_rng(3)
    n = 500
    design = Design.build(
        n=n,
        ids=[rng.integers(0, 40, n)],
        strata=rng.integers(0, 5, n),
        weights=rng.uniform(1, 9, n),
        nest=True,
    )
    z = rng.normal(size=(n, 4))
    v = variance_of_totals(design, z)
    assert v.shape == (4, 4) and np.allclose(v, v.T)
    for j in range(4):
        assert math.isclose(v[j, j], variance_of_totals(design, z[:, j])[0, 0], rel_tol=1e-12)
    assert np.linalg.eigvalsh(v).min() > -1e-9


def test_a_census_has_no_variance() -> None:
    """fpc equal to the number sampled in every stratum: every stratum is self-representing."""
    strata = np.repeat([0, 1], 10)
    design = Design.build(n=20, strata=strata, fpc=[np.full(20, 10.0)])
    e = estimators.mean(design, np.arange(20.0))
    assert e.se == 0.0 and np.allclose(design.weights, 1.0)


def test_a_lonely_psu_fails_by_default_and_names_its_stratum() -> None:
    strata = np.array(["U01", "U01", "U02", "U03", "U03"])
    design = Design.build(n=5, strata=strata)
    with pytest.raises(LonelyPSUError, match="stratum 'U02'"):
        estimators.mean(design, np.arange(5.0))
    # A domain that does not reach the lonely stratum is estimable, as R's subsets are.
    e = estimators.mean(design, np.arange(5.0), strata != "U02")
    assert e.value == pytest.approx(2.0) and "lonely_psu_adjusted" not in e.flags
    adjusted = Design.build(n=5, strata=strata, lonely_psu="adjust")
    assert "lonely_psu_adjusted" in estimators.mean(adjusted, np.arange(5.0)).flags


def test_degrees_of_freedom_are_psus_minus_strata_of_the_domain() -> None:
    strata = np.repeat([0, 1, 2], 6)
    psu = np.tile([0, 0, 1, 1, 2, 2], 3)
    design = Design.build(n=18, ids=[psu], strata=strata, nest=True)
    assert degrees_of_freedom(design) == 9 - 3
    assert degrees_of_freedom(design, strata == 0) == 3 - 1
    assert degrees_of_freedom(design, (strata == 0) & (psu == 0)) == 0


def test_all_successes_get_the_one_sided_korn_graubard_bound_and_a_flag() -> None:
    """R returns NaN at p = 1 (zero variance). Here: the one-sided Clopper-Pearson bound with
    n_eff = n, adjusted for the design df as Korn and Graubard do: n* = n (t_{n-1} / t_df)^2,
    interval [(alpha/2)^(1/n*), 1], for every method, flagged."""
    clusters = np.repeat(np.arange(8), 5)
    design = Design.build(n=40, ids=[clusters], weights=np.full(40, 5.0))
    n_star = 40 * (stats.t.ppf(0.025, 39) / stats.t.ppf(0.025, 7)) ** 2
    for method in METHODS:
        e = estimators.proportion(design, np.ones(40), ci=method)
        assert e.value == 1.0 and e.se == 0.0 and e.ci_high == 1.0 and e.df == 7
        assert e.ci_low == pytest.approx(0.025 ** (1 / n_star), rel=1e-12)
        assert "p_is_0_or_1" in e.flags
    none = estimators.proportion(design, np.zeros(40), ci="logit")
    assert none.ci_low == 0.0 and none.ci_high == pytest.approx(1 - 0.025 ** (1 / n_star))


def test_small_and_imprecise_estimates_are_flagged_not_hidden() -> None:
    design = Design.build(n=12, weights=np.arange(1, 13, dtype=float))
    y = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1], dtype=float)
    e = estimators.proportion(design, y, ci="beta")
    assert {"n<30", "n_eff<30", "wide_ci"} <= set(e.flags)
    assert 0 < e.value < 1 and e.ci_low < e.value < e.ci_high


def test_raking_that_does_not_converge_is_flagged() -> None:
    rng = np.random.default_rng(11)
    n = 300
    a, b = rng.integers(0, 3, n), rng.integers(0, 2, n)
    design = Design.build(n=n, weights=rng.uniform(1, 3, n))
    margins = [
        (a, {"0": 200.0, "1": 300.0, "2": 500.0}),
        (b, {"0": 450.0, "1": 550.0}),
    ]
    loose = calibration.rake(design, margins, epsilon=1e-12, maxit=1)
    tight = calibration.rake(design, margins, epsilon=1e-12, maxit=200)
    assert "raking_not_converged" in estimators.mean(loose, rng.normal(size=n)).flags
    assert "raking_not_converged" not in tight.flags
    for groups, population in margins:
        for label, count in population.items():
            assert tight.weights[groups == int(label)].sum() == pytest.approx(count, rel=1e-9)


def test_coverage_of_95_percent_intervals_on_a_synthetic_population() -> None:
    """Draw 300 stratified samples from a fixed population; the beta (Korn-Graubard) interval
    should cover the true proportion in about 95% of them (the simulation's own binomial error
    at 300 runs is about 1.3 points)."""
    rng = np.random.default_rng(20261123)
    sizes = np.array([4000, 2500, 1500])
    p_true = np.array([0.82, 0.90, 0.70])
    population = [rng.random(size) < p for size, p in zip(sizes, p_true, strict=True)]
    truth = sum(pop.sum() for pop in population) / sizes.sum()
    strata = np.repeat([0, 1, 2], 60)
    fpc = np.repeat(sizes.astype(float), 60)
    design = Design.build(n=180, strata=strata, fpc=[fpc])
    covered = 0
    runs = 300
    for _ in range(runs):
        ys = [
            pop[rng.choice(size, size=60, replace=False)]
            for pop, size in zip(population, sizes, strict=True)
        ]
        e = estimators.proportion(design, np.concatenate(ys).astype(float), ci="beta")
        covered += e.ci_low <= truth <= e.ci_high
    assert 0.92 <= covered / runs <= 0.99
