"""Design-based estimators by Taylor linearisation (Binder 1983; Woodruff 1971; Lumley 2010,
ch. 2-3), equal to R's survey package (``svymean``, ``svytotal``, ``svyratio``, ``svyciprop``).

Every estimator forms weighted influence values z_i, zero outside the domain D, and its variance
is the design variance of their total (``analysis.design.variance_of_totals``); with W = sum_D w:

* total       T = sum_D w y                      z = w y
* mean        ybar = sum_D w y / W               z = w (y - ybar) / W
* proportion  the mean of the 0/1 success indicator, with ``svyciprop``'s intervals
* ratio       R = sum_D w y / sum_D w x          z = w (y - R x) / sum_D w x
* composite   C = sum_j a_j p_j                  z = sum_j a_j z_j (every covariance kept)
* difference  theta_a - theta_b                  z = z_a - z_b (their covariance kept)

Rows where the variable is missing are outside the domain (R's ``na.rm=TRUE``). Domains are
never dropped from the design.

Design effect (Kish 1965; R's ``deff=``): deff = V / V_srs, with V_srs the variance of the same
estimator under simple random sampling of the same n rows, from the per-unit linearised values
u_i = z_i / w_i over the n rows of the domain carrying the variable:

    V_srs = s_u^2 W^2 / n (1 - n / W)        (``deff=True``: without replacement, as R)
    V_srs = s_u^2 W^2 / n                    (``deff="replace"``)

where s_u^2 = n / (n - 1) sum w (u - ubar)^2 / W (R's ``svyvar``). For the mean, total and ratio
this is R's definition; for composites and differences it is the same rule applied to their
influence values. deff is NaN where V_srs is zero or undefined (n < 2; W <= n without
replacement, where R gives Inf or NA). The effective sample size is always n_eff = n / deff with the
without-replacement deff (n when deff is undefined, e.g. a zero variance), whether or not a deff
was asked for.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.design import Design, degrees_of_freedom, has_lonely_psu, variance_of_totals
from analysis.flags import reliability_flags
from analysis.intervals import (
    CIMethod,
    ci_method,
    glm_working_variance,
    proportion_interval,
    t_interval,
)
from analysis.results import Estimate


class DeffKind(enum.StrEnum):
    NONE = "none"
    WITHOUT_REPLACEMENT = "wor"
    REPLACEMENT = "replace"


def deff_kind(value: bool | str | None) -> DeffKind:
    """R's ``deff=`` argument: False/None, True (without replacement) or "replace".

    Parameters
    ----------
    value : bool | str | None
        R's ``deff=`` argument.

    Returns
    -------
    DeffKind
        None, without replacement, or with replacement.
    """
    if value is None or value is False:
        return DeffKind.NONE
    if value is True:
        return DeffKind.WITHOUT_REPLACEMENT
    if value == "replace":
        return DeffKind.REPLACEMENT
    raise ValueError(f'deff must be true, false or "replace", not {value!r}')


class EmptyDomainError(ValueError):
    """No row of the domain has the variable: nothing to estimate."""


@dataclass(frozen=True)
class _Linear:
    """A linearised statistic: its value, influence values z (zero outside ``rows``), the rows
    that carry it, and the total weight of those rows."""

    value: float
    z: np.ndarray
    rows: np.ndarray


def _mask(design: Design, domain: np.ndarray | None) -> np.ndarray:
    if domain is None:
        return np.ones(design.n, dtype=bool)
    mask = np.asarray(domain)
    if mask.shape != (design.n,):
        raise ValueError("the domain must have one value per row")
    return mask.astype(bool)


def _focus(design: Design, mask: np.ndarray) -> tuple[Design, np.ndarray | None, np.ndarray]:
    """The design to estimate a domain on: R's subset (``Design.subset``: same variance, cost of
    the domain's rows only) for an uncalibrated design, the whole design otherwise. Returns it,
    the row index into the caller's arrays (None when they are used whole) and the domain's mask
    on the returned design."""
    if not mask.any():
        raise EmptyDomainError("the domain has no rows")
    if design.calibrated or mask.all():
        return design, None, mask
    index = np.flatnonzero(mask)
    sub = design.take(index)
    return sub, index, np.ones(sub.n, dtype=bool)


def _values(design: Design, y: np.ndarray, what: str = "the variable") -> np.ndarray:
    try:
        values = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numeric") from None
    if values.shape != (design.n,):
        raise ValueError(f"{what} must have one value per row")
    return values


def _take(values: np.ndarray, index: np.ndarray | None, what: str = "the variable") -> np.ndarray:
    """The values of the rows estimated on (checked there only: a domain costs its rows)."""
    taken = values if index is None else values[index]
    if np.isinf(taken).any():
        raise ValueError(f"{what} has infinite values")
    return taken


def _linear_mean(
    design: Design, y: np.ndarray, domain: np.ndarray, what: str = "the variable"
) -> _Linear:
    rows = domain & ~np.isnan(y) & (design.weights != 0)
    if not rows.any():
        raise EmptyDomainError(f"no row of the domain has a value for {what}")
    w = np.where(rows, design.weights, 0.0)
    total_weight = float(w.sum())
    yy = np.where(rows, y, 0.0)
    value = float(w @ yy / total_weight)
    z = w * (yy - value) / total_weight
    return _Linear(value, z, rows)


def _srs_variance(design: Design, z: np.ndarray, rows: np.ndarray, kind: DeffKind) -> float:
    """V_srs of the module docstring from influence values z over ``rows``."""
    w = design.weights[rows]
    n = int(rows.sum())
    if n < 2:
        return math.nan
    u = z[rows] / w
    big_w = float(w.sum())
    centre = float(w @ u) / big_w
    s2 = float(w @ (u - centre) ** 2) / big_w * n / (n - 1)
    variance = s2 * big_w**2 / n
    if kind == DeffKind.REPLACEMENT:
        return variance
    if big_w < n:
        return math.nan  # R: "sample size greater than population size"
    return variance * (big_w - n) / big_w


def _design_effect(
    design: Design, variance: float, z: np.ndarray, rows: np.ndarray, kind: DeffKind
) -> tuple[float | None, float]:
    """(the deff asked for, or None; n_eff = n / deff without replacement)."""
    n = int(rows.sum())

    def ratio(k: DeffKind) -> float:
        srs = _srs_variance(design, z, rows, k)
        return variance / srs if math.isfinite(srs) and srs > 0 else math.nan

    wor = ratio(DeffKind.WITHOUT_REPLACEMENT)
    n_eff = n / wor if math.isfinite(wor) and wor > 0 else float(n)
    if kind == DeffKind.NONE:
        return None, n_eff
    return (wor if kind == DeffKind.WITHOUT_REPLACEMENT else ratio(kind)), n_eff


def _finish(
    design: Design,
    *,
    value: float,
    z: np.ndarray,
    rows: np.ndarray,
    variance_rows: np.ndarray,
    df_rows: np.ndarray,
    level: float,
    deff: bool | str,
    df: float | None,
    proportion_ci: CIMethod | None,
    successes: np.ndarray | None = None,
) -> Estimate:
    """Variance, design effect, interval and flags of a linearised statistic. The n of
    Korn-Graubard's t_{n-1} in a beta interval is the domain's rows, or every row of a
    calibrated design (the one-sided bound at p = 0 or 1 keeps the domain's rows): R's
    subset of a calibrated design keeps all rows (zero weight outside the domain), and
    ``svyciprop`` takes ``nrow`` of it, while ``degf`` counts only the domain's PSUs."""
    kind = deff_kind(deff)
    variance = float(variance_of_totals(design, z, variance_rows)[0, 0])
    se = math.sqrt(max(variance, 0.0))
    design_df = float(degrees_of_freedom(design, df_rows))
    used_df = design_df if df is None else float(df)
    n = int(rows.sum())
    reported_deff, n_eff = _design_effect(design, variance, z, rows, kind)
    if proportion_ci is not None:
        working = None
        if proportion_ci == CIMethod.LIKELIHOOD and successes is not None and 0 < value < 1:
            working = glm_working_variance(successes[rows], design.weights[rows])
        low, high = proportion_interval(
            value,
            se,
            used_df,
            n_eff,
            proportion_ci,
            level,
            n_rows=n,
            design_df=design_df,
            working_variance=working,
            kg_rows=design.n if design.calibrated else n,
        )
        method = proportion_ci.value
    else:
        low, high = t_interval(value, se, used_df, level)
        method = "t"
    flags = reliability_flags(
        n=n,
        n_eff=n_eff,
        df=used_df,
        value=value,
        ci_low=low,
        ci_high=high,
        is_proportion=proportion_ci is not None,
        lonely_psu_adjusted=has_lonely_psu(design, variance_rows),
    )
    return Estimate(
        value=value,
        se=se,
        df=used_df,
        ci_low=low,
        ci_high=high,
        level=level,
        ci_method=method,
        n=n,
        n_eff=n_eff,
        deff=reported_deff,
        flags=tuple(dict.fromkeys((*flags, *design.flags))),
    )


def mean(
    design: Design,
    y: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    level: float = 0.95,
    deff: bool | str = False,
    df: float | None = None,
) -> Estimate:
    """Weighted mean ybar = sum_D w y / sum_D w over the domain's rows where ``y`` is present
    (NaN = missing), as R's ``svymean(na.rm=TRUE)``; t interval on ``df`` (default: the design
    df of those rows).

    Parameters
    ----------
    design : Design
        The survey design.
    y : numpy.ndarray
        The variable, NaN where missing.
    domain : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).
    level : float
        Confidence level of the interval (default 0.95).
    deff : bool | str
        Design effect: False, True (without replacement) or "replace".
    df : float | None
        Degrees of freedom of the interval (default: the design df of the rows used).

    Returns
    -------
    Estimate
        Value, standard error, df, interval, n, n_eff, design effect and flags.
    """
    values = _values(design, y)
    design, index, mask = _focus(design, _mask(design, domain))
    lin = _linear_mean(design, _take(values, index), mask)
    return _finish(
        design,
        value=lin.value,
        z=lin.z,
        rows=lin.rows,
        variance_rows=lin.rows,
        df_rows=lin.rows,
        level=level,
        deff=deff,
        df=df,
        proportion_ci=None,
    )


def proportion(
    design: Design,
    success: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    ci: CIMethod | str = CIMethod.BETA,
    level: float = 0.95,
    deff: bool | str = False,
    df: float | None = None,
) -> Estimate:
    """Share p = sum_D w s / sum_D w of successes s (1.0 / 0.0, NaN where the variable is
    missing) among the domain's rows with the variable, with the interval ``ci`` of R's
    ``svyciprop`` (``analysis.intervals``) on ``df`` degrees of freedom (default: the design df
    of those rows). The n of Korn-Graubard's t_{n-1} and of the likelihood's binomial counts
    the rows that answered; R's ``nrow(design)`` also counts rows of the domain where the
    variable is missing (a "not applicable" is not a response here). On a calibrated design it
    is every row of the sample, as R's ``svyciprop`` on a subset of a calibrated design.

    Parameters
    ----------
    design : Design
        The survey design.
    success : numpy.ndarray
        1.0 for a success, 0.0 for a failure, NaN where missing.
    domain : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).
    ci : CIMethod | str
        The interval: beta (Korn-Graubard), logit, xlogit, asin, mean, wilson or likelihood.
    level : float
        Confidence level of the interval (default 0.95).
    deff : bool | str
        Design effect: False, True (without replacement) or "replace".
    df : float | None
        Degrees of freedom of the interval (default: the design df of the rows used).

    Returns
    -------
    Estimate
        Value, standard error, df, interval, n, n_eff, design effect and flags.
    """
    method = ci_method(ci)
    values = _values(design, success, "the success indicator")
    design, index, mask = _focus(design, _mask(design, domain))
    taken = values if index is None else values[index]  # checked there only, as _take does
    if (~np.isnan(taken) & (taken != 0) & (taken != 1)).any():
        raise ValueError("a proportion needs 1 (success), 0 (failure) or NaN (missing) values")
    lin = _linear_mean(design, taken, mask)
    return _finish(
        design,
        value=lin.value,
        z=lin.z,
        rows=lin.rows,
        variance_rows=lin.rows,
        df_rows=lin.rows,
        level=level,
        deff=deff,
        df=df,
        proportion_ci=method,
        successes=taken,
    )


def total(
    design: Design,
    y: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    level: float = 0.95,
    deff: bool | str = False,
    df: float | None = None,
) -> Estimate:
    """Estimated population total T = sum_D w y of ``y`` over the domain (missing values count
    as absent, R's ``svytotal(na.rm=TRUE)``); its df is that of all the domain's rows.

    Parameters
    ----------
    design : Design
        The survey design.
    y : numpy.ndarray
        The variable, NaN where missing.
    domain : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).
    level : float
        Confidence level of the interval (default 0.95).
    deff : bool | str
        Design effect: False, True (without replacement) or "replace".
    df : float | None
        Degrees of freedom of the interval (default: the design df of the rows used).

    Returns
    -------
    Estimate
        Value, standard error, df, interval, n, n_eff, design effect and flags.
    """
    values = _values(design, y)
    mask = _mask(design, domain)
    if not mask.any():
        raise EmptyDomainError("the domain has no rows")
    design, index, mask = _focus(design, mask)
    values = _take(values, index)
    present = mask & ~np.isnan(values)
    if not present.any():
        raise EmptyDomainError("no row of the domain has a value for the variable")
    z = np.where(present, design.weights * np.nan_to_num(values), 0.0)
    return _finish(
        design,
        value=float(z.sum()),
        z=z,
        rows=present & (design.weights != 0),
        variance_rows=present,
        df_rows=mask,
        level=level,
        deff=deff,
        df=df,
        proportion_ci=None,
    )


def ratio(
    design: Design,
    numerator: np.ndarray,
    denominator: np.ndarray,
    domain: np.ndarray | None = None,
    *,
    level: float = 0.95,
    deff: bool | str = False,
    df: float | None = None,
) -> Estimate:
    """R = sum_D w y / sum_D w x over the domain's rows where both are present, as R's
    ``svyratio``; z = w (y - R x) / sum_D w x.

    Parameters
    ----------
    design : Design
        The survey design.
    numerator : numpy.ndarray
        y, NaN where missing.
    denominator : numpy.ndarray
        x, NaN where missing.
    domain : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).
    level : float
        Confidence level of the interval (default 0.95).
    deff : bool | str
        Design effect: False, True (without replacement) or "replace".
    df : float | None
        Degrees of freedom of the interval (default: the design df of the rows used).

    Returns
    -------
    Estimate
        Value, standard error, df, interval, n, n_eff, design effect and flags.
    """
    y = _values(design, numerator, "the numerator")
    x = _values(design, denominator, "the denominator")
    design, index, mask = _focus(design, _mask(design, domain))
    y, x = _take(y, index, "the numerator"), _take(x, index, "the denominator")
    rows = mask & ~np.isnan(y) & ~np.isnan(x) & (design.weights != 0)
    if not rows.any():
        raise EmptyDomainError("no row of the domain has both the numerator and the denominator")
    w = np.where(rows, design.weights, 0.0)
    yy, xx = np.where(rows, y, 0.0), np.where(rows, x, 0.0)
    denominator_total = float(w @ xx)
    if denominator_total == 0:
        raise EmptyDomainError("the denominator's total is zero in the domain")
    value = float(w @ yy) / denominator_total
    z = w * (yy - value * xx) / denominator_total
    return _finish(
        design,
        value=value,
        z=z,
        rows=rows,
        variance_rows=rows,
        df_rows=rows,
        level=level,
        deff=deff,
        df=df,
        proportion_ci=None,
    )


def composite(
    design: Design,
    items: Sequence[np.ndarray],
    domain: np.ndarray | None = None,
    *,
    item_weights: Sequence[float] | None = None,
    level: float = 0.95,
    deff: bool | str = False,
    df: float | None = None,
) -> Estimate:
    """C = sum_j a_j p_j: a weighted mean of item means or proportions p_j, each among its own
    answering rows of the domain, a_j >= 0 summing to 1 (equal by default). Delta method with
    every covariance between items: z = sum_j a_j z_j, so V = a' Sigma a with Sigma the design
    covariance of the p_j. t interval on the design df of all the domain's rows.

    Parameters
    ----------
    design : Design
        The survey design.
    items : Sequence[numpy.ndarray]
        Each item's values (NaN where not answered).
    domain : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).
    item_weights : Sequence[float] | None
        The a_j, non-negative and summing to 1 (default: equal).
    level : float
        Confidence level of the interval (default 0.95).
    deff : bool | str
        Design effect: False, True (without replacement) or "replace".
    df : float | None
        Degrees of freedom of the interval (default: the design df of the rows used).

    Returns
    -------
    Estimate
        Value, standard error, df, interval, n, n_eff, design effect and flags.
    """
    if len(items) == 0:
        raise ValueError("a composite needs at least one item")
    if item_weights is None:
        a = np.full(len(items), 1 / len(items))
    else:
        try:
            a = np.asarray(item_weights, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("item_weights must be numbers") from None
    if a.shape != (len(items),):
        raise ValueError("item_weights must have one weight per item")
    if not np.isfinite(a).all() or (a < 0).any() or not math.isclose(float(a.sum()), 1.0):
        raise ValueError("item_weights must be non-negative and sum to 1")
    full = design
    design, index, mask = _focus(design, _mask(design, domain))
    value = 0.0
    z = np.zeros(design.n)
    answering = np.zeros(design.n, dtype=bool)
    for j, (weight, item) in enumerate(zip(a, items, strict=True)):
        what = f"item {j + 1}"
        lin = _linear_mean(design, _take(_values(full, item, what), index, what), mask, what)
        value += float(weight) * lin.value
        z += weight * lin.z
        answering |= lin.rows
    return _finish(
        design,
        value=value,
        z=z,
        rows=answering,
        variance_rows=mask,
        df_rows=mask,
        level=level,
        deff=deff,
        df=df,
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
    deff: bool | str = False,
    df: float | None = None,
) -> Estimate:
    """theta_a - theta_b: the mean of ``y`` (a proportion for 0/1 values) in domain ``a`` minus
    that in domain ``b``, both within ``domain``. z = z_a - z_b, so V = V_a + V_b - 2 C_ab: the
    covariance is zero for domains in disjoint strata, not in general (shared clusters,
    calibration). t interval on the design df of all rows of ``domain``.

    Parameters
    ----------
    design : Design
        The survey design.
    y : numpy.ndarray
        The variable, NaN where missing.
    a : numpy.ndarray
        Boolean mask of the first domain.
    b : numpy.ndarray
        Boolean mask of the second domain.
    domain : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).
    level : float
        Confidence level of the interval (default 0.95).
    deff : bool | str
        Design effect: False, True (without replacement) or "replace".
    df : float | None
        Degrees of freedom of the interval (default: the design df of the rows used).

    Returns
    -------
    Estimate
        Value, standard error, df, interval, n, n_eff, design effect and flags.
    """
    values = _values(design, y)
    in_a, in_b = _mask(design, a), _mask(design, b)
    design, index, mask = _focus(design, _mask(design, domain))
    values, in_a, in_b = _take(values, index), _take(in_a, index), _take(in_b, index)
    first = _linear_mean(design, values, mask & in_a, "the variable in the first group")
    second = _linear_mean(design, values, mask & in_b, "the variable in the second group")
    rows = first.rows | second.rows
    return _finish(
        design,
        value=first.value - second.value,
        z=first.z - second.z,
        rows=rows,
        variance_rows=mask,
        df_rows=mask,
        level=level,
        deff=deff,
        df=df,
        proportion_ci=None,
    )
