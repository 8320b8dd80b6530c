"""Confidence intervals.

Proportions follow R's ``svyciprop`` (Lumley, survey package): Wald on the probability scale
(``mean``), on the logit scale (``logit``, ``xlogit``), on the arcsine-square-root scale
(``asin``), Korn and Graubard's (1998) beta interval with the effective sample size adjusted for
the design degrees of freedom (``beta``), Wilson's score interval on the effective sample size
(``wilson``), and the Rao-Scott scaled likelihood interval (``likelihood``). Every other statistic
uses estimate +- t(df) se.
"""

from __future__ import annotations

import enum
import math

from scipy import optimize, stats


class CIMethod(enum.StrEnum):
    LOGIT = "logit"
    XLOGIT = "xlogit"
    BETA = "beta"
    WILSON = "wilson"
    ASIN = "asin"
    LIKELIHOOD = "likelihood"
    MEAN = "mean"


def _t(level: float, df: float) -> float:
    q = 1 - (1 - level) / 2
    return float(stats.t.ppf(q, df)) if df > 0 and math.isfinite(df) else float(stats.norm.ppf(q))


def t_interval(value: float, se: float, df: float, level: float = 0.95) -> tuple[float, float]:
    """value -+ t_{df, 1 - alpha/2} se (normal quantile when df is infinite)."""
    half = _t(level, df) * se
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
) -> tuple[float, float]:
    """Interval for a proportion ``p`` with design standard error ``se``.

    ``n_rows`` is the number of rows in the domain (Korn-Graubard's df adjustment uses
    t_{n-1} / t_{df}). At p = 0 or 1 the design variance is zero and R returns NaN; here the
    interval is the one-sided Clopper-Pearson bound on ``n_eff`` observations (exact for simple
    random sampling), which the caller flags ``p_is_0_or_1``."""
    try:
        chosen = CIMethod(method)
    except ValueError:
        raise ValueError(
            f"unknown interval method {method!r}; use one of {', '.join(m.value for m in CIMethod)}"
        ) from None
    alpha = 1 - level
    if p <= 0 or p >= 1 or se <= 0:
        return _degenerate(p, n_eff, alpha)
    t = _t(level, df)
    if chosen == CIMethod.MEAN:
        return p - t * se, p + t * se
    if chosen in (CIMethod.LOGIT, CIMethod.XLOGIT):
        eta, se_eta = math.log(p / (1 - p)), se / (p * (1 - p))
        return _expit(eta - t * se_eta), _expit(eta + t * se_eta)
    if chosen == CIMethod.ASIN:
        phi, se_phi = math.asin(math.sqrt(p)), se / (2 * math.sqrt(p * (1 - p)))
        return math.sin(phi - t * se_phi) ** 2, math.sin(phi + t * se_phi) ** 2
    if chosen == CIMethod.BETA:
        n = p * (1 - p) / se**2
        rows = n_rows if n_rows is not None else round(n)
        n = n * (stats.t.ppf(alpha / 2, rows - 1) / stats.t.ppf(alpha / 2, df)) ** 2
        return (
            float(stats.beta.ppf(alpha / 2, n * p, n * (1 - p) + 1)),
            float(stats.beta.ppf(1 - alpha / 2, n * p + 1, n * (1 - p))),
        )
    if chosen == CIMethod.WILSON:
        n = p * (1 - p) / se**2
        z2 = t * t
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = t * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        return centre - half, centre + half
    rows = n_rows if n_rows is not None else max(round(n_eff), 2)
    return _likelihood(p, se, df, rows, level)


def _expit(eta: float) -> float:
    return 1 / (1 + math.exp(-eta))


def _degenerate(p: float, n: float, alpha: float) -> tuple[float, float]:
    n = max(n, 1.0)
    if p <= 0:
        return 0.0, float(1 - (alpha / 2) ** (1 / n))
    if p >= 1:
        return float((alpha / 2) ** (1 / n)), 1.0
    return p, p


def _likelihood(p: float, se: float, df: float, n: int, level: float) -> tuple[float, float]:
    """R's profile-likelihood interval for the intercept of a quasibinomial svyglm: the
    binomial deviance of the n rows (weights scaled to mean 1, dispersion n / (n - 1)), its
    level widened by the design effect lambda = n se^2 / (p (1 - p)) of the coefficient:

        { q : 2 (n - 1) KL(p || q) <= t_{df, 1 - alpha/2}^2 lambda }

    R interpolates the profile on a grid, so bounds agree with it to about 1e-5 (and less
    closely for p near 0 or 1)."""
    lam = n * se**2 / (p * (1 - p))
    crit = _t(level, df) ** 2 * lam

    def excess(q: float) -> float:
        kl = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
        return 2 * (n - 1) * kl - crit

    eps = 1e-12
    lower = optimize.brentq(excess, eps, p, xtol=1e-15) if excess(eps) > 0 else 0.0
    upper = optimize.brentq(excess, p, 1 - eps, xtol=1e-15) if excess(1 - eps) > 0 else 1.0
    return float(lower), float(upper)
