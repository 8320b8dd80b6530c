"""Survey designs and the Taylor-linearisation variance of estimated totals.

The variance is that of R's survey package (Lumley 2004; Lumley 2010, sec. 2.2 and appendix C;
``svyrecvar`` in survey 4.x). At each stage, the totals z_hi of the weighted influence values
over the PSUs i of stratum h are centred within their stratum and combined as

    V_1 = sum_h (1 - f_h) n_h / (n_h - 1) sum_i (z_hi - zbar_h)(z_hi - zbar_h)'

where n_h is the number of PSUs the design sampled in the stratum, zbar_h = sum_i z_hi / n_h,
and f_h = n_h / N_h when the population size N_h is known (``fpc``), 0 otherwise (sampling with
replacement). With an fpc, later stages add their own variance within each sampled unit, scaled
by the sampling fraction of the stage above (R's default, not ``survey.ultimate.cluster``):

    V = V_1 + sum_i (n_h / N_h) V_2(i) + ...

Strata with a single PSU are handled as R's ``survey.lonely.psu``: ``fail``; ``remove`` and
``certainty`` (the stratum contributes nothing); ``adjust`` (the lonely PSU is centred at the
mean of all PSU totals instead of its stratum mean); ``average`` (the variance is scaled up by
the number of strata over the number of strata with two or more PSUs). A stratum whose fpc says
it was sampled completely (f_h = 0, e.g. a certainty PSU with N_h = 1) contributes 0 before any
lonely-PSU rule applies, as in R.

Domains are estimated on the full design: influence values are zero outside the domain and
rows are never dropped, so the design's n_h stay those of the whole sample (R's subsets keep
them too). Calibration (``analysis.calibration``) adds residualising steps applied to the
influence values before the variance, as R's ``postStrata``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

Residualizer = Callable[[np.ndarray], np.ndarray]

# R treats a stratum as self-representing when its finite-population correction is below this.
SELF_REPRESENTING = 1e-7


class LonelyPSU(enum.StrEnum):
    """R's ``options(survey.lonely.psu=...)``."""

    FAIL = "fail"
    ADJUST = "adjust"
    REMOVE = "remove"
    CERTAINTY = "certainty"
    AVERAGE = "average"


class LonelyPSUError(ValueError):
    """A stratum has a single PSU and the design says to fail (or there is nothing to average)."""


@dataclass(frozen=True)
class Stage:
    """One sampling stage, with integer codes prepared once so that variances need no search.

    Rows carry ``strata`` (0..H-1) and ``clusters`` (0..C-1; a cluster id is read within the
    unit above it, and within its stratum when ``nest``). Per cluster: its stratum. Per stratum:
    the PSUs the whole design sampled in it (n_h, kept by subsets as R keeps them), the
    population size (N_h, inf when unknown), the product of the sampling fractions of the
    stages above, and a label for messages. A later-stage stratum is one unit of the stage
    above: R computes each unit's variance on its own, so lonely-PSU rules look no further."""

    strata: np.ndarray
    clusters: np.ndarray
    stratum_of_cluster: np.ndarray
    sampled: np.ndarray
    popsize: np.ndarray
    fraction_above: np.ndarray
    labels: tuple[str, ...]
    one_row_per_cluster: bool


@dataclass(frozen=True)
class Design:
    """A sampling design over ``n`` rows (R's ``svydesign``), possibly calibrated.

    ``weights`` are the analysis weights (after calibration); ``residualizers`` are the
    calibration steps, in order, that the variance applies to influence values (R's
    ``postStrata``); ``flags`` are warnings every estimate on this design carries (for example
    raking that did not converge)."""

    n: int
    weights: np.ndarray
    stages: tuple[Stage, ...]
    has_fpc: bool
    has_strata: bool = False
    lonely_psu: LonelyPSU = LonelyPSU.FAIL
    residualizers: tuple[Residualizer, ...] = field(default=())
    flags: tuple[str, ...] = ()

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

        ``ids``: one array per stage (none, or empty: every row is its own PSU); later-stage ids
        are read within the unit above. ``strata``: first-stage strata. ``weights``: sampling
        weights (without them, the product over stages of N_h / n_h when ``fpc`` gives every
        stage, else 1). ``fpc``: per stage, population sizes (all values > 1 somewhere, none
        below 1) or sampling fractions (all <= 1), as R; a stage without one is sampled with
        replacement. ``nest``: first-stage ids repeat across strata and are read within them.
        """
        try:
            lonely = LonelyPSU(lonely_psu)
        except ValueError:
            raise ValueError(
                f"lonely_psu must be one of {', '.join(m.value for m in LonelyPSU)}, "
                f"not {lonely_psu!r}"
            ) from None
        if not isinstance(n, int | np.integer) or n <= 0:
            raise ValueError("the design has no rows")
        stage_ids = [_row_array(i, n, "cluster ids") for i in ids] if ids else []
        if not stage_ids:
            stage_ids = [np.arange(n)]
        has_strata = strata is not None
        if strata is not None:
            strata_values = _row_array(strata, n, "strata")
            first_strata, strata_labels = _codes(strata_values)
        else:
            first_strata, strata_labels = np.zeros(n, dtype=np.int64), np.array(["(all rows)"])

        # Cluster and stratum codes per stage.
        cluster_codes: list[np.ndarray] = []
        strata_codes: list[np.ndarray] = []
        cluster_labels: list[np.ndarray] = []
        for level, values in enumerate(stage_ids):
            own, own_labels = _codes(values)
            if level == 0:
                stratum = first_strata
                if nest:
                    cluster = _pair(first_strata, own)
                else:
                    cluster = own
                    if has_strata and _count(_pair(own, first_strata)) != _count(own):
                        raise ValueError(
                            "clusters are not nested in strata (the same id appears in two "
                            'strata); set "nest": true if ids repeat across strata'
                        )
            else:
                # R reads later-stage ids within the unit above, and the unit above is the
                # stratum of the later stage.
                stratum = cluster_codes[level - 1]
                cluster = _pair(stratum, own)
            cluster_codes.append(cluster)
            strata_codes.append(stratum)
            cluster_labels.append(own_labels[own])

        sampled_by_row = [
            _clusters_per_stratum(s, c)[s] for s, c in zip(strata_codes, cluster_codes, strict=True)
        ]
        popsize_by_row = _popsizes(fpc, sampled_by_row, strata_codes, n)

        if weights is None:
            if popsize_by_row is None:
                w = np.ones(n)
            elif all(np.isfinite(p).all() for p in popsize_by_row):
                w = np.prod([p / s for p, s in zip(popsize_by_row, sampled_by_row, strict=True)], 0)
            else:
                raise ValueError(
                    "no weights given, and the fpc does not give every stage's population size "
                    "to derive them from"
                )
        else:
            w = np.asarray(weights, dtype=float)
            if w.shape != (n,):
                raise ValueError("weights must have one value per row")
            if not np.isfinite(w).all():
                raise ValueError("weights have missing or infinite values")
            if (w < 0).any():
                raise ValueError("weights cannot be negative")

        stages = []
        fraction_above = np.ones(n)
        for level in range(len(stage_ids)):
            strata_h, clusters = strata_codes[level], cluster_codes[level]
            n_strata = int(strata_h.max()) + 1
            first = _first_rows(strata_h, n_strata)
            stratum_of_cluster = np.zeros(int(clusters.max()) + 1, dtype=np.int64)
            stratum_of_cluster[clusters] = strata_h
            sampled = sampled_by_row[level][first]
            popsize = (
                popsize_by_row[level][first]
                if popsize_by_row is not None
                else np.full(n_strata, np.inf)
            )
            if level == 0:
                labels = tuple(str(label) for label in strata_labels)
            else:
                parents = cluster_labels[level - 1][first]
                labels = tuple(f"unit {p} of stage {level}" for p in parents)
            stages.append(
                Stage(
                    strata=strata_h,
                    clusters=clusters,
                    stratum_of_cluster=stratum_of_cluster,
                    sampled=sampled.astype(float),
                    popsize=popsize.astype(float),
                    fraction_above=fraction_above[first],
                    labels=labels,
                    one_row_per_cluster=bool(len(stratum_of_cluster) == n),
                )
            )
            if popsize_by_row is not None:
                fraction_above = fraction_above * sampled_by_row[level] / popsize_by_row[level]
        return cls(
            n=int(n),
            weights=w,
            stages=tuple(stages),
            has_fpc=popsize_by_row is not None,
            has_strata=has_strata,
            lonely_psu=lonely,
        )

    def with_weights(
        self, weights: np.ndarray, residualizer: Residualizer, flags: tuple[str, ...] = ()
    ) -> Design:
        """The same design after a calibration step: new weights, one more residualizer."""
        return Design(
            n=self.n,
            weights=weights,
            stages=self.stages,
            has_fpc=self.has_fpc,
            has_strata=self.has_strata,
            lonely_psu=self.lonely_psu,
            residualizers=(*self.residualizers, residualizer),
            flags=tuple(dict.fromkeys((*self.flags, *flags))),
        )

    def subset(self, rows: np.ndarray) -> Design:
        """The design on some of its rows, as R's ``subset()`` of an uncalibrated design: the
        other rows are dropped but every stratum keeps the n_h (and N_h) of the whole design, so
        the variance of any statistic that is zero outside the rows is unchanged, and costs only
        the rows kept. A calibrated design cannot be subset (its residuals involve every row):
        estimate on it with a domain mask instead."""
        if self.calibrated:
            raise ValueError("a calibrated design cannot be subset; use a domain mask")
        keep = np.asarray(rows, dtype=bool)
        if keep.shape != (self.n,):
            raise ValueError("rows must have one value per design row")
        return self.take(np.flatnonzero(keep))

    def take(self, index: np.ndarray) -> Design:
        """``subset`` of the rows at the increasing positions ``index``."""
        if len(index) == 0:
            raise ValueError("the subset has no rows")
        if self.calibrated:
            raise ValueError("a calibrated design cannot be subset; use a domain mask")
        return Design(
            n=len(index),
            weights=self.weights[index],
            stages=tuple(_subset_stage(stage, index) for stage in self.stages),
            has_fpc=self.has_fpc,
            has_strata=self.has_strata,
            lonely_psu=self.lonely_psu,
            flags=self.flags,
        )

    @property
    def calibrated(self) -> bool:
        return bool(self.residualizers)


def _subset_stage(stage: Stage, index: np.ndarray) -> Stage:
    taken = stage.clusters[index]
    if stage.one_row_per_cluster and bool((taken[1:] > taken[:-1]).all()):
        # Distinct and in order already (each row its own PSU): what np.unique would return.
        used, clusters = taken, np.arange(len(taken), dtype=np.int64)
    else:
        used, clusters = np.unique(taken, return_inverse=True)
    return Stage(
        strata=stage.strata[index],
        clusters=clusters.astype(np.int64).reshape(-1),
        stratum_of_cluster=stage.stratum_of_cluster[used],
        sampled=stage.sampled,
        popsize=stage.popsize,
        fraction_above=stage.fraction_above,
        labels=stage.labels,
        one_row_per_cluster=bool(len(used) == len(index)),
    )


def _row_array(values: np.ndarray, n: int, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (n,):
        raise ValueError(f"{name} must have one value per row")
    if _has_missing(array):
        raise ValueError(f"{name} have missing values")
    return array


def _has_missing(values: np.ndarray) -> bool:
    if values.dtype.kind == "f":
        return bool(np.isnan(values).any())
    if values.dtype.kind == "O":
        # Elementwise in C: None, or a NaN (the one value not equal to itself).
        none = np.array([None], dtype=object)
        return bool(np.equal(values, none).any() or np.not_equal(values, values).any())
    return False


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..K-1 for any hashable values, and the K distinct values in code order."""
    array = np.asarray(values)
    if array.dtype.kind == "O":
        items = array.tolist()
        distinct = dict.fromkeys(items)
        if all(type(v) is str for v in distinct):
            # Text (the command's columns): sorted as np.unique would, with a sort of the
            # distinct values only (numpy's text drops trailing NULs, and so here).
            text = {v: v.rstrip("\x00") for v in distinct}
            ordered = sorted(set(text.values()))
            code = {t: i for i, t in enumerate(ordered)}
            lookup = {v: code[t] for v, t in text.items()}
            codes = np.fromiter(map(lookup.__getitem__, items), np.int64, count=len(items))
            return codes, np.array(ordered, dtype=str)
        # Mixed objects (numbers and text) compare as text, as R's factor levels do.
        array = array.astype(str)
    if array.dtype.kind in "iu" and bool((array[1:] > array[:-1]).all()):
        return np.arange(len(array), dtype=np.int64), array  # row numbers: np.unique's answer
    labels, inverse = np.unique(array, return_inverse=True)
    return inverse.astype(np.int64).reshape(-1), labels


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Codes of the pairs (a_i, b_i) of two non-negative integer code arrays."""
    combined = a.astype(np.int64) * (int(b.max()) + 1) + b.astype(np.int64)
    if bool((combined[1:] > combined[:-1]).all()):
        return np.arange(len(combined), dtype=np.int64)  # one row per pair, in order
    return np.unique(combined, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _count(codes: np.ndarray) -> int:
    return int(codes.max()) + 1


def _first_rows(codes: np.ndarray, k: int) -> np.ndarray:
    first = np.full(k, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


def _clusters_per_stratum(strata: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """n_h: distinct clusters in each stratum (clusters are unique across strata)."""
    stratum_of_cluster = np.zeros(int(clusters.max()) + 1, dtype=np.int64)
    stratum_of_cluster[clusters] = strata
    return np.bincount(stratum_of_cluster, minlength=int(strata.max()) + 1).astype(float)


def _popsizes(
    fpc: Sequence[np.ndarray] | None,
    sampled: list[np.ndarray],
    strata: list[np.ndarray],
    n: int,
) -> list[np.ndarray] | None:
    """Population sizes per row and stage from R's fpc (sizes, or fractions when all <= 1)."""
    if not fpc:
        return None
    if len(fpc) > len(sampled):
        raise ValueError("more fpc columns than sampling stages")
    raw = [np.asarray(f, dtype=float) for f in fpc]
    if any(f.shape != (n,) for f in raw):
        raise ValueError("fpc must have one value per row")
    if any(np.isnan(f).any() for f in raw):
        raise ValueError("fpc has missing values")
    values = np.concatenate(raw)
    if (values < 0).any():
        raise ValueError("fpc cannot be negative")
    are_sizes = bool((values > 1).any())
    if are_sizes and (values < 1).any():
        raise ValueError("fpc must be all population sizes (>= 1) or all sampling fractions (<= 1)")
    sizes = []
    for level, f in enumerate(raw):
        # A zero fraction means "unknown": sampling with replacement, as R's n/0 = Inf.
        size = f if are_sizes else np.divide(sampled[level], f, out=np.full(n, np.inf), where=f > 0)
        if (size < sampled[level] - 1e-9).any():
            raise ValueError("fpc implies more than 100% sampling in some stratum")
        _constant_within(size, strata[level])
        sizes.append(size)
    # Stages without an fpc are taken as sampled with replacement (R requires one per stage).
    sizes.extend(np.full(n, np.inf) for _ in range(len(sizes), len(sampled)))
    return sizes


def _constant_within(values: np.ndarray, strata: np.ndarray) -> None:
    first = np.empty(int(strata.max()) + 1)
    first[strata[::-1]] = values[::-1]  # each stratum's value in its first row
    if (values != first[strata]).any():
        raise ValueError("fpc values vary within a stratum")


def variance_of_totals(design: Design, z: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Covariance matrix (k, k) of the estimated totals of weighted influence values ``z``
    ((n,) or (n, k)), as R's ``svyrecvar``.

    ``rows`` (boolean mask) marks the domain's rows, and ``z`` is taken as zero outside them: as
    R does for a subset, the variance is computed on those rows alone, with the PSUs of their
    strata that have none of them counted as zero totals, and strata without any of them take
    no part in lonely-PSU handling. A calibrated design keeps every row, as R's subsets of
    calibrated designs do.

    Parameters
    ----------
    design : Design
        The survey design.
    z : numpy.ndarray
        (n,) or (n, k) weighted influence values.
    rows : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).

    Returns
    -------
    numpy.ndarray
        The (k, k) covariance matrix of the estimated totals.
    """
    x = np.asarray(z, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != design.n:
        raise ValueError("influence values must have one row per design row")
    if rows is not None and not design.calibrated:
        keep = np.asarray(rows, dtype=bool)
        if keep.shape != (design.n,):
            raise ValueError("rows must have one value per design row")
        if not keep.all():
            if not keep.any():
                return np.zeros((x.shape[1], x.shape[1]))
            return variance_of_totals(design.subset(keep), x[keep])
    for residualize in design.residualizers:
        x = residualize(x)
    k = x.shape[1]
    v = np.zeros((k, k))
    for level, stage in enumerate(design.stages):
        if level > 0 and not design.has_fpc:
            break  # without an fpc R stops at the first stage (ultimate clusters)
        v += _stage_variance(stage, x, design.lonely_psu, level + 1)
    return v


def _column_sums(codes: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((size, x.shape[1]))
    for j in range(x.shape[1]):
        out[:, j] = np.bincount(codes, weights=x[:, j], minlength=size)
    return out


def _sampling_correction(stage: Stage) -> np.ndarray:
    """1 - f_h per stratum: 1 without a population size (sampling with replacement)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            np.isinf(stage.popsize), 1.0, (stage.popsize - stage.sampled) / stage.popsize
        )


def has_lonely_psu(design: Design, rows: np.ndarray | None = None) -> bool:
    """Whether a lonely_psu option other than ``fail`` was used for the domain ``rows``: one of
    the strata with rows there (every stratum for a calibrated design) has a single PSU and is
    not self-representing.

    Parameters
    ----------
    design : Design
        The survey design.
    rows : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).

    Returns
    -------
    bool
        True when a lonely-PSU option was applied for those rows.
    """
    if design.lonely_psu == LonelyPSU.FAIL:
        return False
    keep = None if rows is None or design.calibrated else np.asarray(rows, dtype=bool)
    for level, stage in enumerate(design.stages):
        if level > 0 and not design.has_fpc:
            break
        strata = stage.strata if keep is None else stage.strata[keep]
        present = np.bincount(strata, minlength=len(stage.sampled)) > 0
        lonely = (stage.sampled <= 1) & (_sampling_correction(stage) >= SELF_REPRESENTING)
        if (present & lonely).any():
            return True
    return False


def _stage_variance(stage: Stage, x: np.ndarray, lonely_psu: LonelyPSU, number: int) -> np.ndarray:
    """One stage of svyrecvar's sum over strata (module docstring) for the rows at hand."""
    n_strata = len(stage.sampled)
    if stage.one_row_per_cluster:
        # Each row is its own PSU: its total is its value, and the order of PSUs is immaterial.
        totals, stratum_of_total = x, stage.strata
    else:
        totals = _column_sums(stage.clusters, x, len(stage.stratum_of_cluster))
        stratum_of_total = stage.stratum_of_cluster
    psus_here = np.bincount(stratum_of_total, minlength=n_strata)
    present = psus_here > 0
    nh = stage.sampled
    f = _sampling_correction(stage)
    scale = np.where(nh > 1, f * nh / np.maximum(nh - 1, 1), f)
    self_representing = f < SELF_REPRESENTING
    lonely = present & (nh <= 1) & ~self_representing
    if lonely.any() and lonely_psu == LonelyPSU.FAIL:
        label = stage.labels[int(np.flatnonzero(lonely)[0])]
        where = f"stratum {label!r}" if number == 1 else label
        raise LonelyPSUError(
            f"{where} has only one PSU at stage {number}; set lonely_psu to adjust, remove, "
            "certainty or average"
        )
    sums = _column_sums(stratum_of_total, totals, n_strata)
    # PSUs of the design without rows here are zero totals (R pads them): the centre is over n_h.
    centre = sums / nh[:, None]
    weight = np.where(present & ~self_representing, scale, 0.0) * stage.fraction_above
    if lonely.any() and lonely_psu == LonelyPSU.ADJUST and number == 1:
        # R 4.x centres a lonely PSU at the mean PSU total over all strata with rows here; at
        # later stages a stratum is a whole unit above, so that mean is its own total: 0.
        centre[lonely] = sums[present].sum(axis=0) / nh[present].sum()
    if lonely_psu in (LonelyPSU.REMOVE, LonelyPSU.CERTAINTY, LonelyPSU.AVERAGE) or number > 1:
        weight = np.where(lonely, 0.0, weight)
    if lonely.any() and lonely_psu == LonelyPSU.AVERAGE:
        usable = int(present.sum() - lonely.sum())
        if number > 1 or usable == 0:
            label = stage.labels[int(np.flatnonzero(lonely)[0])]
            raise LonelyPSUError(
                f"lonely_psu average: no stratum with two or more PSUs to average over "
                f"(stage {number}, {label})"
            )
        weight = weight * (present.sum() / usable)
    total_weight = weight[stratum_of_total]
    used = total_weight > 0
    if not used.all():
        totals, stratum_of_total, total_weight = (
            totals[used],
            stratum_of_total[used],
            total_weight[used],
        )
    rooted = totals - centre[stratum_of_total]
    rooted *= np.sqrt(total_weight)[:, None]
    v = np.dot(rooted.T, rooted)
    absent = (nh - psus_here) * weight
    if (absent > 0).any():
        padded = centre[absent > 0] * np.sqrt(absent[absent > 0])[:, None]
        v += np.dot(padded.T, padded)
    return v


def degrees_of_freedom(design: Design, rows: np.ndarray | None = None) -> int:
    """Design degrees of freedom as R's ``degf()``: first-stage PSUs minus first-stage strata
    among the rows (of the domain, when ``rows`` is given) with non-zero weight.

    Parameters
    ----------
    design : Design
        The survey design.
    rows : numpy.ndarray | None
        Boolean mask of the domain's rows (default: every row).

    Returns
    -------
    int
        First-stage PSUs minus first-stage strata with rows of non-zero weight.
    """
    keep = design.weights != 0
    if rows is not None:
        keep = keep & np.asarray(rows, dtype=bool)
    if not keep.any():
        return 0
    stage = design.stages[0]
    psus = np.count_nonzero(np.bincount(stage.clusters[keep]))
    strata = np.count_nonzero(np.bincount(stage.strata[keep]))
    return int(psus - strata)
