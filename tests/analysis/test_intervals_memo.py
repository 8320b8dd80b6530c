"""The quantiles behind the index table's intervals are remembered between tables (the table
after one more response asks for nearly the same ones). Whatever was asked before, each value
must be exactly what scipy computes for it: checked here against ``scipy.special`` itself on
calls that change a few values, change length, hold NaN, or come back to an earlier call."""

from __future__ import annotations

import numpy as np
from scipy import special

from analysis.satisfaction.intervals import _Kept


def _same(got: np.ndarray, expected: np.ndarray) -> bool:
    return bool(np.array_equal(got, expected, equal_nan=True))


def test_remembered_quantiles_equal_scipy_whatever_came_before() -> None:
    rng = np.random.default_rng(20261205)
    kept = _Kept(special.betaincinv, calls=3)
    n = rng.uniform(2, 500, 400)
    p = rng.uniform(0.05, 0.99, 400)
    a, b = n * p, n * (1 - p) + 1
    calls = [(a, b)]
    changed = a.copy()
    changed[[3, 77, 399]] += 1.0  # one more response in three domains
    calls.append((changed, b))
    calls.append((a[:-5], b[:-5]))  # a domain fewer: another length
    holes = a.copy()
    holes[10] = np.nan
    calls.append((holes, b))
    calls.append((holes, b))  # the NaN again: never taken as remembered
    calls.append((a, b))  # the first call again, after others pushed it out
    calls.append((a[::-1].copy(), b[::-1].copy()))  # the same values, other places
    for x, y in calls:
        for q in (0.025, 0.975):
            assert _same(kept(x, y, q), special.betaincinv(x, y, q))


def test_remembered_quantiles_keep_the_shape_and_an_empty_call() -> None:
    kept = _Kept(special.stdtrit)
    df = np.array([[1.0, 5.0, 30.0], [2.0, 5.0, np.inf]])
    assert _same(kept(df, 0.975), special.stdtrit(df, 0.975))
    assert kept(df, 0.975).shape == (2, 3)
    assert kept(np.array([]), 0.975).shape == (0,)
    changed = df.copy()
    changed[0, 0] = 3.0
    assert _same(kept(changed, 0.975), special.stdtrit(changed, 0.975))
