"""Design-based estimators by Taylor linearisation (Binder 1983; Lumley 2010, ch. 2-3).

Every estimator forms weighted influence values z_i (zero outside the domain), and its variance
is the design variance of their total (``design.variance_of_totals``):

* total       T = sum_D w y                      z = w y
* mean        ybar = sum_D w y / sum_D w         z = w (y - ybar) / sum_D w
* proportion  the mean of the 0/1 success indicator, with svyciprop's intervals
* ratio       R = sum_D w y / sum_D w x          z = w (y - R x) / sum_D w x
* composite   C = sum_j a_j p_j                  z = sum_j a_j z_j (all covariances kept)
* difference  theta_a - theta_b                  z = z_a - z_b

The design effect compares the variance with simple random sampling of the same size without
replacement (or with replacement), as R's ``deff=TRUE`` / ``deff="replace"``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.design import Design, LonelyPSU, degrees_of_freedom, variance_of_totals
from analysis.flags import reliability_flags
from analysis.intervals import CIMethod, proportion_interval, t_interval
from analysis.results import Estimate


class DeffKind(enum.StrEnum):
    NONE = "none"
    WITHOUT_REPLACEMENT = "wor"
    REPLACEMENT = "replace"


def deff_kind(value: bool | str | None) -> DeffKind:
    if value is None or value is False:
        return DeffKind.NONE
    if value is True:
        return DeffKind.WITHOUT_REPLACEMENT
    if value == "replace":
        return DeffKind.REPLACEMENT
    raise ValueError('deff must be true, false or "replace"')


class EmptyDomainError(ValueError):
    """No row of the domain has the variable: nothing to estimate."""


@dataclass(frozen=True)
class _Linear:
    value: float
    z: np.ndarray
    rows: np.ndarray  # the domain rows that carry the variable
    total_weight: float


def _mask(design: Design, domain: np.ndarray | None) -> np.ndarray:
    if domain is None:
        return np.ones(design.n, dtype=bool)
    mask = np.asarray(domain, dtype=bool)
    if mask.shape != (design.n,):
        raise ValueError("the domain must have one value per row")
    return mask


def _values(design: Design, y: np.ndarray) -> np.ndarray:
    values = np.asarray(y, dtype=float)
    if values.shape != (design.n,):
        raise ValueError("the variable must have one value per row")
    return values


def _linear_mean(design: Design, y: np.ndarray, domain: np.ndarray) -> _Linear:
    rows = domain & ~np.isnan(y) & (design.weights != 0)
    if not rows.any():
        raise EmptyDomainError("no row of the domain has a value for the variable")
    w = np.where(rows, design.weights, 0.0)
    total_weight = float(w.sum())
    if total_weight <= 0:
        raise EmptyDomainError("the domain's rows all have zero weight")
    yy = np.where(rows, y, 0.0)
    value = float((w * yy).sum() / total_weight)
    z = w * (yy - value) / total_weight
    return _Linear(value, z, rows, total_weight)


def _srs_variance(design: Design, y: np.ndarray, rows: np.ndarray, kind: DeffKind) -> float:
    """Variance of the mean under simple random sampling of the same size (R's svyvar)."""
    w = design.weights[rows]
    values = y[rows]
    n = int(rows.sum())
    if n < 2:
        return math.nan
    mean = float((w * values).sum() / w.sum())
    population_variance = float((w * (values - mean) ** 2).sum() / w.sum()) * n / (n - 1)
    variance = population_variance / n
    if kind == DeffKind.WITHOUT_REPLACEMENT:
        npop = float(w.sum())
        variance *= max(npop - n, 0.0) / npop
    return variance


def _finish(
    design: Design,
    *,
    value: float,
    variance: float,
    rows: np.ndarray,
    df_rows: np.ndarray,
    level: float,
    deff: float | None,
    n_eff: float,
    proportion_ci: CIMethod | None,
) -> Estimate:
    se = math.sqrt(max(variance, 0.0))
    df = float(degrees_of_freedom(design, df_rows))
    n = int(rows.sum())
    if proportion_ci is not None:
        low, high = proportion_interval(
            value, se, df, n_eff, proportion_ci, level, n_rows=int(df_rows.sum())
        )
        method = proportion_ci.value
    else:
        low, high = t_interval(value, se, df, level)
        method = "t"
    flags = reliability_flags(
        n=n,
        n_eff=n_eff,
        df=df,
        value=value,
        ci_low=low,
        ci_high=high,
        is_proportion=proportion_ci is not None,
        lonely_psu_adjusted=design.lonely_psu != LonelyPSU.FAIL and _has_lonely(design, rows),
    )
    return Estimate(
        value=value,
        se=se,
        df=df,
        ci_low=low,
        ci_high=high,
        level=level,
        ci_method=method,
        n=n,
        n_eff=n_eff,
        deff=deff,
        flags=flags,
    )


def _has_lonely(design: Design, rows: np.ndarray) -> bool:
    return bool((design.sampled[0][rows] <= 1).any())


def _deff(variance: float, srs: float, kind: DeffKind) -> tuple[float | None, float]:
    ratio = variance / srs if srs and math.isfinite(srs) and srs > 0 else math.nan
    return (ratio if kind != DeffKind.NONE else None), ratio


def _n_eff(n: int, ratio: float) -> float:
    return n / ratio if math.isfinite(ratio) and ratio > 0 else float(n)


def mean(
    design: Design,
    y: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    level: float = 0.95,
    deff: bool | str = False,
) -> Estimate:
    """Weighted mean of ``y`` over the domain's rows where it is present (NaN = missing)."""
    return _mean_estimate(design, y, domain, level=level, deff=deff, ci=None)


def proportion(
    design: Design,
    success: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    ci: CIMethod | str = CIMethod.BETA,
    level: float = 0.95,
    deff: bool | str = False,
) -> Estimate:
    """Share of the domain's rows (with the variable present) that are successes.
    ``success`` holds 1.0 / 0.0, NaN where the variable is missing."""
    method = ci if isinstance(ci, CIMethod) else CIMethod(ci)
    return _mean_estimate(design, success, domain, level=level, deff=deff, ci=method)


def _mean_estimate(
    design: Design,
    y: np.ndarray,
    domain: np.ndarray | None,
    *,
    level: float,
    deff: bool | str,
    ci: CIMethod | None,
) -> Estimate:
    values = _values(design, y)
    lin = _linear_mean(design, values, _mask(design, domain))
    variance = float(variance_of_totals(design, lin.z, lin.rows)[0, 0])
    kind = deff_kind(deff)
    # n_eff always uses the design effect against sampling without replacement.
    basis = kind if kind != DeffKind.NONE else DeffKind.WITHOUT_REPLACEMENT
    reported, ratio = _deff(variance, _srs_variance(design, values, lin.rows, basis), kind)
    return _finish(
        design,
        value=lin.value,
        variance=variance,
        rows=lin.rows,
        df_rows=lin.rows,
        level=level,
        deff=reported,
        n_eff=_n_eff(int(lin.rows.sum()), ratio),
        proportion_ci=ci,
    )


def total(
    design: Design,
    y: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    level: float = 0.95,
    deff: bool | str = False,
) -> Estimate:
    """Estimated population total of ``y`` in the domain (missing values count as absent)."""
    values = _values(design, y)
    mask = _mask(design, domain)
    present = mask & ~np.isnan(values)
    if not mask.any():
        raise EmptyDomainError("the domain has no rows")
    z = np.where(present, design.weights * np.nan_to_num(values), 0.0)
    value = float(z.sum())
    variance = float(variance_of_totals(design, z, mask)[0, 0])
    kind = deff_kind(deff)
    srs = _srs_variance(
        design,
        np.nan_to_num(values),
        present,
        kind if kind != DeffKind.NONE else DeffKind.WITHOUT_REPLACEMENT,
    )
    srs_total = srs * float(design.weights[present].sum()) ** 2
    reported, ratio = _deff(variance, srs_total, kind)
    return _finish(
        design,
        value=value,
        variance=variance,
        rows=present,
        df_rows=mask,
        level=level,
        deff=reported,
        n_eff=_n_eff(int(present.sum()), ratio),
        proportion_ci=None,
    )


def ratio(
    design: Design,
    numerator: np.ndarray,
    denominator: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    level: float = 0.95,
) -> Estimate:
    """Ratio of two estimated totals over the domain's rows where both are present."""
    y, x = _values(design, numerator), _values(design, denominator)
    rows = _mask(design, domain) & ~np.isnan(y) & ~np.isnan(x)
    if not rows.any():
        raise EmptyDomainError("no row of the domain has both variables")
    w = np.where(rows, design.weights, 0.0)
    yy, xx = np.where(rows, y, 0.0), np.where(rows, x, 0.0)
    denominator_total = float((w * xx).sum())
    if denominator_total == 0:
        raise EmptyDomainError("the denominator's total is zero in the domain")
    value = float((w * yy).sum()) / denominator_total
    z = w * (yy - value * xx) / denominator_total
    variance = float(variance_of_totals(design, z, rows)[0, 0])
    return _finish(
        design,
        value=value,
        variance=variance,
        rows=rows,
        df_rows=rows,
        level=level,
        deff=None,
        n_eff=float(rows.sum()),
        proportion_ci=None,
    )


def composite(
    design: Design,
    items: Sequence[np.ndarray],
    domain: np.ndarray | None = None,
    *,
    item_weights: Sequence[float] | None = None,
    level: float = 0.95,
) -> Estimate:
    """sum_j a_j p_j: a weighted mean of item proportions (each among its own answering rows),
    with the delta-method variance including every covariance between items."""
    if not items:
        raise ValueError("a composite needs at least one item")
    a = (
        np.full(len(items), 1 / len(items))
        if item_weights is None
        else np.asarray(item_weights, float)
    )
    if len(a) != len(items):
        raise ValueError("item_weights must have one weight per item")
    if not math.isclose(float(a.sum()), 1.0, rel_tol=1e-9) or (a < 0).any():
        raise ValueError("item_weights must be non-negative and sum to 1")
    mask = _mask(design, domain)
    value = 0.0
    z = np.zeros(design.n)
    answering = np.zeros(design.n, dtype=bool)
    for weight, item in zip(a, items, strict=True):
        lin = _linear_mean(design, _values(design, item), mask)
        value += weight * lin.value
        z += weight * lin.z
        answering |= lin.rows
    variance = float(variance_of_totals(design, z, mask)[0, 0])
    return _finish(
        design,
        value=value,
        variance=variance,
        rows=mask & (design.weights != 0),
        df_rows=mask,
        level=level,
        deff=None,
        n_eff=float(answering.sum()),
        proportion_ci=None,
    )


def difference(
    design: Design,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    level: float = 0.95,
) -> Estimate:
    """Mean (or proportion, for 0/1 values) in domain ``a`` minus that in domain ``b``, with
    their covariance (zero for disjoint strata, not in general)."""
    values = _values(design, y)
    mask = _mask(design, domain)
    first = _linear_mean(design, values, mask & np.asarray(a, bool))
    second = _linear_mean(design, values, mask & np.asarray(b, bool))
    z = first.z - second.z
    variance = float(variance_of_totals(design, z, mask)[0, 0])
    rows = first.rows | second.rows
    return _finish(
        design,
        value=first.value - second.value,
        variance=variance,
        rows=rows,
        df_rows=mask,
        level=level,
        deff=None,
        n_eff=float(rows.sum()),
        proportion_ci=None,
    )
