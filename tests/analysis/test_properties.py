"""Properties that hold for every design (hypothesis), and the coverage of the 95% intervals on a
synthetic stratified population."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import estimators
from analysis.design import Design


@st.composite
def samples(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=6, max_value=60))
    strata = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    strata[:6] = [0, 0, 1, 1, 2, 2]  # at least two units per stratum
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=float)
    w = np.array(draw(st.lists(st.floats(0.5, 50), min_size=n, max_size=n)))
    return strata, y, w


@settings(max_examples=60, deadline=None)
@given(samples(), st.floats(0.01, 1000))
def test_scaling_weights_changes_no_proportion(sample: tuple, factor: float) -> None:
    strata, y, w = sample
    a = estimators.proportion(Design.build(n=len(y), strata=strata, weights=w), y, ci="logit")
    b = estimators.proportion(
        Design.build(n=len(y), strata=strata, weights=w * factor), y, ci="logit"
    )
    assert np.isclose(a.value, b.value) and np.isclose(a.se, b.se)


@settings(max_examples=60, deadline=None)
@given(
    samples(), st.sampled_from(["logit", "xlogit", "beta", "wilson", "asin", "mean", "likelihood"])
)
def test_interval_contains_the_estimate(sample: tuple, method: str) -> None:
    strata, y, w = sample
    e = estimators.proportion(Design.build(n=len(y), strata=strata, weights=w), y, ci=method)
    assert e.ci_low <= e.value + 1e-12 and e.value <= e.ci_high + 1e-12
    if e.value in (0.0, 1.0):
        assert "p_is_0_or_1" in e.flags


@settings(max_examples=40, deadline=None)
@given(samples())
def test_effective_size_never_exceeds_n_for_equal_weights(sample: tuple) -> None:
    _strata, y, _weights = sample
    e = estimators.mean(Design.build(n=len(y)), y + np.arange(len(y)) % 3, deff=True)
    assert e.n_eff <= e.n + 1e-9


def test_coverage_of_95_percent_intervals_on_a_synthetic_population() -> None:
    """Draw 400 stratified samples from a fixed population; the beta (Korn-Graubard) interval
    should cover the true proportion in about 95% of them. Printed for the record."""
    rng = np.random.default_rng(20261123)
    sizes = np.array([4000, 2500, 1500])
    p_true = np.array([0.82, 0.90, 0.70])
    population = [rng.random(size) < p for size, p in zip(sizes, p_true, strict=True)]
    truth = sum(pop.sum() for pop in population) / sizes.sum()
    covered = 0
    runs = 400
    for _ in range(runs):
        ys, strata, weights, fpc = [], [], [], []
        for h, (pop, size) in enumerate(zip(population, sizes, strict=True)):
            n = 60
            take = rng.choice(size, size=n, replace=False)
            ys.append(pop[take].astype(float))
            strata.append(np.full(n, h))
            weights.append(np.full(n, size / n))
            fpc.append(np.full(n, float(size)))
        design = Design.build(
            n=180,
            strata=np.concatenate(strata),
            weights=np.concatenate(weights),
            fpc=[np.concatenate(fpc)],
        )
        e = estimators.proportion(design, np.concatenate(ys), ci="beta")
        covered += e.ci_low <= truth <= e.ci_high
    coverage = covered / runs
    print(f"coverage of the 95% beta interval: {coverage:.3f} over {runs} samples")
    # Binomial sampling error of the simulation itself at 400 runs is about 1.1 points.
    assert 0.92 <= coverage <= 0.985


def test_all_successes_get_a_one_sided_interval_and_a_flag() -> None:
    """R returns NaN bounds at p = 1 (zero variance). Here: the Clopper-Pearson bound on n,
    (alpha/2)^(1/n) to 1, flagged."""
    design = Design.build(n=40, strata=np.repeat([0, 1], 20), weights=np.full(40, 5.0))
    e = estimators.proportion(design, np.ones(40), ci="beta")
    assert e.value == 1.0 and e.ci_high == 1.0
    assert e.ci_low == np.float64(0.025) ** (1 / 40)
    assert "p_is_0_or_1" in e.flags


def test_small_and_imprecise_estimates_are_flagged_not_hidden() -> None:
    design = Design.build(n=12, weights=np.arange(1, 13, dtype=float))
    y = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1], dtype=float)
    e = estimators.proportion(design, y, ci="beta")
    assert {"n<30", "n_eff<30", "wide_ci"} <= set(e.flags)
    assert 0 < e.value < 1 and e.ci_low < e.value < e.ci_high
