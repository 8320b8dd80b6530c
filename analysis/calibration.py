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
