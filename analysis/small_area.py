"""Small-area estimates: the EBLUP of the Fay-Herriot area-level model, with its analytic MSE.

Fay and Herriot (1979): each area's direct estimate y_i, with known sampling variance
psi_i = se_i^2, is modelled as

    y_i = x_i'beta + u_i + e_i,    u_i ~ N(0, sigma_u^2),    e_i ~ N(0, psi_i).

The variance component A = sigma_u^2 is fitted by REML, ML or the Fay-Herriot moment method,
each by Fisher scoring exactly as R's sae package does (``eblupFH``, sae 1.3; Molina and
Marhuenda 2015, "sae: An R Package for Small Area Estimation", The R Journal 7(1), 81-98):
starting at median(psi), A_{k+1} = A_k + s(A_k) / F(A_k), stopping when
|A_{k+1} - A_k| / |A_k| <= precision (1e-4) or after max_iter (100) steps; the estimate is
max(A_{k+1}, 0). With V = diag(A + psi), Q = (X'V^-1 X)^-1 and P = V^-1 - V^-1 X Q X'V^-1:

* REML  s = -tr(P)/2 + y'P'Py/2,          F = tr(P P)/2;
* ML    s = -tr(V^-1)/2 + y'P'Py/2,       F = tr(V^-2)/2;
* FH    s = sum_i r_i^2 / (A + psi_i) - (m - p),  F = tr(V^-1),  r = y - X beta(A).

Then beta = Q X'V^-1 y with standard errors sqrt(diag Q), the EBLUP
theta_i = x_i'beta + gamma_i (y_i - x_i'beta) with shrinkage gamma_i = A / (A + psi_i) (the
weight of the direct estimate), and, as sae's ``mseFH``, with B_i = 1 - gamma_i:

    g1_i = psi_i gamma_i,  g2_i = B_i^2 x_i'Q x_i,  g3_i = B_i^2 Vbar(A) / (A + psi_i),
    REML (Prasad and Rao 1990; Datta and Lahiri 2000):  mse_i = g1 + g2 + 2 g3,
         Vbar(A) = 2 / tr(V^-2);
    ML   (Datta and Lahiri 2000):  mse_i = g1 + g2 + 2 g3 - b B_i^2,  Vbar(A) = 2 / tr(V^-2),
         b = -tr(Q X'V^-2 X) / tr(V^-2) (the bias of the ML estimator of A);
    FH   (Datta, Rao and Smith 2005):  mse_i = g1 + g2 + 2 g3 - b B_i^2,
         Vbar(A) = 2 m / tr(V^-1)^2,  b = 2 (m tr(V^-2) - tr(V^-1)^2) / tr(V^-1)^3.

The log-likelihood reported is, as sae reports it for every method, the normal log-likelihood
of y at (beta, A): -1/2 sum_i [log(2 pi (A + psi_i)) + r_i^2 / (A + psi_i)], with
AIC = -2 loglike + 2 (p + 1) and BIC = -2 loglike + (p + 1) log m (m areas fitted).

An area with covariates but no direct estimate (no responses) is left out of the fit and gets
the synthetic estimate x_i'beta; its MSE is the limit of the formulas above as psi_i -> infinity
(B_i -> 1): A + x_i'Q x_i - b (b = 0 for REML), the variance of u_i plus that of x_i'beta, with
the same bias correction of A as the in-sample areas (Rao and Molina 2015, ch. 6).

The traces are computed from p x p matrices (tr P = tr V^-1 - tr(Q X'V^-2 X), and so on) rather
than from the m x m matrix P (87 MB for 3,300 communes); 3,300 communes then take about 0.3 s,
most of it building the per-area results. The result is that of sae's formulas to rounding.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

MAX_ITER = 100
PRECISION = 1e-4


class FitMethod(enum.StrEnum):
    """How the variance component is fitted, as sae's ``eblupFH(method=)``."""

    REML = "REML"
    ML = "ML"
    FH = "FH"


class CovariateType(enum.StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


def fit_method(value: FitMethod | str) -> FitMethod:
    """The method named by ``value``; ValueError naming the choices otherwise.

    Parameters
    ----------
    value : FitMethod | str
        A method or its name (REML, ML, FH).

    Returns
    -------
    FitMethod
        The method.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    try:
        return FitMethod(value)
    except ValueError:
        raise ValueError(
            f"unknown method {value!r}; use one of {', '.join(m.value for m in FitMethod)}"
        ) from None


@dataclass(frozen=True)
class Covariate:
    """One area-level covariate: a ``name``, one value per area (None or NaN where missing),
    and its ``type`` (a ``CovariateType`` or its value)."""

    name: str
    values: Sequence[float | int | str | None]
    type: CovariateType | str = CovariateType.NUMERIC


@dataclass(frozen=True)
class FixedEffect:
    """A regression coefficient of the model with its standard error sqrt((X'V^-1 X)^-1_jj)."""

    term: str
    estimate: float
    se: float


@dataclass(frozen=True)
class AreaEstimate:
    """One area's model-based estimate.

    ``direct`` and ``direct_se`` are the inputs (``direct`` None for an area without a direct
    estimate, whose ``eblup`` is then the synthetic x_i'beta and ``synthetic`` True); ``mse`` is
    the estimated mean squared error of ``eblup``; ``shrinkage`` is gamma_i = A / (A + psi_i),
    the weight of the direct estimate (0 for a synthetic estimate).
    """

    area: str
    direct: float | None
    direct_se: float | None
    eblup: float
    mse: float
    shrinkage: float
    synthetic: bool


@dataclass(frozen=True)
class FayHerriotFit:
    """A fitted Fay-Herriot model and its estimates, one per area in the order given.

    ``converged`` False means Fisher scoring stopped after ``max_iter`` steps without meeting
    the precision: sae then returns no estimates, and the numbers here (computed at the last
    step, truncated at zero) must not be published.
    """

    method: FitMethod
    converged: bool
    iterations: int
    variance_component: float
    loglike: float
    aic: float
    bic: float
    fixed_effects: tuple[FixedEffect, ...]
    areas: tuple[AreaEstimate, ...]
    n_fitted: int


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return isinstance(value, str) and value.strip() in ("", "NA")


def _number(value: object) -> float | None:
    """``value`` as a finite float, None when it is not one (text, a bool, infinity)."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _label(value: object) -> str:
    number = _number(value) if not isinstance(value, str) else None
    if number is None:
        return str(value).strip()
    if number == math.floor(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _covariate_type(covariate: Covariate) -> CovariateType:
    try:
        return CovariateType(covariate.type)
    except ValueError:
        raise ValueError(
            f"covariate {covariate.name!r}: unknown type {covariate.type!r}; use "
            f"{' or '.join(t.value for t in CovariateType)}"
        ) from None


def model_matrix(
    covariates: Sequence[Covariate], areas: Sequence[str]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The model matrix of R's ``model.matrix(~ covariates)`` and its column names.

    An intercept ``(Intercept)`` first; a numeric covariate as it is (term = its name); a
    categorical covariate as one 0/1 indicator per level but the first, named ``name=level``.
    Levels are sorted as R's ``factor`` sorts them: numerically when every value is a number
    (``2`` and ``2.0`` are one level, labelled ``2``), else as text by code point (as R in the
    C locale).

    Parameters
    ----------
    covariates : sequence of Covariate
        Each with one value per area.
    areas : sequence of str
        The area names, for error messages.

    Returns
    -------
    (numpy.ndarray, tuple of str)
        The m x p matrix, NaN in every column of a covariate that is missing for that area, and
        the p term names.

    Raises
    ------
    ValueError
        A covariate of the wrong length or unknown type, a repeated name, or a numeric
        covariate with a value that is not a finite number (naming the area).
    """
    m = len(areas)
    columns: list[np.ndarray] = [np.ones(m)]
    terms: list[str] = ["(Intercept)"]
    seen: set[str] = set()
    for covariate in covariates:
        name = covariate.name
        kind = _covariate_type(covariate)
        if name in seen:
            raise ValueError(f"covariate {name!r} is given twice")
        seen.add(name)
        values = list(covariate.values)
        if len(values) != m:
            raise ValueError(f"covariate {name!r} has {len(values)} values for {m} areas")
        present = [i for i, v in enumerate(values) if not _is_missing(v)]
        if kind is CovariateType.NUMERIC:
            column = np.full(m, np.nan)
            for i in present:
                number = _number(values[i])
                if number is None:
                    raise ValueError(
                        f"covariate {name!r} is numeric but area {areas[i]!r} has {values[i]!r}"
                    )
                column[i] = number
            columns.append(column)
            terms.append(name)
            continue
        numbers = [None if isinstance(values[i], str) else _number(values[i]) for i in present]
        if all(n is not None for n in numbers):
            keys = [_label(n) for n in sorted({n for n in numbers if n is not None})]
        else:
            keys = sorted({_label(values[i]) for i in present})
        index = {key: j for j, key in enumerate(keys)}
        code = np.full(m, -1, dtype=np.int64)
        for i in present:
            code[i] = index[_label(values[i])]
        for j, key in enumerate(keys[1:], start=1):
            column = np.where(code < 0, np.nan, (code == j).astype(float))
            columns.append(column)
            terms.append(f"{name}={key}")
    return np.column_stack(columns), tuple(terms)


@dataclass(frozen=True)
class _Scoring:
    variance: float
    iterations: int
    converged: bool


def _fisher_scoring(
    y: np.ndarray,
    psi: np.ndarray,
    x: np.ndarray,
    method: FitMethod,
    max_iter: int,
    precision: float,
) -> _Scoring:
    """sae's ``eblupFH`` loop: start at median(psi), step s/F, stop on a relative change of at
    most ``precision`` or after ``max_iter`` steps; converged unless both limits were hit."""
    m, p = x.shape
    current = float(np.median(psi))
    step = 0
    change = precision + 1.0
    following = current
    with np.errstate(all="ignore"):
        while change > precision and step < max_iter:
            step += 1
            vi = 1.0 / (current + psi)
            xtvi = x.T * vi
            try:
                q = np.linalg.inv(xtvi @ x)
            except np.linalg.LinAlgError:
                return _Scoring(max(current, 0.0), step, False)
            beta = q @ (xtvi @ y)
            residual = y - x @ beta
            if method is FitMethod.FH:
                score = float(np.sum(residual**2 * vi)) - (m - p)
                information = float(np.sum(vi))
            else:
                py = vi * residual  # P y
                vi2x = x.T * vi**2
                c2 = q @ (vi2x @ x)  # Q X'V^-2 X
                if method is FitMethod.REML:
                    trace_p = float(np.sum(vi)) - float(np.trace(c2))
                    c3 = q @ ((x.T * vi**3) @ x)
                    trace_pp = float(np.sum(vi**2)) - 2.0 * float(np.trace(c3))
                    trace_pp += float(np.sum(c2 * c2.T))
                    score = -0.5 * trace_p + 0.5 * float(py @ py)
                    information = 0.5 * trace_pp
                else:
                    score = -0.5 * float(np.sum(vi)) + 0.5 * float(py @ py)
                    information = 0.5 * float(np.sum(vi**2))
            following = current + score / information
            if not math.isfinite(following):
                return _Scoring(max(current, 0.0), step, False)
            if current == 0.0:
                change = 0.0 if following == 0.0 else math.inf
            else:
                change = abs((following - current) / current)
            current = following
    converged = not (step >= max_iter and change >= precision)
    return _Scoring(max(following, 0.0), step, converged)


def _check_inputs(
    areas: Sequence[str], y: np.ndarray, se: np.ndarray, x: np.ndarray, terms: Sequence[str]
) -> np.ndarray:
    """ValueError naming the area for anything sae would refuse; returns which areas have a
    direct estimate (and so enter the fit)."""
    m = len(areas)
    if y.shape != (m,) or se.shape != (m,):
        raise ValueError(f"direct and se need one value per area ({m} areas)")
    if x.ndim != 2 or x.shape[0] != m:
        raise ValueError(f"the model matrix needs one row per area ({m} areas)")
    if len(terms) != x.shape[1]:
        raise ValueError(f"{len(terms)} term names for {x.shape[1]} model-matrix columns")
    seen: set[str] = set()
    for area in areas:
        if area in seen:
            raise ValueError(f"area {area!r} appears twice")
        seen.add(area)
    direct = ~np.isnan(y)
    for i in range(m):
        if direct[i] and not math.isfinite(y[i]):
            raise ValueError(f"area {areas[i]!r}: direct estimate is not finite ({y[i]})")
        if direct[i] and math.isnan(se[i]):
            raise ValueError(f"area {areas[i]!r}: se is missing")
        if direct[i] and not se[i] > 0:
            raise ValueError(f"area {areas[i]!r}: se must be positive (got {se[i]:g})")
        if direct[i] and not math.isfinite(se[i]):
            raise ValueError(f"area {areas[i]!r}: se is not finite")
        bad = np.flatnonzero(~np.isfinite(x[i]))
        if bad.size:
            what = "direct estimate" if direct[i] else "synthetic estimate (no direct estimate)"
            raise ValueError(
                f"area {areas[i]!r}: covariate {terms[bad[0]]!r} is missing, needed for its {what}"
            )
    fitted = int(direct.sum())
    p = x.shape[1]
    if fitted <= p:
        raise ValueError(
            f"{fitted} areas with a direct estimate for {p} model terms: need more areas than terms"
        )
    xd = x[direct]
    if np.linalg.matrix_rank(xd) < p:
        for j in range(1, p):
            if not np.any(xd[:, j] != 0):
                raise ValueError(f"term {terms[j]!r} is zero in every area with a direct estimate")
        raise ValueError(
            "the covariates are collinear among the areas with a direct estimate "
            f"(terms: {', '.join(terms)})"
        )
    return direct


def fay_herriot_matrix(
    direct: ArrayLike,
    se: ArrayLike,
    x: ArrayLike,
    *,
    areas: Sequence[str],
    terms: Sequence[str],
    method: FitMethod | str = FitMethod.REML,
    max_iter: int = MAX_ITER,
    precision: float = PRECISION,
) -> FayHerriotFit:
    """Fit the Fay-Herriot model to a prepared model matrix and estimate every area.

    The fit uses the areas with a direct estimate; an area whose ``direct`` is NaN gets the
    synthetic estimate x_i'beta with MSE A + x_i'Q x_i - b (see the module docstring).

    Parameters
    ----------
    direct : array_like, shape (m,)
        Direct estimates y_i; NaN for an area without one.
    se : array_like, shape (m,)
        Their standard errors, psi_i = se_i^2 (ignored, may be NaN, where ``direct`` is NaN).
    x : array_like, shape (m, p)
        Model matrix, as R's ``model.matrix`` (include the intercept column yourself).
    areas : sequence of str
        Area names, unique, for the results and the error messages.
    terms : sequence of str
        Names of the p columns of ``x``.
    method : FitMethod or str
        ``REML`` (default), ``ML`` or ``FH``.
    max_iter : int
        Maximum Fisher-scoring steps (sae's ``MAXITER``, 100).
    precision : float
        Relative change of A at which scoring stops (sae's ``PRECISION``, 1e-4).

    Returns
    -------
    FayHerriotFit
        The variance component A, beta with standard errors, loglike, AIC, BIC, and one
        ``AreaEstimate`` per area in the order given.

    Raises
    ------
    ValueError
        Naming the area for a missing, zero or negative se, a missing covariate or a duplicate
        area; naming the term for a model matrix that cannot be fitted; an unknown method.
    """
    chosen = fit_method(method)
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ValueError(f"max_iter must be a positive integer (got {max_iter!r})")
    if not (isinstance(precision, int | float) and precision > 0 and math.isfinite(precision)):
        raise ValueError(f"precision must be a positive number (got {precision!r})")
    names = [str(a) for a in areas]
    y_all = np.asarray(direct, dtype=float).reshape(-1)
    se_all = np.asarray(se, dtype=float).reshape(-1)
    x_all = np.asarray(x, dtype=float)
    if x_all.ndim == 1:
        x_all = x_all.reshape(-1, 1)
    fitted = _check_inputs(names, y_all, se_all, x_all, terms)

    y = y_all[fitted]
    psi = se_all[fitted] ** 2
    xd = x_all[fitted]
    m, p = xd.shape
    scoring = _fisher_scoring(y, psi, xd, chosen, max_iter, float(precision))
    a = scoring.variance

    vi = 1.0 / (a + psi)
    xtvi = xd.T * vi
    q = np.linalg.inv(xtvi @ xd)
    beta = q @ (xtvi @ y)
    residual = y - xd @ beta
    loglike = -0.5 * float(np.sum(np.log(2.0 * math.pi * (a + psi)) + residual**2 * vi))

    sum_vi = float(np.sum(vi))
    sum_vi2 = float(np.sum(vi**2))
    if chosen is FitMethod.FH:
        var_a = 2.0 * m / sum_vi**2
        bias = 2.0 * (m * sum_vi2 - sum_vi**2) / sum_vi**3
    else:
        var_a = 2.0 / sum_vi2
        bias = 0.0
        if chosen is FitMethod.ML:
            bias = -float(np.trace(q @ ((xd.T * vi**2) @ xd))) / sum_vi2

    leverage = np.einsum("ij,jk,ik->i", x_all, q, x_all)  # x_i'Q x_i
    synthetic_all = x_all @ beta
    results: list[AreaEstimate] = []
    for i, name in enumerate(names):
        if fitted[i]:
            psi_i = float(se_all[i]) ** 2
            gamma = a / (a + psi_i)
            b_i = 1.0 - gamma
            g1 = psi_i * gamma
            g2 = b_i**2 * leverage[i]
            g3 = b_i**2 * var_a / (a + psi_i)
            eblup = float(synthetic_all[i] + gamma * (y_all[i] - synthetic_all[i]))
            results.append(
                AreaEstimate(
                    area=name,
                    direct=float(y_all[i]),
                    direct_se=float(se_all[i]),
                    eblup=eblup,
                    mse=float(g1 + g2 + 2.0 * g3 - bias * b_i**2),
                    shrinkage=float(gamma),
                    synthetic=False,
                )
            )
        else:
            se_i = float(se_all[i])
            results.append(
                AreaEstimate(
                    area=name,
                    direct=None,
                    direct_se=se_i if math.isfinite(se_i) else None,
                    eblup=float(synthetic_all[i]),
                    mse=float(a + leverage[i] - bias),
                    shrinkage=0.0,
                    synthetic=True,
                )
            )
    return FayHerriotFit(
        method=chosen,
        converged=scoring.converged,
        iterations=scoring.iterations,
        variance_component=a,
        loglike=loglike,
        aic=-2.0 * loglike + 2.0 * (p + 1),
        bic=-2.0 * loglike + (p + 1) * math.log(m),
        fixed_effects=tuple(
            FixedEffect(term=str(t), estimate=float(b), se=float(math.sqrt(v)))
            for t, b, v in zip(terms, beta, np.diag(q), strict=True)
        ),
        areas=tuple(results),
        n_fitted=m,
    )


def fay_herriot(
    areas: Sequence[str],
    direct: ArrayLike,
    se: ArrayLike,
    covariates: Sequence[Covariate] = (),
    *,
    method: FitMethod | str = FitMethod.REML,
    max_iter: int = MAX_ITER,
    precision: float = PRECISION,
) -> FayHerriotFit:
    """Model-based estimates of every area: EBLUPs under the Fay-Herriot model, with MSEs.

    As R's ``mseFH(direct ~ covariates, se^2, method=method)`` (sae 1.3), with an intercept and
    categorical covariates coded as ``model_matrix`` says; areas without a direct estimate get
    the synthetic estimate x_i'beta.

    Parameters
    ----------
    areas : sequence of str
        Area names (communes), unique.
    direct : array_like, shape (m,)
        Direct estimates; NaN where an area has none (no responses).
    se : array_like, shape (m,)
        Standard errors of the direct estimates (may be NaN where ``direct`` is NaN).
    covariates : sequence of Covariate
        Area-level covariates, one value per area; ``()`` fits the mean only.
    method : FitMethod or str
        ``REML`` (default), ``ML`` or ``FH``.
    max_iter : int
        Maximum Fisher-scoring steps (sae's ``MAXITER``, 100).
    precision : float
        Relative change of the variance component at which scoring stops (1e-4).

    Returns
    -------
    FayHerriotFit
        See ``fay_herriot_matrix``.

    Raises
    ------
    ValueError
        With a message naming the area and covariate at fault (see ``fay_herriot_matrix``).
    """
    names = [str(a) for a in areas]
    x, terms = model_matrix(covariates, names)
    y = np.asarray(direct, dtype=float).reshape(-1)
    if y.shape == (len(names),):
        for covariate in covariates:
            for i, value in enumerate(covariate.values):
                if _is_missing(value):
                    what = "direct" if not math.isnan(y[i]) else "synthetic"
                    raise ValueError(
                        f"area {names[i]!r}: covariate {covariate.name!r} is missing, "
                        f"needed for its {what} estimate"
                    )
    return fay_herriot_matrix(
        y, se, x, areas=names, terms=terms, method=method, max_iter=max_iter, precision=precision
    )
