"""Calibration to known population counts: post-stratification and raking.

Weights are adjusted as R's ``postStratify`` and ``rake`` do, and the variance of a calibrated
estimator is that of the residuals of the calibration (Lumley 2010, sec. 7.2-7.3; Deville and
Särndal 1992): each post-stratification step removes from the weighted influence values their
post-stratum means; raking repeats those projections margin by margin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from analysis.design import Design, Residualizer


def _groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, inverse = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return labels, inverse


def _population_vector(labels: np.ndarray, population: Mapping[str, float]) -> np.ndarray:
    missing = [label for label in labels if label not in population]
    if missing:
        raise ValueError(f"no population count for group(s) {', '.join(missing[:5])}")
    counts = np.array([float(population[label]) for label in labels])
    if (counts <= 0).any():
        raise ValueError("population counts must be positive")
    return counts


def _group_mean_remover(groups: np.ndarray, new: np.ndarray, old: np.ndarray) -> Residualizer:
    k = int(groups.max()) + 1
    old_totals = np.bincount(groups, weights=old, minlength=k)

    def residualize(x: np.ndarray) -> np.ndarray:
        safe = np.where(new != 0, new, 1.0)
        ratio = x * (old / safe)[:, None]
        sums = np.zeros((k, x.shape[1]))
        np.add.at(sums, groups, ratio)
        means = sums / np.where(old_totals != 0, old_totals, 1.0)[:, None]
        return x - means[groups] * new[:, None]

    return residualize


def poststratify(design: Design, strata: np.ndarray, population: Mapping[str, float]) -> Design:
    """Weights scaled so that each post-stratum's weights sum to its population count."""
    labels, groups = _groups(strata)
    counts = _population_vector(labels, population)
    sums = np.bincount(groups, weights=design.weights, minlength=len(labels))
    if (sums <= 0).any():
        raise ValueError("a post-stratum has no sampled weight")
    new = design.weights * (counts / sums)[groups]
    return design.with_weights(new, _group_mean_remover(groups, new, design.weights))


def rake(
    design: Design,
    margins: Sequence[tuple[np.ndarray, Mapping[str, float]]],
    *,
    epsilon: float = 1e-10,
    maxit: int = 100,
) -> Design:
    """Iterative proportional fitting to several margins until the weighted margin counts move
    by less than ``epsilon``; the variance repeats the margins' projections ten times, as R."""
    if not margins:
        raise ValueError("raking needs at least one margin")
    prepared = []
    for values, population in margins:
        labels, groups = _groups(values)
        prepared.append((groups, _population_vector(labels, population)))
    weights = design.weights.copy()
    for _iteration in range(maxit):
        previous = [np.bincount(g, weights=weights, minlength=len(c)) for g, c in prepared]
        for groups, counts in prepared:
            sums = np.bincount(groups, weights=weights, minlength=len(counts))
            if (sums <= 0).any():
                raise ValueError("a raking margin has a group with no sampled weight")
            weights = weights * (counts / sums)[groups]
        current = [np.bincount(g, weights=weights, minlength=len(c)) for g, c in prepared]
        change = max(float(np.abs(a - b).max()) for a, b in zip(previous, current, strict=True))
        if change < epsilon:
            break
    final = weights

    def residualize(x: np.ndarray) -> np.ndarray:
        for _pass in range(10):
            for groups, counts in prepared:
                k = len(counts)
                safe = np.where(final != 0, final, 1.0)
                scaled = x / safe[:, None]
                sums = np.zeros((k, x.shape[1]))
                np.add.at(sums, groups, scaled)
                sizes = np.bincount(groups, minlength=k)
                x = x - final[:, None] * (sums / np.maximum(sizes, 1)[:, None])[groups]
        return x

    return design.with_weights(final, residualize)


def calibrate(
    design: Design,
    matrix: np.ndarray,
    totals: Sequence[float],
    *,
    calfun: str = "linear",
    maxit: int = 50,
    epsilon: float = 1e-7,
) -> Design:
    """Generalised regression calibration (Deville and Särndal 1992) as R's ``calibrate``:
    weights w g_i with sum_i w_i g_i x_i = totals, g linear (g = 1 + x'lambda) or raking
    (g = exp(x'lambda)). The variance uses the residuals of the weighted regression on x."""
    x = np.asarray(matrix, dtype=float)
    target = np.asarray(totals, dtype=float)
    if x.ndim != 2 or x.shape[0] != design.n or x.shape[1] != len(target):
        raise ValueError("the calibration matrix needs one row per unit and one column per total")
    w = design.weights
    lam = np.zeros(x.shape[1])
    for _step in range(maxit):
        eta = x @ lam
        g = 1 + eta if calfun == "linear" else np.exp(eta)
        derivative = np.ones_like(eta) if calfun == "linear" else np.exp(eta)
        gap = target - (w * g) @ x
        if np.abs(gap).max() <= epsilon * np.abs(target).max():
            break
        jacobian = (x * (w * derivative)[:, None]).T @ x
        lam = lam + np.linalg.solve(jacobian, gap)
        if calfun == "linear":
            g = 1 + x @ lam
            break
    else:
        raise ValueError("calibration did not converge")
    if calfun not in ("linear", "raking"):
        raise ValueError('calfun must be "linear" or "raking"')
    g = 1 + x @ lam if calfun == "linear" else np.exp(x @ lam)
    root = np.sqrt(w)
    scaled = x * root[:, None]
    q, _r = np.linalg.qr(scaled)
    factor = g * root

    def residualize(values: np.ndarray) -> np.ndarray:
        b = values / np.where(factor != 0, factor, 1.0)[:, None]
        return (b - q @ (q.T @ b)) * factor[:, None]

    return design.with_weights(w * g, residualize)
