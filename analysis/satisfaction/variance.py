"""Design. Stratified by unit x area cell h; PSUs are the responses (default) or the desks within
the cell; finite-population correction f_h = n_h / N_h from the dossier count when PSUs are
responses and N_h is known, none otherwise (desk clusters: the ultimate-cluster, with-replacement
approximation, since N_h counts dossiers and not desks). Domains are estimated on the full
design, never by dropping rows. A unit with its sub-units (``Level.UNIT_TREE``) is the union of
its units' cells, one domain like the others; nested trees share cells, whose statistics are
then added into each tree that holds them.

Variance (Taylor linearisation: Woodruff 1971, Binder 1983; as R's survey, Lumley 2004). The
linearised value of response i is w_h sum_j a_j r_ij (v_ij - p_dj) / W_dj (W_dj = sum w r over
d; zero outside d), its PSU totals are w_h Z_p, and

    V(C_d) = sum_h c_h [ sum_{p in h} Z_p^2 - (sum_{p in h} Z_p)^2 / n_h ],
    c_h = (1 - f_h) n_h / (n_h - 1) w_h^2

(n_h PSUs in cell h), which keeps every covariance between the criteria of a composite. Since
Z_p = beta' t_p with beta = (a / W_d, -a p_d / W_d) on the (v, r) columns of the per-PSU sums
t_p, V = beta' G_d beta with G_d = sum_{h in d} c_h (T_h - S_h S_h' / n_h), built from the
per-cell sufficient statistics of ``analysis.satisfaction.stats``: the responses are read once,
and every domain of every level costs a few small matrix products. A cell with a single PSU is
handled as R's ``survey.lonely.psu`` (default ``adjust``: centred at the grand mean of the
linearised values, which is zero for these estimators, so its term is (1 - f_h) w_h^2 Z_p^2).
Responses with weight 0 (no dossier count) are in no stratum: they count in ``n_excluded``
only.

Raked weights (``rake_to_margins``) are constant within cells and the margins are unions of
cells, so R's calibration residuals (``rake``) only shift each response's linearised value by a
constant within its cell: with responses as PSUs the stratified variance is unchanged, and this
table equals R's ``rake`` on the cell-stratified design. With desks as PSUs the shift is
proportional to each desk's responses and R's variance differs somewhat; this table then treats
the raked weights as fixed (the variance conditional on the achieved cell sample sizes). As in R,
the Korn-Graubard interval of a criterion after raking takes the whole sample's responses as
the n of its t_{n-1} (R's subset of a calibrated design keeps every row); df stays the domain's.

Design effect (Kish 1965): the variance over that of simple random sampling without replacement
of the m answering responses from N^ = sum of their weights, V_srs = (1 - m / N^) N^ /
(m - 1) beta' H_d beta with H_d = sum_{h in d} w_h R_h (for one criterion this is exactly R's
``deff=TRUE``); n_eff = m / deff. Reliability flags follow ``analysis.flags`` (NCHS standards for
proportions, applied to the top-2-box indices), plus ``criteria_missing``,
``excluded_responses`` (the domain has responses excluded for lack of a dossier count),
``cells_without_responses`` (part of the domain's dossiers lie in cells nobody answered in),
``no_answers``, ``cannot_tell`` (one answering response, no degrees of freedom, i.e. a single
PSU or desk in each of the domain's cells, or a zero or undefined SE: no verdict against a
target) and ``clipped`` (a t interval cut at the ends of the index's range). No interval has
zero width: where the SE is zero a percentage gets the Korn-Graubard interval on its answering
count, a mean score none. A flag never hides the number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.design import LonelyPSU, LonelyPSUError
from analysis.intervals import CIMethod
from analysis.satisfaction.composites import _coefficients, _Composites
from analysis.satisfaction.inputs import (
    IndexDefinition,
)
from analysis.satisfaction.intervals import _proportion_intervals, _reliability_bits, _t_quantile
from analysis.satisfaction.stats import PSU, CellStats
from analysis.satisfaction.table import _BIT, Level
from analysis.weighting import (
    Weighting,
    WeightingMethod,
)


@dataclass(frozen=True)
class _Cells:
    index: dict[tuple[str, str], int]
    weight: np.ndarray  # w_h, 0 where excluded
    c: np.ndarray  # variance coefficient c_h (includes w_h^2)
    k: np.ndarray  # centring coefficient: 1 / n_h, or 0 for a lonely PSU under adjust
    lonely: np.ndarray  # one PSU, and not every dossier answered: a lonely PSU
    included: np.ndarray
    population: np.ndarray  # N_h (or the raked estimate), 0 where excluded
    # Raked weights are a calibrated design: R's domains keep every row, so Korn-Graubard's
    # t_{n-1} counts the whole sample (the included responses); None otherwise.
    calibrated_rows: int | None


def _cells(stats: CellStats, weighting: Weighting, psu: PSU, lonely_psu: LonelyPSU) -> _Cells:
    lookup = weighting.index()
    keys = list(zip(stats.unit.tolist(), stats.area.tolist(), strict=True))
    positions = []
    for (unit, area), rows in zip(keys, stats.rows.tolist(), strict=True):
        h = lookup.get((unit, area))
        if h is None:
            raise ValueError(
                f"the weighting has no cell {unit}/{area}; build it from the same responses"
            )
        if int(weighting.responses[h]) != rows:
            raise ValueError(
                f"cell {unit}/{area}: the weighting counts {int(weighting.responses[h])} "
                f"responses, the statistics {rows}; build both from the same responses"
            )
        positions.append(h)
    at = np.array(positions, dtype=np.int64)
    weight = weighting.weight[at]
    included = weight > 0
    n = stats.psus.astype(float)
    fpc = weighting.fpc[at] if psu == PSU.RESPONSE else np.full(len(at), np.inf)
    f = np.where(np.isinf(fpc), 0.0, n / np.where(np.isinf(fpc), 1.0, fpc))
    certain = f >= 1.0  # every dossier answered: no sampling variance
    single = n <= 1
    lonely = single & ~certain & included
    if lonely.any() and lonely_psu == LonelyPSU.FAIL:
        shown = ", ".join(f"{u}/{a}" for (u, a), x in zip(keys, lonely, strict=True) if x)
        raise LonelyPSUError(
            f"{int(lonely.sum())} cells have a single PSU ({shown[:200]}); choose lonely_psu "
            "adjust, remove, certainty or average"
        )
    scale = np.where(n > 1, (1 - f) * n / np.maximum(n - 1, 1), 0.0)
    k = np.where(n > 1, 1 / np.maximum(n, 1), 0.0)
    if lonely_psu == LonelyPSU.ADJUST:
        scale = np.where(lonely, 1 - f, scale)
    scale = np.where(certain | ~included, 0.0, scale)
    return _Cells(
        index={key: b for b, key in enumerate(keys)},
        weight=np.where(included, weight, 0.0),
        c=scale * weight**2,
        k=k,
        lonely=lonely,
        included=included,
        population=np.where(included, np.nan_to_num(weighting.population[at]), 0.0),
        calibrated_rows=(
            int((stats.rows * included).sum())
            if weighting.method == WeightingMethod.RAKING
            else None
        ),
    )


@dataclass(frozen=True)
class _Options:
    measures: tuple[IndexDefinition, ...]
    method: CIMethod
    confidence: float
    lonely_psu: LonelyPSU


@dataclass(frozen=True)
class _Domains:
    """What every measure of one level needs: blocks sorted by domain, counts, df, lonely-PSU
    bookkeeping, the weighted sums of x per domain."""

    order: np.ndarray
    starts: np.ndarray
    identity: bool  # one block per domain, in domain order: nothing to add up
    n: np.ndarray  # (D,) weighted responses
    n_excluded: np.ndarray  # (D,)
    weighted: np.ndarray  # (D, 3K) sum of w x
    m: np.ndarray  # (D, C) responses answering the index's criteria
    group_weight: np.ndarray  # (D, G) weights of the responses answering each group
    df: np.ndarray  # (D, C)
    lonely: np.ndarray  # (D, C) a single-PSU cell handled by a lonely_psu option
    average: np.ndarray  # (D, C) lonely_psu="average" scale (NaN: nothing to average over)
    represented: np.ndarray  # (D,) dossiers of the domain's weighted cells
    calibrated_rows: int | None  # the n of Korn-Graubard's t_{n-1} after raking
    take: np.ndarray | None  # blocks of each domain when domains overlap (unit trees)

    parts: tuple[_Domains, ...] = ()  # the levels' domains, one after the other

    def total(self, values: np.ndarray) -> np.ndarray:
        """Per-block values (in block order) added up per domain."""
        if self.parts:
            return np.concatenate([part.total(values) for part in self.parts])
        taken = values if self.take is None else values[self.take]
        return _add_up(taken, self.order, self.starts, self.identity)


def _joined(parts: Sequence[_Domains]) -> _Domains:
    """The domains of several levels as one set, so that each measure's columns are computed
    once for all levels: a table's time after a new response was mostly the fixed cost of
    each of these array computations, repeated per level."""
    if len(parts) == 1:
        return parts[0]

    def join(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    nothing = np.array([], dtype=np.int64)
    return _Domains(
        order=nothing,
        starts=nothing,
        identity=False,
        n=join("n"),
        n_excluded=join("n_excluded"),
        weighted=join("weighted"),
        m=join("m"),
        group_weight=join("group_weight"),
        df=join("df"),
        lonely=join("lonely"),
        average=join("average"),
        represented=join("represented"),
        calibrated_rows=parts[0].calibrated_rows,
        take=None,
        parts=tuple(parts),
    )


def _add_up(
    values: np.ndarray, order: np.ndarray, starts: np.ndarray, identity: bool
) -> np.ndarray:
    """Sums of the rows of ``values`` per domain (``order`` sorts the blocks by domain, each
    domain starting at ``starts``), avoiding a sorted copy of large arrays: the blocks of
    cell-level statistics come sorted by unit, and few domains (areas, the province) are a
    product with their indicator matrix."""
    if identity:
        return values
    if (order[1:] > order[:-1]).all():
        return np.add.reduceat(values, starts, axis=0)
    blocks, domains = len(order), len(starts)
    if domains * blocks <= 20_000_000:
        domain = np.empty(blocks, dtype=np.int64)
        domain[order] = np.repeat(np.arange(domains), np.diff(np.r_[starts, blocks]))
        indicator = np.zeros((domains, blocks))
        indicator[domain, np.arange(blocks)] = 1.0
        flat = values.reshape(blocks, -1)
        return (indicator @ flat).reshape(domains, *values.shape[1:])
    return np.add.reduceat(values[order], starts, axis=0)


def _block_cells(stats: CellStats, cells: _Cells) -> np.ndarray:
    keys = zip(stats.unit.tolist(), stats.area.tolist(), strict=True)
    return np.array([cells.index[key] for key in keys], dtype=np.int64)


def _domain_setup(
    stats: CellStats,
    cells: _Cells,
    domain: np.ndarray,
    comp: _Composites,
    options: _Options,
    take: np.ndarray | None = None,
) -> _Domains:
    """``domain``: the domain of each block, or, with ``take``, of each block ``take`` lists
    (a block may then belong to several domains: the unit trees of nested units)."""
    order = np.argsort(domain, kind="stable")
    ordered = domain[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    identity = len(starts) == len(domain) and bool((order == np.arange(len(order))).all())

    def total(values: np.ndarray) -> np.ndarray:
        return _add_up(values if take is None else values[take], order, starts, identity)

    k_items = len(stats.items)
    block_cell = _block_cells(stats, cells)
    incl = cells.included[block_cell]
    w = cells.weight[block_cell]
    single = cells.lonely[block_cell]
    psus = stats.psus * incl
    answering_psus = stats.answering_psus * incl[:, None]
    answering_any = stats.answering_any * incl[:, None]
    answering_rows = total(stats.sums[:, 2 * k_items :] * incl[:, None])
    is_item = comp.item >= 0
    items = np.where(is_item, comp.item, 0)
    groups = np.where(is_item, 0, comp.group)
    # R's degf: PSUs minus strata among the domain's responses (that answered, for a criterion).
    item_present = answering_psus > 0
    item_df = total(answering_psus) - total(item_present)
    all_present = psus > 0
    all_df = total(psus) - total(all_present)

    def per_index(per_item: np.ndarray, per_domain: np.ndarray) -> np.ndarray:
        return np.where(is_item, per_item[:, items], per_domain[:, None])

    lonely = per_index(total(item_present & single[:, None]) > 0, total(all_present & single) > 0)
    average = np.ones(lonely.shape)
    if options.lonely_psu == LonelyPSU.AVERAGE:
        strata = per_index(total(item_present), total(all_present))
        steady = per_index(total(item_present & ~single[:, None]), total(all_present & ~single))
        # R scales by strata / strata with two or more PSUs; with none there is nothing to
        # average over (analysis.design raises), so the SE is left undefined.
        average = np.where(lonely, strata / np.where(steady > 0, steady, np.nan), 1.0)
    if options.lonely_psu == LonelyPSU.FAIL:
        lonely = np.zeros(lonely.shape, dtype=bool)
    return _Domains(
        order=order,
        starts=starts,
        identity=identity,
        n=total(stats.rows * incl),
        n_excluded=total(stats.rows * ~incl),
        weighted=total(stats.sums * w[:, None]),
        m=np.where(is_item, answering_rows[:, items], total(answering_any)[:, groups]),
        group_weight=total(answering_any * w[:, None]),
        df=per_index(item_df, all_df).astype(float),
        lonely=lonely,
        average=average,
        represented=total(cells.population[block_cell]),
        calibrated_rows=cells.calibrated_rows,
        take=take,
    )


def _measure_block(matrix: np.ndarray, k: int, measure: IndexDefinition) -> np.ndarray:
    """The (v, r) rows and columns of (B, 3K, 3K) matrices, v = s or y: (B, 2K, 2K)."""
    v = slice(0, k) if measure == IndexDefinition.TOP2BOX else slice(k, 2 * k)
    r = slice(2 * k, 3 * k)
    out = np.empty((matrix.shape[0], 2 * k, 2 * k))
    out[:, :k, :k] = matrix[:, v, v]
    out[:, :k, k:] = matrix[:, v, r]
    out[:, k:, :k] = matrix[:, r, v]
    out[:, k:, k:] = matrix[:, r, r]
    return out


@dataclass(frozen=True)
class _Blocks:
    """Per-block matrices of one measure: q = c_b (T_b - k_b S_b S_b'), h = w_b R_b."""

    q: np.ndarray
    h: np.ndarray


def _measure_blocks(stats: CellStats, cells: _Cells, measure: IndexDefinition) -> _Blocks:
    k = len(stats.items)
    block_cell = _block_cells(stats, cells)
    v = slice(0, k) if measure == IndexDefinition.TOP2BOX else slice(k, 2 * k)
    sums = np.concatenate([stats.sums[:, v], stats.sums[:, 2 * k :]], axis=1)
    q = _measure_block(stats.cross, k, measure)
    h = q.copy() if stats.cross_rows is None else _measure_block(stats.cross_rows, k, measure)
    h *= cells.weight[block_cell][:, None, None]
    q -= cells.k[block_cell][:, None, None] * sums[:, :, None] * sums[:, None, :]
    q *= cells.c[block_cell][:, None, None]
    return _Blocks(q, h)


def _quadratic(
    matrix: np.ndarray, top: np.ndarray, bottom: np.ndarray, comp: _Composites
) -> np.ndarray:
    """beta' M beta for every domain and index, beta = (top, bottom) on the (v, r) columns:
    three diagonals for single-item indices, small matrix products for the others."""
    d, k, c = top.shape
    out = np.empty((d, c))
    is_item = comp.item >= 0
    cols = np.flatnonzero(is_item)
    if len(cols):
        j = comp.item[cols]
        vv = np.diagonal(matrix[:, :k, :k], axis1=1, axis2=2)[:, j]
        vr = np.diagonal(matrix[:, :k, k:], axis1=1, axis2=2)[:, j]
        rr = np.diagonal(matrix[:, k:, k:], axis1=1, axis2=2)[:, j]
        t, b = top[:, j, cols], bottom[:, j, cols]
        out[:, cols] = t * t * vv + 2 * t * b * vr + b * b * rr
    cols = np.flatnonzero(~is_item)
    if len(cols):
        beta = np.concatenate([top[:, :, cols], bottom[:, :, cols]], axis=1)
        out[:, cols] = np.einsum("dic,dic->dc", beta, matrix @ beta)
    return out


def _measure_columns(
    dom: _Domains,
    blocks: _Blocks,
    comp: _Composites,
    options: _Options,
    measure: IndexDefinition,
) -> dict[str, np.ndarray]:
    """Estimates, SEs, intervals, n_eff, deff and flags of one measure: (D, C) arrays."""
    k = len(comp.minimum)
    v = slice(0, k) if measure == IndexDefinition.TOP2BOX else slice(k, 2 * k)
    num, weight_total = dom.weighted[:, v], dom.weighted[:, 2 * k :]
    available = weight_total > 0
    safe_w = np.where(available, weight_total, 1.0)
    p = np.where(available, num / safe_w, 0.0)
    coef = _coefficients(comp, available)
    if measure == IndexDefinition.MEAN_PCT:
        coef *= (1 / comp.maximum)[None, :, None]
    estimate = np.einsum("dk,dkc->dc", p, coef)
    is_item = comp.item >= 0
    items = np.where(is_item, comp.item, 0)
    groups = np.where(is_item, 0, comp.group)
    ok = ((available.astype(float) @ comp.support) > 0) & np.where(
        is_item, available[:, items], True
    )
    missing = ((~available).astype(float) @ comp.support > 0) & ok & ~is_item
    # Linearisation coefficients of the (v, r) columns: a / W and -a p / W.
    top = coef / safe_w[:, :, None]
    bottom = -top * p[:, :, None]
    variance = _quadratic(dom.total(blocks.q), top, bottom, comp) * dom.average
    quad = _quadratic(dom.total(blocks.h), top, bottom, comp)
    m = dom.m.astype(float)
    big_n = np.where(is_item, weight_total[:, items], dom.group_weight[:, groups])
    with np.errstate(divide="ignore", invalid="ignore"):
        # Simple random sampling of the m answering responses from N^ = their weights
        # (analysis.estimators' V_srs; undefined when N^ < m).
        srs = np.where(big_n >= m, (1 - m / big_n) * big_n / (m - 1) * quad, np.nan)
        deff = np.where((m > 1) & (srs > 0) & np.isfinite(srs), variance / srs, np.nan)
        n_eff = np.where(np.isfinite(deff) & (deff > 0), m / deff, m)
    se = np.sqrt(np.clip(variance, 0.0, None))  # NaN stays NaN (nothing to average over)
    proportion = measure == IndexDefinition.TOP2BOX
    t = _t_quantile(1 - (1 - options.confidence) / 2, dom.df)
    # t intervals, intersected with the range the index can take.
    floor = np.einsum("dkc,k->dc", coef, np.zeros(k) if proportion else comp.minimum)
    ceiling = np.einsum("dkc,k->dc", coef, np.ones(k) if proportion else comp.maximum)
    raw_low, raw_high = estimate - t * se, estimate + t * se
    low, high = np.maximum(raw_low, floor), np.minimum(raw_high, ceiling)
    clipped = (raw_low < floor) | (raw_high > ceiling)
    method = np.full(estimate.shape, "t", dtype="<U10")
    if proportion:
        cols = np.flatnonzero(is_item)
        clipped[:, cols] = False
        lo, hi = _proportion_intervals(
            estimate[:, cols].ravel(),
            se[:, cols].ravel(),
            dom.df[:, cols].ravel(),
            dom.m[:, cols].ravel(),
            options.method,
            options.confidence,
            kg_rows=dom.calibrated_rows,
        )
        low[:, cols], high[:, cols] = lo.reshape(len(p), -1), hi.reshape(len(p), -1)
        method[:, cols] = options.method.value
        # A composite at 0% or 100% (every answer to every criterion satisfied, or none) has
        # no sampling variance to build a t interval on: it gets the one-sided Korn-Graubard
        # bound of a proportion on its m answering responses, as a criterion would, rather
        # than the point [100, 100] that would call three satisfied citizens "above target".
        edge = ok & ~is_item[None, :] & ((estimate <= 0) | (estimate >= 1))
        if edge.any():
            lo, hi = _proportion_intervals(
                estimate[edge],
                se[edge],
                dom.df[edge],
                dom.m[edge],
                CIMethod.BETA,
                options.confidence,
            )
            low[edge], high[edge] = lo, hi
            method[edge] = CIMethod.BETA.value
            clipped[edge] = False
    # No zero-width interval (shared/domain.md, "Publishing"): where the SE is zero (a census
    # cell, identical answers, a lonely-PSU option) a percentage gets the Korn-Graubard
    # interval on its m answering responses, Clopper-Pearson on n* = m (t_{m-1} / t_df)^2 as
    # at 0% and 100%; a mean score gets none. Either way the row is flagged cannot_tell.
    zero = ok & np.isfinite(low) & np.isfinite(high) & (high - low <= 0)
    if zero.any():
        if proportion:
            m_zero = np.maximum(dom.m[zero], 1).astype(float)
            p_zero = estimate[zero]
            lo, hi = _proportion_intervals(
                p_zero,
                np.sqrt(p_zero * (1 - p_zero) / m_zero),
                dom.df[zero],
                m_zero,
                CIMethod.BETA,
                options.confidence,
            )
            low[zero], high[zero] = lo, hi
            method[zero] = CIMethod.BETA.value
        else:
            low[zero], high[zero] = np.nan, np.nan
            method[zero] = "none"
        clipped[zero] = False
    # One response, no degrees of freedom (one PSU, one desk, in each cell) or no variance:
    # nothing says how far the estimate may be from the truth, so no verdict either way.
    cannot_tell = (dom.m <= 1) | (dom.df <= 0) | ~(se > 0)
    bits = _reliability_bits(
        n=dom.m,
        n_eff=n_eff,
        df=dom.df,
        value=estimate,
        low=low,
        high=high,
        is_proportion=proportion,
        lonely=dom.lonely,
    )
    bits |= np.where(missing, _BIT["criteria_missing"], 0)
    bits |= np.where(cannot_tell, _BIT["cannot_tell"], 0)
    bits |= np.where(clipped, _BIT["clipped"], 0)
    factor = 100.0 if measure in (IndexDefinition.TOP2BOX, IndexDefinition.MEAN_PCT) else 1.0

    def shown(values: np.ndarray) -> np.ndarray:
        return np.where(ok, values * factor, np.nan)

    return {
        "estimate": shown(estimate),
        "se": shown(se),
        "df": dom.df,
        "ci_low": shown(low),
        "ci_high": shown(high),
        "ci_method": method,
        "n_answering": dom.m,
        "n_eff": np.where(ok, n_eff, 0.0),
        "deff": np.where(ok, deff, np.nan),
        "flag_bits": np.where(ok, bits, _BIT["no_answers"]),
    }


def _level_columns(
    dom: _Domains, per_measure: list[dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """(D, M, C) columns of one level from its measures' (D, C) columns."""
    stacked = {name: np.stack([c[name] for c in per_measure], axis=1) for name in per_measure[0]}
    shape = stacked["estimate"].shape
    stacked["n"] = np.broadcast_to(dom.n[:, None, None], shape)
    stacked["n_excluded"] = np.broadcast_to(dom.n_excluded[:, None, None], shape)
    excluded = np.where(dom.n_excluded > 0, _BIT["excluded_responses"], 0)
    stacked["flag_bits"] = stacked["flag_bits"] | excluded[:, None, None]
    stacked["represented"] = dom.represented
    return stacked


def _levels_of(
    stats: CellStats,
    cells: _Cells,
    levels: Sequence[Level],
    comp: _Composites,
    options: _Options,
    subtrees: Mapping[str, tuple[str, ...]] | None = None,
) -> list[tuple[Level, tuple[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]]:
    """The (D, M, C) columns and domain labels of each level, from one set of statistics. The
    per-block matrices of each measure are built once and shared by the levels. ``subtrees``:
    the units of each unit's tree, for ``Level.UNIT_TREE``."""
    setups = []
    for level in levels:
        take = None
        if level == Level.UNIT_TREE:
            take, domain, unit, area, desk = _tree_domains(stats, subtrees or {})
            if not len(take):
                continue  # no tree has responses
        else:
            domain, unit, area, desk = _domains(level, stats)
        setups.append(
            (level, (unit, area, desk), _domain_setup(stats, cells, domain, comp, options, take))
        )
    columns: list[list[dict[str, np.ndarray]]] = [[] for _ in setups]
    if not setups:
        return []
    joined = _joined([dom for _level, _labels, dom in setups])
    edges = np.cumsum([0, *(len(dom.n) for _level, _labels, dom in setups)])
    for measure in options.measures:
        blocks = _measure_blocks(stats, cells, measure)
        found = _measure_columns(joined, blocks, comp, options, measure)
        for i in range(len(setups)):
            columns[i].append({name: v[edges[i] : edges[i + 1]] for name, v in found.items()})
        del blocks
    return [
        (level, labels, _level_columns(dom, columns[i]))
        for i, (level, labels, dom) in enumerate(setups)
    ]


def _tree_domains(
    stats: CellStats, subtrees: Mapping[str, tuple[str, ...]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The blocks of every unit tree with responses (``take``), the tree of each of them
    (sorted), and per tree its parent unit and blank area and desk labels: the union of the
    cells of the tree's units is one domain, so its index is estimated on the design like any
    other domain, never averaged from the sub-units' indices."""
    blocks: dict[str, list[int]] = {}
    for b, unit in enumerate(stats.unit.tolist()):
        blocks.setdefault(unit, []).append(b)
    take: list[int] = []
    domain: list[int] = []
    parents: list[str] = []
    for parent in sorted(subtrees):
        members = sorted(b for unit in subtrees[parent] for b in blocks.get(unit, ()))
        if members:
            take.extend(members)
            domain.extend([len(parents)] * len(members))
            parents.append(parent)
    blank = np.full(len(parents), "")
    return (
        np.array(take, dtype=np.int64),
        np.array(domain, dtype=np.int64),
        np.array(parents, dtype=str),
        blank,
        blank.copy(),
    )


def _domains(
    level: Level, stats: CellStats
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per block its domain code, and per domain its unit, area and desk labels ("" if none)."""
    blank = np.full(stats.blocks, "", dtype=object).astype(str)
    if level == Level.PROVINCE:
        one = np.array([""])
        return np.zeros(stats.blocks, dtype=np.int64), one, one, one
    keys = {
        Level.UNIT: (stats.unit, blank, blank),
        Level.AREA: (blank, stats.area, blank),
        Level.CELL: (stats.unit, stats.area, blank),
    }
    if level == Level.DESK:
        if stats.desk is None:
            raise ValueError("desk-level indices need statistics per desk")
        desk_codes, domain = np.unique(stats.desk, return_inverse=True)
        # A desk belongs to one unit in practice; show it when the responses agree.
        units = np.full(len(desk_codes), "", dtype=object)
        for d, unit in zip(domain.tolist(), stats.unit.tolist(), strict=True):
            units[d] = unit if units[d] in ("", unit) else "\x00"
        units = np.where(units == "\x00", "", units).astype(str)
        return domain, units, np.full(len(desk_codes), ""), desk_codes.astype(str)
    unit, area, desk = keys[level]
    joined = np.char.add(np.char.add(unit, "\x1f"), area)
    _labels, first, domain = np.unique(joined, return_index=True, return_inverse=True)
    return domain.astype(np.int64), unit[first], area[first], desk[first]
