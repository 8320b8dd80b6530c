"""Calibration to known population counts: post-stratification, raking and GREG, as R's
``postStratify``, ``rake`` and ``calibrate`` (survey 4.x; Lumley 2010, ch. 7; Deville and
Särndal 1992).

Weights are adjusted as R does, and the variance of an estimator on the calibrated design is
that of the residuals of the calibration, applied to the weighted influence values z before the
design variance (R's ``svyrecvar`` with ``postStrata``):

* post-stratification to groups g with old weights w0 and new weights w1:
      z <- z - w1 * [sum_{i in g} z_i w0_i / w1_i] / [sum_{i in g} w0_i]
* raking: R's ``rake`` post-stratifies margin after margin until the weighted joint table of
  the margins moves by less than ``epsilon`` (times the total weight when epsilon < 1) or
  ``maxit`` passes; the variance repeats, ten times, for each margin m of the last pass with the
  weights w_m it left: z <- z - w_m * mean_{g(m)}(z / w_m) (unweighted group means), as R;
* GREG (``calibrate``): weights w g_i with sum_i w_i g_i x_i = totals, g = 1 + x'lambda
  (linear) or exp(x'lambda) (raking), and z <- resid(z / (g sqrt w) on sqrt(w) x) g sqrt(w).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

import numpy as np

from analysis.design import Design, Residualizer


class CalFun(enum.StrEnum):
    """R's ``calibrate(calfun=)`` supported here."""

    LINEAR = "linear"
    RAKING = "raking"


def _groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    array = np.asarray(values)
    if array.dtype.kind == "O":
        array = array.astype(str)
    labels, inverse = np.unique(array, return_inverse=True)
    return labels.astype(str), inverse.astype(np.int64).reshape(-1)


def _population_vector(
    labels: np.ndarray, population: Mapping[str, float], *, partial: bool = False
) -> np.ndarray:
    known = {str(k): v for k, v in population.items()}
    missing = [label for label in labels if label not in known]
    if missing:
        raise ValueError(f"no population count for group(s) {', '.join(missing[:5])}")
    extra = sorted(set(known) - set(labels.tolist()))
    if extra and not partial and any(float(known[k]) != 0 for k in extra):
        raise ValueError(f"population group(s) absent from the sample: {', '.join(extra[:5])}")
    counts = np.array([float(known[label]) for label in labels])
    if not np.isfinite(counts).all() or (counts <= 0).any():
        raise ValueError("population counts must be positive numbers")
    return counts


def _check_rows(design: Design, values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (design.n,):
        raise ValueError(f"{what} must have one value per row")
    return array


def _poststratified(weights: np.ndarray, groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    sums = np.bincount(groups, weights=weights, minlength=len(counts))
    if (sums <= 0).any():
        raise ValueError("a calibration group has no sampled weight")
    return weights * (counts / sums)[groups]


def _group_mean_remover(groups: np.ndarray, new: np.ndarray, old: np.ndarray) -> Residualizer:
    k = int(groups.max()) + 1
    old_totals = np.bincount(groups, weights=old, minlength=k)
    safe_new = np.where((new == 0) & (old == 0), 1.0, new)
    ratio = np.divide(old, safe_new, out=np.zeros_like(old), where=safe_new != 0)
    safe_totals = np.where(old_totals != 0, old_totals, 1.0)

    def residualize(x: np.ndarray) -> np.ndarray:
        means = np.empty((k, x.shape[1]))
        for j in range(x.shape[1]):
            means[:, j] = np.bincount(groups, weights=x[:, j] * ratio, minlength=k)
        means /= safe_totals[:, None]
        return x - means[groups] * safe_new[:, None]

    return residualize


def poststratify(
    design: Design,
    strata: np.ndarray,
    population: Mapping[str, float],
    *,
    partial: bool = False,
) -> Design:
    """R's ``postStratify``: each post-stratum's weights scaled to sum to its population count.
    ``population`` maps each group label (as text) to its count; groups of the population
    absent from the sample are an error unless ``partial`` (then ignored, as R).

    Parameters
    ----------
    design : Design
        The design to post-stratify.
    strata : numpy.ndarray
        The post-stratum label of every row.
    population : Mapping[str, float]
        Post-stratum label (as text) -> population count.
    partial : bool
        Ignore population groups absent from the sample instead of failing.

    Returns
    -------
    Design
        The design with post-stratified weights, marked as calibrated.
    """
    labels, groups = _groups(_check_rows(design, strata, "post-strata"))
    counts = _population_vector(labels, population, partial=partial)
    new = _poststratified(design.weights, groups, counts)
    return design.with_weights(new, _group_mean_remover(groups, new, design.weights))


def rake(
    design: Design,
    margins: Sequence[tuple[np.ndarray, Mapping[str, float]]],
    *,
    epsilon: float = 1.0,
    maxit: int = 10,
) -> Design:
    """R's ``rake`` (defaults as R: ``maxit=10, epsilon=1``): post-stratify to each margin in
    turn until the weighted joint table of all margins changes by less than ``epsilon`` (an
    absolute count, or a fraction of the total weight when epsilon < 1). A design that did not
    converge carries the flag ``raking_not_converged`` (R warns).

    Parameters
    ----------
    design : Design
        The design to rake.
    margins : Sequence[tuple[numpy.ndarray, Mapping[str, float]]]
        Each margin: the rows' labels and label -> population count.
    epsilon : float
        Convergence threshold (R's ``epsilon``).
    maxit : int
        Most sweeps over the margins (R's ``maxit``).

    Returns
    -------
    Design
        The raked design, flagged ``raking_not_converged`` when it did not converge.
    """
    if not margins:
        raise ValueError("raking needs at least one margin")
    if not epsilon > 0:
        raise ValueError("epsilon must be positive")
    if maxit < 1:
        raise ValueError("maxit must be at least 1")
    prepared = []
    for values, population in margins:
        labels, groups = _groups(_check_rows(design, values, "raking margin"))
        prepared.append((groups, _population_vector(labels, population)))
    joint = np.zeros(design.n, dtype=np.int64)
    for groups, counts in prepared:
        joint = joint * len(counts) + groups
    joint = np.unique(joint, return_inverse=True)[1].reshape(-1)
    tolerance = epsilon * float(design.weights.sum()) if epsilon < 1 else epsilon
    weights = design.weights
    table = np.bincount(joint, weights=weights)
    converged = False
    step_weights: list[np.ndarray] = []
    for _iteration in range(maxit):
        step_weights = []
        for groups, counts in prepared:
            weights = _poststratified(weights, groups, counts)
            step_weights.append(weights)
        new_table = np.bincount(joint, weights=weights, minlength=len(table))
        if float(np.abs(new_table - table).max()) < tolerance:
            converged = True
            break
        table = new_table
    steps = [(groups, w) for (groups, _counts), w in zip(prepared, step_weights, strict=True)]

    def residualize(x: np.ndarray) -> np.ndarray:
        for _pass in range(10):
            for groups, psw in steps:
                k = int(groups.max()) + 1
                sizes = np.bincount(groups, minlength=k)
                scaled = np.divide(x, psw[:, None], out=np.zeros_like(x), where=psw[:, None] != 0)
                means = np.empty((k, x.shape[1]))
                for j in range(x.shape[1]):
                    means[:, j] = np.bincount(groups, weights=scaled[:, j], minlength=k)
                means /= np.maximum(sizes, 1)[:, None]
                x = x - psw[:, None] * means[groups]
        return x

    flags = () if converged else ("raking_not_converged",)
    return design.with_weights(weights, residualize, flags)


def calibrate(
    design: Design,
    matrix: np.ndarray,
    totals: Sequence[float],
    *,
    calfun: CalFun | str = CalFun.LINEAR,
    maxit: int = 50,
    epsilon: float = 1e-7,
) -> Design:
    """Generalised regression calibration (Deville and Särndal 1992) as R's ``calibrate``
    without bounds: weights w_i g_i with sum_i w_i g_i x_i = totals, g_i = 1 + x_i'lambda
    (``linear``, the GREG estimator) or exp(x_i'lambda) (``raking``), by Newton's method.
    Collinear columns are allowed when their totals agree. The variance uses the residuals of
    the weighted least-squares fit of z / (g sqrt w) on sqrt(w) x.

    Parameters
    ----------
    design : Design
        The design to calibrate.
    matrix : numpy.ndarray
        (n, p) auxiliary variables x_i of every row.
    totals : numpy.ndarray
        (p,) population totals of the auxiliary variables.
    calfun : str
        ``linear`` (GREG) or ``raking``.
    maxit : int
        Most Newton iterations.
    epsilon : float
        Convergence tolerance on the calibration equations.

    Returns
    -------
    Design
        The calibrated design.

    Raises
    ------
    ValueError
        When the totals cannot be met.
    """
    try:
        kind = CalFun(calfun)
    except ValueError:
        raise ValueError(f'calfun must be "linear" or "raking", not {calfun!r}') from None
    x = np.asarray(matrix, dtype=float)
    target = np.asarray(totals, dtype=float)
    if x.ndim != 2 or x.shape[0] != design.n or x.shape[1] != len(target):
        raise ValueError("the calibration matrix needs one row per unit and one column per total")
    if not (np.isfinite(x).all() and np.isfinite(target).all()):
        raise ValueError("calibration variables and totals must be finite numbers")
    w = design.weights
    lam = np.zeros(x.shape[1])
    scale = max(float(np.abs(target).max()), 1.0)
    g = np.ones(design.n)
    for _step in range(maxit):
        eta = x @ lam
        g = 1 + eta if kind == CalFun.LINEAR else np.exp(eta)
        gap = target - (w * g) @ x
        if float(np.abs(gap).max()) <= epsilon * scale:
            break
        slope = np.ones_like(eta) if kind == CalFun.LINEAR else g
        jacobian = (x * (w * slope)[:, None]).T @ x
        lam = lam + np.linalg.pinv(jacobian) @ gap
    else:
        g = 1 + x @ lam if kind == CalFun.LINEAR else np.exp(x @ lam)
        if float(np.abs(target - (w * g) @ x).max()) > epsilon * scale:
            raise ValueError("calibration did not converge (are the totals consistent?)")
    root = np.sqrt(w)
    left, singular, _right = np.linalg.svd(x * root[:, None], full_matrices=False)
    basis = left[:, singular > singular.max() * max(x.shape) * np.finfo(float).eps]
    factor = g * root
    safe = np.where(factor != 0, factor, 1.0)

    def residualize(values: np.ndarray) -> np.ndarray:
        b = values / safe[:, None]
        return (b - basis @ (basis.T @ b)) * factor[:, None]

    return design.with_weights(w * g, residualize)
