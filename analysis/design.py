"""Survey designs and the Taylor-linearisation variance of estimated totals.

The variance follows R's survey package (Lumley 2004, 2010; ``svyrecvar``): for each stage,
PSU totals of the weighted influence values are centred within their stratum and combined as

    V = sum_h (1 - f_h) n_h / (n_h - 1) sum_i (z_hi - zbar_h)(z_hi - zbar_h)'

with f_h = n_h / N_h when population sizes are known (0 otherwise). Later stages add their
variance scaled by the earlier stage's sampling fraction (``multistage``). Strata with one PSU are
handled as R's ``survey.lonely.psu`` option: fail, remove, certainty, adjust (centre at the grand
mean of PSU totals) or average (the mean variance of the other strata). Domains are estimated on
the full design: influence values are zero outside the domain, never dropped.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

Residualizer = Callable[[np.ndarray], np.ndarray]


class LonelyPSU(enum.StrEnum):
    FAIL = "fail"
    ADJUST = "adjust"
    REMOVE = "remove"
    CERTAINTY = "certainty"
    AVERAGE = "average"


class LonelyPSUError(ValueError):
    """A stratum has a single PSU and the design says to fail."""


def _codes(values: np.ndarray) -> np.ndarray:
    """Integer codes for any hashable values (strings, numbers), in order of first sort."""
    _, inverse = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return inverse.astype(np.int64)


def _pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _codes(np.char.add(np.char.add(a.astype(str), "\x1f"), b.astype(str)))


@dataclass(frozen=True)
class Design:
    """A sampling design over ``n`` rows: per stage, stratum and cluster codes, the number of
    sampled units in the row's stratum, and the population size of that stratum (inf if
    unknown). ``residualizers`` are the calibration steps (post-stratification, raking) that
    the variance removes from influence values, in order."""

    n: int
    weights: np.ndarray
    strata: tuple[np.ndarray, ...]
    clusters: tuple[np.ndarray, ...]
    sampled: tuple[np.ndarray, ...]
    popsize: tuple[np.ndarray, ...] | None
    lonely_psu: LonelyPSU = LonelyPSU.FAIL
    residualizers: tuple[Residualizer, ...] = field(default=())
    has_strata: bool = False

    @classmethod
    def build(
        cls,
        *,
        n: int,
        ids: Sequence[np.ndarray] | None = None,
        strata: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        fpc: Sequence[np.ndarray] | None = None,
        nest: bool = False,
        lonely_psu: LonelyPSU | str = "fail",
    ) -> Design:
        """A design as R's ``svydesign(ids, strata, weights, fpc, nest)``.

        ``ids``: one array per stage (none, or empty: every row is its own PSU); ``fpc``: per
        stage, population sizes (values > 1) or sampling fractions (values <= 1)."""
        try:
            lonely = LonelyPSU(lonely_psu)
        except ValueError:
            raise ValueError(
                f"lonely_psu must be one of {', '.join(m.value for m in LonelyPSU)}"
            ) from None
        if n <= 0:
            raise ValueError("the design has no rows")
        stages = [np.asarray(i) for i in ids] if ids else [np.arange(n)]
        for stage in stages:
            if len(stage) != n:
                raise ValueError("cluster ids must have one value per row")
            if _has_missing(stage):
                raise ValueError("cluster ids have missing values")
        has_strata = strata is not None
        first_strata = np.zeros(n, dtype=np.int64) if strata is None else _codes(strata)
        if strata is not None and (len(strata) != n or _has_missing(np.asarray(strata))):
            raise ValueError("strata must have one non-missing value per row")
        cluster_codes: list[np.ndarray] = []
        strata_codes: list[np.ndarray] = []
        for level, stage in enumerate(stages):
            stratum = (
                first_strata
                if level == 0
                else _pair_codes(np.zeros(n, dtype=np.int64), cluster_codes[level - 1])
            )
            cluster = _codes(stage)
            if level == 0 and nest:
                cluster = _pair_codes(stratum, cluster)
            elif level > 0:
                # Later-stage units are nested in the unit above them, as R forces.
                cluster = _pair_codes(cluster_codes[level - 1], cluster)
            if level == 0 and not nest and has_strata:
                per_cluster: dict[int, int] = {}
                for c, s in zip(cluster.tolist(), stratum.tolist(), strict=True):
                    if per_cluster.setdefault(c, s) != s:
                        raise ValueError(
                            "clusters are not nested in strata (the same id appears in two "
                            'strata); set "nest": true if ids repeat across strata'
                        )
            cluster_codes.append(cluster)
            strata_codes.append(stratum)
        sampled = tuple(
            _units_per_stratum(s, c) for s, c in zip(strata_codes, cluster_codes, strict=True)
        )
        popsize: tuple[np.ndarray, ...] | None = None
        if fpc:
            if len(fpc) > len(stages):
                raise ValueError("more fpc columns than sampling stages")
            raw = [np.asarray(f, dtype=float) for f in fpc]
            if any(len(f) != n or np.isnan(f).any() for f in raw):
                raise ValueError("fpc must have one non-missing value per row")
            values = np.concatenate(raw)
            if (values > 1).any() and not (values >= 1).all():
                raise ValueError("fpc must be all population sizes (> 1) or all fractions (<= 1)")
            sizes = (
                list(raw)
                if (values > 1).any()
                else [s / f for s, f in zip(sampled, raw, strict=False)]
            )
            for _later in range(len(sizes), len(stages)):
                sizes.append(np.full(n, np.inf))  # later stages taken as sampled with replacement
            for level, size in enumerate(sizes):
                if (size < sampled[level] - 1e-9).any():
                    raise ValueError("fpc implies more than 100% sampling in some stratum")
                _constant_within(size, strata_codes[level], "fpc")
            popsize = tuple(sizes)
        if weights is None:
            if popsize is not None and np.isfinite(np.concatenate(popsize)).all():
                w = np.prod([p / s for p, s in zip(popsize, sampled, strict=True)], axis=0)
            else:
                w = np.ones(n)
        else:
            w = np.asarray(weights, dtype=float)
            if len(w) != n or np.isnan(w).any():
                raise ValueError("weights must have one non-missing value per row")
            if (w < 0).any():
                raise ValueError("weights cannot be negative")
        return cls(
            n=n,
            weights=w,
            strata=tuple(strata_codes),
            clusters=tuple(cluster_codes),
            sampled=sampled,
            popsize=popsize,
            lonely_psu=lonely,
            has_strata=has_strata,
        )

    def with_weights(self, weights: np.ndarray, residualizer: Residualizer) -> Design:
        """The same design after a calibration step."""
        return Design(
            n=self.n,
            weights=weights,
            strata=self.strata,
            clusters=self.clusters,
            sampled=self.sampled,
            popsize=self.popsize,
            lonely_psu=self.lonely_psu,
            residualizers=(*self.residualizers, residualizer),
            has_strata=self.has_strata,
        )

    @property
    def calibrated(self) -> bool:
        return bool(self.residualizers)


def _has_missing(values: np.ndarray) -> bool:
    if values.dtype.kind == "f":
        return bool(np.isnan(values).any())
    if values.dtype.kind == "O":
        return any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values)
    return False


def _units_per_stratum(strata: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    pairs = np.unique(np.stack([strata, clusters], axis=1), axis=0)
    counts = np.bincount(pairs[:, 0], minlength=int(strata.max()) + 1)
    return counts[strata].astype(float)


def _constant_within(values: np.ndarray, strata: np.ndarray, name: str) -> None:
    order = np.lexsort((values, strata))
    s, v = strata[order], values[order]
    same_stratum = s[1:] == s[:-1]
    if (same_stratum & (v[1:] != v[:-1])).any():
        raise ValueError(f"{name} values vary within a stratum")


def variance_of_totals(design: Design, z: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Covariance matrix of estimated totals from weighted influence values ``z`` ((n,) or
    (n, k)), as R's ``svyrecvar``. ``rows`` marks the domain (for lonely-PSU bookkeeping as R's
    subsets do); ``z`` must already be zero outside it."""
    x = np.asarray(z, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    for residualize in design.residualizers:
        x = residualize(x)
    keep = np.ones(design.n, dtype=bool) if rows is None or design.calibrated else rows
    return _multistage(design, x, np.flatnonzero(keep), 0)


def _multistage(design: Design, x: np.ndarray, index: np.ndarray, stage: int) -> np.ndarray:
    v = _onestage(design, x[index], index, stage)
    if design.popsize is None or stage + 1 >= len(design.clusters):
        return v
    clusters = design.clusters[stage][index]
    order = np.argsort(clusters, kind="stable")
    bounds = np.flatnonzero(np.diff(clusters[order])) + 1
    for group in np.split(order, bounds):
        rows = index[group]
        fraction = design.sampled[stage][rows[0]] / design.popsize[stage][rows[0]]
        v = v + _multistage(design, x, rows, stage + 1) * fraction
    return v


def _onestage(design: Design, x: np.ndarray, index: np.ndarray, stage: int) -> np.ndarray:
    k = x.shape[1]
    strata = design.strata[stage][index]
    clusters = design.clusters[stage][index]
    n_psu = design.sampled[stage][index]
    size = (
        design.popsize[stage][index] if design.popsize is not None else np.full(len(index), np.inf)
    )
    # PSU totals.
    psu_codes, psu_of_row = np.unique(clusters, return_inverse=True)
    totals = np.zeros((len(psu_codes), k))
    np.add.at(totals, psu_of_row, x)
    first_row = np.zeros(len(psu_codes), dtype=np.int64)
    first_row[psu_of_row[::-1]] = np.arange(len(index))[::-1]
    psu_stratum = strata[first_row]
    stratum_codes, stratum_of_psu = np.unique(psu_stratum, return_inverse=True)
    n_strata = len(stratum_codes)
    first_psu = np.zeros(n_strata, dtype=np.int64)
    first_psu[stratum_of_psu[::-1]] = np.arange(len(psu_codes))[::-1]
    nh = n_psu[first_row[first_psu]]  # PSUs the design sampled in the stratum
    present = np.bincount(stratum_of_psu, minlength=n_strata)  # PSUs with rows here
    pop = size[first_row[first_psu]]
    f = np.where(np.isinf(pop), 1.0, (pop - nh) / np.where(np.isinf(pop), 1.0, pop))
    scale = np.where(nh > 1, f * nh / np.maximum(nh - 1, 1), f)
    self_representing = f < 1e-7
    sums = np.zeros((n_strata, k))
    np.add.at(sums, stratum_of_psu, totals)
    # A stratum sampled completely (f = 0) has no variance at this stage, lonely or not.
    lonely = (nh <= 1) & ~self_representing
    if lonely.any() and design.lonely_psu == LonelyPSU.FAIL:
        raise LonelyPSUError(
            f"a stratum has only one PSU at stage {stage + 1}; choose lonely_psu "
            "adjust, remove, certainty or average"
        )
    centre = sums / np.maximum(nh, 1)[:, None]
    if design.lonely_psu == LonelyPSU.ADJUST:
        grand = x.sum(axis=0) / nh.sum()
        adjust = lonely & (present == 1)
        centre[adjust] = grand
    deviations = totals - centre[stratum_of_psu]
    weight = np.where(self_representing, 0.0, scale)
    if design.lonely_psu in (LonelyPSU.REMOVE, LonelyPSU.CERTAINTY, LonelyPSU.AVERAGE):
        weight = np.where(lonely, 0.0, weight)
    root = np.sqrt(weight)[stratum_of_psu][:, None]
    v = (deviations * root).T @ (deviations * root)
    # Sampled PSUs without rows here (domains): their totals are zero, deviation -centre.
    missing = np.maximum(nh - present, 0) * weight
    if missing.any():
        v = v + (centre * missing[:, None]).T @ centre
    if design.lonely_psu == LonelyPSU.AVERAGE:
        ok = int((~lonely & ~self_representing).sum() + (self_representing & ~lonely).sum())
        if ok > 0 and lonely.any():
            v = v * n_strata / ok
    return v


def degrees_of_freedom(design: Design, rows: np.ndarray | None = None) -> int:
    """PSUs minus strata among the rows with non-zero weight in the domain, as R's degf()."""
    keep = design.weights != 0
    if rows is not None:
        keep = keep & rows
    if not keep.any():
        return 0
    psus = len(np.unique(design.clusters[0][keep]))
    strata = len(np.unique(design.strata[0][keep]))
    return psus - strata
