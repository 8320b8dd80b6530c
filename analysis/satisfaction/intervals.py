"""Intervals. Criterion top-2-box proportions (and the overall question): Korn and Graubard's
(1998) beta interval by default, or any method of ``analysis.intervals.CIMethod`` (logit as the
alternative), exactly as ``analysis.intervals.proportion_interval`` / R's ``svyciprop``.
Composite indices and mean scores: estimate +- t(df) se with the design degrees of freedom
(PSUs minus strata among the domain's responses, as R's ``degf``; the normal quantile when df is
0), then intersected with the range the index can take (0-100 percent, the scale's range), which
keeps the coverage. The df of a criterion counts only the responses that answered it. A
top-2-box composite at exactly 0% or 100% has no variance to build that interval on; it gets the
one-sided Korn-Graubard bound of a proportion on its answering responses (``ci_method`` beta).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special

from analysis.flags import (
    MAX_ABSOLUTE_WIDTH,
    MAX_RELATIVE_WIDTH,
    MIN_DF,
    MIN_N_EFF,
    MIN_RESPONSES,
    RELATIVE_FLOOR,
)
from analysis.intervals import CIMethod, proportion_interval
from analysis.satisfaction.table import _BIT


class _Kept:
    """A costly pure function of floats (a quantile: a root search per value), elementwise,
    that remembers its last few calls: the table after one more response asks for nearly the
    same values again, in the same places (only the domains holding that response change), so
    each call is compared with the most alike of the kept ones of its length, element by
    element, and only the values that differ are computed. The comparison is a few array
    operations: a first computation (a table of a million responses, 280,000 values) costs
    what the function costs, where a dictionary of values cost twice that."""

    def __init__(
        self, function: Callable[..., np.ndarray], calls: int = 8, largest: int = 500_000
    ) -> None:
        self.function = function
        self.calls = calls
        self.largest = largest
        self.kept: list[tuple[tuple[np.ndarray, ...], np.ndarray]] = []

    def __call__(self, *args: np.ndarray | float) -> np.ndarray:
        arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in args))
        shape = arrays[0].shape
        flat = tuple(np.array(a.ravel()) for a in arrays)  # copies: kept, never a view
        size = len(flat[0])
        best: np.ndarray | None = None
        best_out: np.ndarray | None = None
        for inputs, out in list(self.kept):
            if len(out) != size:
                continue
            same = np.logical_and.reduce([a == b for a, b in zip(inputs, flat, strict=True)])
            if best is None or same.sum() > best.sum():
                best, best_out = same, out
        if best is None or best_out is None or not best.any():
            result = np.asarray(self.function(*flat), dtype=float)
        else:
            result = best_out.copy()
            missing = ~best
            if missing.any():
                result[missing] = self.function(*(f[missing] for f in flat))
        if size <= self.largest:
            self.kept = [(flat, result.copy()), *self.kept][: self.calls]
        return result.reshape(shape)


_betaincinv = _Kept(special.betaincinv)
_quantile = _Kept(special.stdtrit)


def _t_quantile(q: float, df: np.ndarray) -> np.ndarray:
    """t_{df} quantile, the normal one where df is not positive and finite
    (``analysis.intervals.t_quantile``)."""
    ok = (df > 0) & np.isfinite(df)
    return np.where(ok, _stdtrit(np.where(ok, df, 1.0), q), special.ndtri(q))


def _stdtrit(df: np.ndarray, q: float) -> np.ndarray:
    """special.stdtrit(df, q), computed once per distinct df: a table has a few hundred
    distinct df among hundreds of thousands of rows, and each quantile is a root search."""
    distinct, inverse = np.unique(np.ravel(df), return_inverse=True)
    return _quantile(distinct, q)[inverse.reshape(-1)].reshape(np.shape(df))


def _kg_ratio(rows: np.ndarray, df: np.ndarray, alpha: float) -> np.ndarray:
    """Korn and Graubard's (t_{n-1, alpha/2} / t_{df, alpha/2})^2, 1 where undefined (as
    ``analysis.intervals``)."""
    ok = (rows >= 2) & (df > 0)
    lower = _t_quantile(alpha / 2, np.where(ok, df, np.inf))
    upper = _stdtrit(np.where(ok, rows - 1, 1.0), alpha / 2)
    return np.where(ok, (upper / lower) ** 2, 1.0)


def _proportion_intervals(
    p: np.ndarray,
    se: np.ndarray,
    df: np.ndarray,
    n_rows: np.ndarray,
    method: CIMethod,
    confidence: float,
    *,
    kg_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``analysis.intervals.proportion_interval`` on arrays, with the same formulas (the
    likelihood interval, a root search, goes through the function row by row). At p = 0 or 1
    the one-sided Korn-Graubard bound on n* = n (t_{n-1} / t_df)^2; with zero SE the point.
    ``kg_rows``: the n of t_{n-1} of a regular beta interval when it is not the domain's
    (the whole sample of a calibrated design, as ``proportion_interval``)."""
    alpha = 1 - confidence
    low, high = np.full(len(p), np.nan), np.full(len(p), np.nan)
    rows = n_rows.astype(float)
    present = np.isfinite(p) & np.isfinite(se)
    edge = present & ((p <= 0) | (p >= 1))
    bound = (alpha / 2) ** (1 / np.maximum(rows * _kg_ratio(rows, df, alpha), 1.0))
    low[edge] = np.where(p[edge] <= 0, 0.0, bound[edge])
    high[edge] = np.where(p[edge] <= 0, 1 - bound[edge], 1.0)
    exact = present & ~edge & (se <= 0)
    low[exact], high[exact] = p[exact], p[exact]
    regular = present & ~edge & ~exact
    if method == CIMethod.LIKELIHOOD:
        for i in np.flatnonzero(regular):
            low[i], high[i] = proportion_interval(
                float(p[i]),
                float(se[i]),
                float(df[i]),
                float(rows[i]),
                method,
                confidence,
                n_rows=int(rows[i]),
                kg_rows=kg_rows,
            )
        return low, high
    pr, sr = p[regular], se[regular]
    t = _t_quantile(1 - alpha / 2, df[regular])
    if method == CIMethod.MEAN:
        lo, hi = pr - t * sr, pr + t * sr
    elif method in (CIMethod.LOGIT, CIMethod.XLOGIT):
        eta, se_eta = np.log(pr / (1 - pr)), sr / (pr * (1 - pr))
        lo, hi = special.expit(eta - t * se_eta), special.expit(eta + t * se_eta)
    elif method == CIMethod.ASIN:
        phi, se_phi = np.arcsin(np.sqrt(pr)), sr / (2 * np.sqrt(pr * (1 - pr)))
        lo, hi = np.sin(phi - t * se_phi) ** 2, np.sin(phi + t * se_phi) ** 2
    elif method == CIMethod.WILSON:
        n = pr * (1 - pr) / sr**2
        t2 = t * t
        centre = (pr + t2 / (2 * n)) / (1 + t2 / n)
        half = t * np.sqrt(pr * (1 - pr) / n + t2 / (4 * n * n)) / (1 + t2 / n)
        lo, hi = centre - half, centre + half
    else:  # BETA: Clopper-Pearson on Korn and Graubard's effective size
        kg = rows[regular] if kg_rows is None else np.full(len(pr), float(kg_rows))
        n = pr * (1 - pr) / sr**2 * _kg_ratio(kg, df[regular], alpha)
        lo = _betaincinv(n * pr, n * (1 - pr) + 1, alpha / 2)
        hi = _betaincinv(n * pr + 1, n * (1 - pr), 1 - alpha / 2)
    low[regular], high[regular] = lo, hi
    return low, high


def _reliability_bits(
    *,
    n: np.ndarray,
    n_eff: np.ndarray,
    df: np.ndarray,
    value: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    is_proportion: bool,
    lonely: np.ndarray,
) -> np.ndarray:
    """``analysis.flags.reliability_flags`` on arrays: the same rules in the same order."""
    bits = np.where(n < MIN_RESPONSES, _BIT["n<30"], 0)
    bits |= np.where(df < MIN_DF, _BIT["df<8"], 0)
    bits |= np.where(lonely, _BIT["lonely_psu_adjusted"], 0)
    if not is_proportion:
        return bits
    bits |= np.where(n_eff < MIN_N_EFF, _BIT["n_eff<30"], 0)
    bits |= np.where((value <= 0) | (value >= 1), _BIT["p_is_0_or_1"], 0)
    width = high - low
    finite = np.isfinite(width)
    wide = finite & (width >= MAX_ABSOLUTE_WIDTH)
    middle = finite & ~wide & (width > RELATIVE_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = middle & (value > 0) & (value < 1) & (width / value > MAX_RELATIVE_WIDTH)
        complement = middle & (value < 1) & (width / (1 - value) > MAX_RELATIVE_WIDTH)
    bits |= np.where(wide, _BIT["wide_ci"], 0)
    bits |= np.where(relative, _BIT["wide_relative_ci"], 0)
    bits |= np.where(complement, _BIT["wide_relative_ci_complement"], 0)
    return bits
