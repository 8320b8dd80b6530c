"""Confidence intervals: t intervals, and R's ``svyciprop`` intervals for proportions.

For a proportion p with design standard error se and design degrees of freedom df, with
t = t_{df, 1 - alpha/2} (the normal quantile when df is infinite), as R's survey package
(Lumley 2010, sec. 2.3.1; survey 4.x ``svyciprop``):

* ``mean``       p -+ t se (Wald).
* ``logit``,     expit(logit(p) -+ t se / (p (1 - p))): Wald on the logit scale (R computes
  ``xlogit``     ``logit`` from a quasibinomial svyglm and ``xlogit`` by svycontrast; both are
                 this interval, to the glm's convergence tolerance).
* ``asin``       sin^2(asin(sqrt p) -+ t se / (2 sqrt(p (1 - p)))) (bounds past 0 or pi/2 are
                 reflected, as R does, unless that puts them on the wrong side of p: then 0, 1).
* ``beta``       Korn and Graubard (1998): Clopper-Pearson with the effective sample size
                 n* = p (1 - p) / se^2 (t_{n-1, alpha/2} / t_{df, alpha/2})^2, where n is the
                 number of rows and df the design df:
                 [B^-1(alpha/2; n* p, n* (1 - p) + 1), B^-1(1 - alpha/2; n* p + 1, n* (1 - p))].
* ``wilson``     Wilson's score interval on n* = p (1 - p) / se^2 with t in place of z.
* ``likelihood`` Rao-Scott scaled profile likelihood of the intercept of a quasibinomial svyglm,
                 as R computes it (``confint.svyglm(method="likelihood")`` and MASS's
                 ``profile.glm``): see ``_likelihood``.

At p = 0 or p = 1 the design variance is zero and R returns NaN or a degenerate interval. The
rule here, for every method: the one-sided Korn-Graubard (Clopper-Pearson) bound with n* = n,
the number of rows, adjusted for the design df as above; the interval is [0, 1 - (alpha/2)^(1/n*)]
at p = 0 and [(alpha/2)^(1/n*), 1] at p = 1. Estimators flag it ``p_is_0_or_1``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from types import ModuleType

import numpy as np

EPSILON = float(np.finfo(float).eps)


def _special() -> ModuleType:
    """scipy.special, imported on first use: its import (a quarter of a second, most of it
    scipy's array-API layer) is most of the estimation command's start-up, and reading a spec
    and its data needs none of it."""
    from scipy import special

    return special


class CIMethod(enum.StrEnum):
    """R's ``svyciprop(method=...)``."""

    LOGIT = "logit"
    XLOGIT = "xlogit"
    BETA = "beta"
    WILSON = "wilson"
    ASIN = "asin"
    LIKELIHOOD = "likelihood"
    MEAN = "mean"


def ci_method(value: CIMethod | str) -> CIMethod:
    """The method named by ``value``; ValueError naming the choices otherwise.

    Parameters
    ----------
    value : CIMethod | str
        A method or its name.

    Returns
    -------
    CIMethod
        The method.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    try:
        return CIMethod(value)
    except ValueError:
        raise ValueError(
            f"unknown interval method {value!r}; use one of {', '.join(m.value for m in CIMethod)}"
        ) from None


def t_quantile(level: float, df: float) -> float:
    """t_{df, 1 - alpha/2}; the normal quantile when df is infinite or not positive (R's
    ``confint`` with df=Inf).

    Parameters
    ----------
    level : float
        Confidence level, between 0 and 1.
    df : float
        Degrees of freedom.

    Returns
    -------
    float
        The quantile.
    """
    _check_level(level)
    q = 1 - (1 - level) / 2
    if df > 0 and math.isfinite(df):
        return float(_special().stdtrit(df, q))
    return float(_special().ndtri(q))


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")


def t_interval(value: float, se: float, df: float, level: float = 0.95) -> tuple[float, float]:
    """value -+ t_{df, 1 - alpha/2} se.

    Parameters
    ----------
    value : float
        The estimate.
    se : float
        Its standard error.
    df : float
        Degrees of freedom.
    level : float
        Confidence level (default 0.95).

    Returns
    -------
    tuple[float, float]
        Lower and upper bounds.
    """
    half = t_quantile(level, df) * se
    return value - half, value + half


def proportion_interval(
    p: float,
    se: float,
    df: float,
    n_eff: float,
    method: CIMethod | str,
    level: float = 0.95,
    *,
    n_rows: int | None = None,
    design_df: float | None = None,
    working_variance: float | None = None,
    kg_rows: int | None = None,
) -> tuple[float, float]:
    """Interval for a proportion ``p`` with design standard error ``se`` (module docstring).

    ``df``: the degrees of freedom of the interval (R's ``svyciprop(df=)``, by default the
    design's). ``n_eff``: the effective sample size, used only at p = 0 or 1 when ``n_rows``
    is not given. ``n_rows``: rows of the domain with the variable present (Korn-Graubard's
    t_{n-1}; the likelihood's binomial n). ``design_df``: the design df for Korn-Graubard's
    adjustment, which R takes from the design even when ``df`` is given (default ``df``).
    ``working_variance``: for ``likelihood``, mu (1 - mu) at R's last IRLS iterate
    (``glm_working_variance``); p (1 - p) when not given. ``kg_rows``: the n of
    Korn-Graubard's t_{n-1} in a ``beta`` interval at 0 < p < 1 (default ``n_rows``): R takes
    ``nrow`` of the design, which for a domain of a calibrated design is the whole sample; the
    one-sided bound at p = 0 or 1 keeps the domain's ``n_rows``.

    Parameters
    ----------
    p : float
        The estimated proportion.
    se : float
        Its design standard error.
    df : float
        Degrees of freedom of the interval.
    n_eff : float
        Effective sample size.
    method : CIMethod | str
        The interval method.
    level : float
        Confidence level.
    n_rows : int | None
        Rows of the domain with the variable present.
    design_df : float | None
        The design df for Korn-Graubard's adjustment.
    working_variance : float | None
        mu (1 - mu) for the likelihood interval.
    kg_rows : int | None
        The n of Korn-Graubard's t_{n-1}.

    Returns
    -------
    tuple[float, float]
        Lower and upper bounds (NaN when undefined).
    """
    chosen = ci_method(method)
    _check_level(level)
    if not (math.isfinite(p) and math.isfinite(se)):
        return math.nan, math.nan
    alpha = 1 - level
    rows = n_rows if n_rows is not None else max(round(n_eff), 1)
    kg_df = df if design_df is None else design_df
    if p <= 0 or p >= 1:
        return _zero_or_one(p, rows, kg_df, alpha)
    if se <= 0:
        return p, p  # no sampling variance (a census): the estimate is exact
    t = t_quantile(level, df)
    if chosen == CIMethod.MEAN:
        return p - t * se, p + t * se
    if chosen in (CIMethod.LOGIT, CIMethod.XLOGIT):
        eta, se_eta = math.log(p / (1 - p)), se / (p * (1 - p))
        return _expit(eta - t * se_eta), _expit(eta + t * se_eta)
    if chosen == CIMethod.ASIN:
        phi, half = math.asin(math.sqrt(p)), t * se / (2 * math.sqrt(p * (1 - p)))
        # As R, sin^2 of the bounds even when they leave [0, pi/2] (R reflects them there);
        # a reflected bound that would land on the wrong side of p becomes 0 or 1 instead.
        low = math.sin(phi - half) ** 2 if phi - half >= -phi else 0.0
        high = math.sin(phi + half) ** 2 if phi + half <= math.pi - phi else 1.0
        return low, high
    if chosen == CIMethod.BETA:
        n = p * (1 - p) / se**2 * _kg_ratio(rows if kg_rows is None else kg_rows, kg_df, alpha)
        return (
            float(_special().betaincinv(n * p, n * (1 - p) + 1, alpha / 2)),
            float(_special().betaincinv(n * p + 1, n * (1 - p), 1 - alpha / 2)),
        )
    if chosen == CIMethod.WILSON:
        n = p * (1 - p) / se**2
        t2 = t * t
        centre = (p + t2 / (2 * n)) / (1 + t2 / n)
        half = t * math.sqrt(p * (1 - p) / n + t2 / (4 * n * n)) / (1 + t2 / n)
        return centre - half, centre + half
    mu_variance = p * (1 - p) if working_variance is None else working_variance
    return _likelihood(p, se, df, max(rows, 2), level, mu_variance)


def _expit(eta: float) -> float:
    """R's logit inverse link (binomial()$linkinv): exp(eta) / (1 + exp(eta)), with eta beyond
    +-30 held at the float epsilon as R's C code does."""
    if eta < -30:
        odds = EPSILON
    elif eta > 30:
        odds = 1 / EPSILON
    else:
        odds = math.exp(eta)
    return odds / (1 + odds)


def _kg_ratio(rows: int, df: float, alpha: float) -> float:
    """Korn and Graubard's (t_{n-1, alpha/2} / t_{df, alpha/2})^2 (1 when undefined)."""
    if rows < 2 or not (df > 0):
        return 1.0
    denominator = (
        _special().stdtrit(df, alpha / 2) if math.isfinite(df) else _special().ndtri(alpha / 2)
    )
    return float((_special().stdtrit(rows - 1, alpha / 2) / denominator) ** 2)


def _zero_or_one(p: float, rows: int, df: float, alpha: float) -> tuple[float, float]:
    """One-sided Korn-Graubard bound at p = 0 or 1 with n* = n (t_{n-1} / t_df)^2."""
    n = max(rows * _kg_ratio(rows, df, alpha), 1.0)
    bound = float((alpha / 2) ** (1 / n))
    return (0.0, 1 - bound) if p <= 0 else (bound, 1.0)


def glm_working_variance(successes: np.ndarray, weights: np.ndarray) -> float:
    """mu (1 - mu) at the last iteration of R's ``glm.fit`` (IRLS) for ``y ~ 1``, quasibinomial,
    with weights scaled to mean 1 as ``svyglm`` does, started from R's
    mustart_i = (w_i y_i + 1/2) / (w_i + 1) and stopped when |D - D_old| / (|D| + 0.1) < 1e-8.

    R's glm returns the working weights of its last iteration, computed before the final
    update of mu, and ``confint.svyglm`` takes the design effect of the intercept from them:
    they differ from p (1 - p) by the convergence tolerance, which moves a likelihood bound
    near p = 0 by up to ~1e-4. Reproducing the iteration reproduces R's bounds. Returns the
    weighted mean of the last working weights per unit of prior weight.

    Parameters
    ----------
    successes : numpy.ndarray
        0/1 values of the rows.
    weights : numpy.ndarray
        Their sampling weights.

    Returns
    -------
    float
        The weighted mean working weight mu (1 - mu).
    """
    y = np.asarray(successes, dtype=float)
    w = np.asarray(weights, dtype=float)
    w = w / w.mean()
    mu = (w * y + 0.5) / (w + 1)
    eta = np.log(mu / (1 - mu))

    def deviance(m: np.ndarray) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            hit = np.where(y > 0, y * np.log(y / m), 0.0)
            miss = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - m)), 0.0)
        return float(2 * (w * (hit + miss)).sum())

    old = deviance(mu)
    working = w * mu * (1 - mu)
    for _iteration in range(25):  # glm.control(maxit = 25)
        slope = mu * (1 - mu)
        working = w * slope
        eta = np.full_like(y, float(working @ (eta + (y - mu) / slope)) / float(working.sum()))
        mu = 1 / (1 + np.exp(-eta))
        new = deviance(mu)
        if abs(new - old) / (abs(new) + 0.1) < 1e-8:
            break
        old = new
    return float(working.sum() / w.sum())


def _likelihood(
    p: float, se: float, df: float, n: int, level: float, mu_variance: float
) -> tuple[float, float]:
    """R's likelihood interval for a proportion (survey's ``confint.svyglm`` on
    ``svyglm(y ~ 1, family=quasibinomial)``, then MASS's ``profile.glm`` and
    ``confint.profile.glm``), for n rows with weights scaled to mean 1:

    * the coefficient b = logit(p) has design SE se_b = se / (p (1 - p)) and design effect
      lambda = n se^2 v / (p (1 - p))^2, with v = mu (1 - mu) at R's last IRLS iterate
      (``glm_working_variance``; p (1 - p) at convergence); the level is widened to
      level* = 1 - 2 Phi(t_{df, alpha/2} sqrt(lambda));
    * the signed root of the scaled deviance, z(b) = sign(b - b0) sqrt(2 n KL(p || expit b) / phi)
      with phi = n / (n - 1) (svyvar of the Pearson residuals), is profiled at
      b0 +- k (zmax / 5) se_b, k = 1..9, until |z| > zmax = sqrt(F^-1(1 - (1 - level*) / 4; 1,
      n - 1));
    * an FMM cubic spline of z against b is evaluated at 3m equally spaced points (m profile
      points), and the bounds are the linear inverse interpolation at z = Phi^-1(alpha*/2) and
      Phi^-1(1 - alpha*/2).

    Where the profile does not reach the cut-off (R would return NA) the exact root of
    z(b)^2 = Phi^-1(alpha*/2)^2 is used."""
    lam = n * se**2 * mu_variance / (p * (1 - p)) ** 2
    if df > 0 and math.isfinite(df):
        quantile = float(_special().stdtrit(df, (1 - level) / 2))
    else:
        quantile = float(_special().ndtri((1 - level) / 2))
    wide_level = 1 - 2 * float(_special().ndtr(quantile * math.sqrt(lam)))
    cutoff = float(_special().ndtri((1 - wide_level) / 2))  # negative
    dispersion = n / (n - 1)
    b0 = math.log(p / (1 - p))
    se_b = se / (p * (1 - p))

    def signed_root(b: float) -> float:
        q = _expit(b)
        kl = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
        return math.copysign(math.sqrt(max(2 * n * kl / dispersion, 0.0)), b - b0)

    if not math.isfinite(cutoff):
        return 0.0, 1.0  # the widened level rounds to 1: nothing is excluded
    zmax = math.sqrt(float(_special().fdtri(1, n - 1, 1 - (1 - wide_level) / 4)))
    grid = [(b0, 0.0)]
    if math.isfinite(zmax) and math.isfinite(se_b):
        step = zmax / 5
        for sign in (-1, 1):
            z = 0.0
            k = 0
            while (k := k + 1) < 10 and abs(z) < zmax:
                b = b0 + sign * k * step * se_b
                z = signed_root(b)
                grid.append((b, z))
    grid.sort(key=lambda pair: pair[1])
    par = np.array([g[0] for g in grid])
    zs = np.array([g[1] for g in grid])
    bounds = []
    for target in (cutoff, -cutoff):
        value = _spline_inverse(par, zs, target)
        if not math.isfinite(value):
            value = _exact_root(signed_root, b0, max(se_b, 1e-8), target)
        bounds.append(_expit(value) if math.isfinite(value) else (0.0 if value < 0 else 1.0))
    return bounds[0], bounds[1]


def _exact_root(f: Callable[[float], float], b0: float, se_b: float, target: float) -> float:
    direction = 1.0 if target > 0 else -1.0
    if not math.isfinite(se_b):
        return math.inf * direction
    far = b0 + direction * se_b
    while (f(far) - target) * direction < 0 and abs(far - b0) < 1e6 * max(se_b, 1.0):
        far = b0 + 2 * (far - b0)
    if (f(far) - target) * direction < 0:
        return math.inf * direction
    low, high = sorted((b0, far))
    # Imported here: scipy.optimize costs a fifth of a second at start-up, and only the
    # exact likelihood bounds need it.
    from scipy import optimize

    return float(optimize.brentq(lambda b: f(b) - target, low, high, xtol=1e-14))


def _spline_inverse(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """R's ``approx(sp$y, sp$x, xout=target)$y`` with ``sp <- spline(x, y)``: an FMM cubic
    spline of y on x at 3 len(x) points, then linear interpolation of x on y (NaN outside)."""
    if len(x) < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.nan
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    if (np.diff(xs) <= 0).any():
        return math.nan
    grid = np.linspace(xs[0], xs[-1], 3 * len(xs))
    values = _fmm_spline(xs, ys, grid)
    by_value = np.argsort(values, kind="stable")
    v, g = values[by_value], grid[by_value]
    unique, inverse = np.unique(v, return_inverse=True)
    if len(unique) < len(v):  # R's approx averages ties
        g = np.bincount(inverse, weights=g) / np.bincount(inverse)
        v = unique
    if not v[0] <= target <= v[-1]:
        return math.nan
    return float(np.interp(target, v, g))


def _fmm_spline(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The cubic spline of Forsythe, Malcolm and Moler (1977), R's ``spline(method="fmm")``:
    end conditions match the third derivative of the cubic through the four end points."""
    n = len(x)
    b, c, d = np.zeros(n), np.zeros(n), np.zeros(n)
    if n < 3:
        slope = (y[1] - y[0]) / (x[1] - x[0])
        b[:] = slope
    else:
        d[0] = x[1] - x[0]
        c[1] = (y[1] - y[0]) / d[0]
        for i in range(1, n - 1):
            d[i] = x[i + 1] - x[i]
            b[i] = 2 * (d[i - 1] + d[i])
            c[i + 1] = (y[i + 1] - y[i]) / d[i]
            c[i] = c[i + 1] - c[i]
        b[0], b[n - 1] = -d[0], -d[n - 2]
        c[0] = c[n - 1] = 0.0
        if n > 3:
            c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
            c[n - 1] = c[n - 2] / (x[n - 1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
            c[0] = c[0] * d[0] ** 2 / (x[3] - x[0])
            c[n - 1] = -c[n - 1] * d[n - 2] ** 2 / (x[n - 1] - x[n - 4])
        for i in range(1, n):
            t = d[i - 1] / b[i - 1]
            b[i] -= t * d[i - 1]
            c[i] -= t * c[i - 1]
        c[n - 1] /= b[n - 1]
        for i in range(n - 2, -1, -1):
            c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
        b[n - 1] = (y[n - 1] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2 * c[n - 1])
        for i in range(n - 1):
            b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2 * c[i])
            d[i] = (c[i + 1] - c[i]) / d[i]
            c[i] *= 3
        c[n - 1] *= 3
        d[n - 1] = d[n - 2]
    index = np.clip(np.searchsorted(x, at, side="right") - 1, 0, n - 1)
    dx = at - x[index]
    return y[index] + dx * (b[index] + dx * (c[index] + dx * d[index]))
