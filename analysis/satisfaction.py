"""Satisfaction indices of a survey round, with their uncertainty (shared/domain.md).

Estimators. For item j and domain d (the province, a unit, a service area, a unit x area cell,
or a desk), with w_i the weight of response i (``analysis.weighting``),

    p_dj = sum_{i in d} w_i v_ij / sum_{i in d} w_i r_ij

where r_ij = 1 if response i answered item j (blank and not applicable are not answers) and
v_ij = r_ij x 1[answer in the item's satisfied values] for the top-2-box index (``TOP2BOX``, in
percent) or r_ij x answer for the mean score (``MEAN``; ``MEAN_PCT`` divides by the scale
maximum and multiplies by 100). Criterion index: p_dj. Element index: the mean of its criterion
indices; aspect: the mean of its elements; overall: the mean of the aspects (of the elements
when there is one aspect). Each is C_d = sum_j a_j p_dj for coefficients a_j. When a criterion
has no answer in a domain, the means run over the criteria (elements, aspects) that have
answers, and the row is flagged ``criteria_missing``. The overall question is reported beside
the overall index (kind ``overall_question``) and is never part of it.

Design. Stratified by unit x area cell h; PSUs are the responses (default) or the desks within
the cell; finite-population correction f_h = n_h / N_h from the dossier count when PSUs are
responses and N_h is known, none otherwise (desk clusters: the ultimate-cluster, with-replacement
approximation, since N_h counts dossiers and not desks). Domains are estimated on the full
design, never by dropping rows.

Variance (Taylor linearisation: Woodruff 1971, Binder 1983; as R's survey, Lumley 2004). The
linearised value of response i is w_h sum_j a_j r_ij (v_ij - p_dj) / W_dj (W_dj = sum w r over
d; zero outside d), its PSU totals are w_h Z_p, and

    V(C_d) = sum_h c_h [ sum_{p in h} Z_p^2 - (sum_{p in h} Z_p)^2 / n_h ],
    c_h = (1 - f_h) n_h / (n_h - 1) w_h^2

(n_h PSUs in cell h), which keeps every covariance between the criteria of a composite. Since
Z_p = beta' t_p with beta = (a / W_d, -a p_d / W_d) on the (v, r) columns of the per-PSU sums
t_p, V = beta' G_d beta with G_d = sum_{h in d} c_h (T_h - S_h S_h' / n_h), built from the
per-cell sufficient statistics of ``analysis.satisfaction_stats``: the responses are read once,
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
the raked weights as fixed (the variance conditional on the achieved cell sample sizes).

Intervals. Criterion top-2-box proportions (and the overall question): Korn and Graubard's
(1998) beta interval by default, or any method of ``analysis.intervals.CIMethod`` (logit as the
alternative), exactly as ``analysis.intervals.proportion_interval`` / R's ``svyciprop``.
Composite indices and mean scores: estimate +- t(df) se with the design degrees of freedom
(PSUs minus strata among the domain's responses, as R's ``degf``; the normal quantile when df is
0), then intersected with the range the index can take (0-100 percent, the scale's range), which
keeps the coverage. The df of a criterion counts only the responses that answered it. A
top-2-box composite at exactly 0% or 100% has no variance to build that interval on; it gets the
one-sided Korn-Graubard bound of a proportion on its answering responses (``ci_method`` beta).

Design effect (Kish 1965): the variance over that of simple random sampling without replacement
of the m answering responses from N^ = sum of their weights, V_srs = (1 - m / N^) N^ /
(m - 1) beta' H_d beta with H_d = sum_{h in d} w_h R_h (for one criterion this is exactly R's
``deff=TRUE``); n_eff = m / deff. Reliability flags follow ``analysis.flags`` (NCHS standards for
proportions, applied to the top-2-box indices), plus ``criteria_missing``,
``excluded_responses`` (the domain has responses excluded for lack of a dossier count),
``cells_without_responses`` (part of the domain's dossiers lie in cells nobody answered in) and
``no_answers``. A flag never hides the number.

Use::

    template = TemplateSpec(items, elements, aspects, index_definition="top2box")
    responses = Responses.build(template, response_id=..., unit=..., area=..., desk=...,
                                answers=...)        # or Responses.from_frame / from_long
    weighting = weights_from_dossiers(responses, dossier_counts)   # or rake_to_margins(...)
    table = index_table(responses, template, weighting)
    table.find(Level.UNIT, unit="U01")              # the unit's overall index, an IndexRow
    weighting.diagnostics.issues                    # cells excluded or not represented

``analysis.satisfaction_compare`` reads a table against targets, other units and earlier
rounds; ``analysis.reliability_scale`` gives Cronbach's alpha per element. When the responses
are too many to hold at once, compute ``cell_stats`` chunk by chunk (or in the database),
``merge_stats`` them and call ``index_table_from_stats``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from analysis.design import LonelyPSU, LonelyPSUError
from analysis.flags import (
    MAX_ABSOLUTE_WIDTH,
    MAX_RELATIVE_WIDTH,
    MIN_DF,
    MIN_N_EFF,
    MIN_RESPONSES,
    RELATIVE_FLOOR,
)
from analysis.intervals import CIMethod, proportion_interval
from analysis.results import Estimate
from analysis.satisfaction_inputs import (
    AspectSpec,
    CellCount,
    ElementSpec,
    IndexDefinition,
    ItemRole,
    ItemSpec,
    Responses,
    TemplateSpec,
    choose,
)
from analysis.satisfaction_stats import PSU, CellStats, cell_stats, groups_of, merge_stats
from analysis.weighting import (
    CellIssue,
    CellProblem,
    Weighting,
    WeightingDiagnostics,
    WeightingMethod,
    rake_to_margins,
    weights_from_dossiers,
)

__all__ = [
    "PSU",
    "AspectSpec",
    "CellCount",
    "CellIssue",
    "CellProblem",
    "CellStats",
    "ElementSpec",
    "IndexDefinition",
    "IndexKind",
    "IndexRow",
    "IndexTable",
    "ItemRole",
    "ItemSpec",
    "Level",
    "Responses",
    "TemplateSpec",
    "Weighting",
    "WeightingDiagnostics",
    "WeightingMethod",
    "cell_stats",
    "index_table",
    "index_table_from_stats",
    "merge_stats",
    "rake_to_margins",
    "weights_from_dossiers",
]


class Level(enum.StrEnum):
    PROVINCE = "province"
    UNIT = "unit"
    AREA = "area"
    CELL = "cell"
    DESK = "desk"


class IndexKind(enum.StrEnum):
    CRITERION = "criterion"
    ELEMENT = "element"
    ASPECT = "aspect"  # reported when the template has more than one aspect
    OVERALL = "overall"
    OVERALL_QUESTION = "overall_question"


DEFAULT_LEVELS = (Level.PROVINCE, Level.UNIT, Level.AREA, Level.CELL)
OVERALL = "overall"

# Flags in the order analysis.flags emits them, then this layer's own.
FLAGS = (
    "n<30",
    "df<8",
    "lonely_psu_adjusted",
    "n_eff<30",
    "p_is_0_or_1",
    "wide_ci",
    "wide_relative_ci",
    "wide_relative_ci_complement",
    "criteria_missing",
    "excluded_responses",
    "cells_without_responses",
    "no_answers",
)
_BIT = {name: 1 << i for i, name in enumerate(FLAGS)}


def _flag_names(bits: int) -> tuple[str, ...]:
    return tuple(name for name in FLAGS if bits & _BIT[name])


@dataclass(frozen=True)
class IndexRow:
    """One index for one domain. Percent for ``TOP2BOX`` and ``MEAN_PCT`` (present with two
    decimals; the value itself is not rounded), scale points for ``MEAN``. ``unit``/``area``/
    ``desk`` are the domain's keys (None when not part of it); ``n`` counts the domain's
    weighted responses, ``n_answering`` those that answered the criterion (at least one of the
    composite's criteria); ``n_excluded`` the domain's responses left out for lack of a dossier
    count; ``coverage`` the share of the domain's dossiers in cells with responses."""

    level: Level
    unit: str | None
    area: str | None
    desk: str | None
    kind: IndexKind
    index: str
    measure: IndexDefinition
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    confidence: float
    ci_method: str
    n: int
    n_answering: int
    n_excluded: int
    n_eff: float
    deff: float | None
    coverage: float | None
    flags: tuple[str, ...] = field(default=())

    @property
    def domain(self) -> str:
        """A readable label: "" for the province, the unit, area or desk code, "unit / area"."""
        parts = [p for p in (self.unit, self.area, self.desk) if p is not None]
        return " / ".join(parts)

    def as_estimate(self) -> Estimate:
        """The same numbers as the general estimators' result type."""
        return Estimate(
            value=self.estimate,
            se=self.se,
            df=self.df,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            level=self.confidence,
            ci_method=self.ci_method,
            n=self.n_answering,
            n_eff=self.n_eff,
            deff=self.deff,
            flags=self.flags,
        )


@dataclass(frozen=True, eq=False)
class IndexTable:
    """Every index for every domain, as columns (one entry per row). ``rows()``/``find()``
    give ``IndexRow`` objects; ``to_records()`` plain dicts for JSON or a DataFrame."""

    level: np.ndarray
    unit: np.ndarray  # "" where not part of the domain
    area: np.ndarray
    desk: np.ndarray
    kind: np.ndarray
    index: np.ndarray
    measure: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ci_method: np.ndarray
    n: np.ndarray
    n_answering: np.ndarray
    n_excluded: np.ndarray
    n_eff: np.ndarray
    deff: np.ndarray  # NaN where undefined
    coverage: np.ndarray  # NaN where unknown
    flag_bits: np.ndarray
    confidence: float
    headline: IndexDefinition
    weighting: Weighting
    psu: PSU
    lonely_psu: LonelyPSU

    def __len__(self) -> int:
        return len(self.estimate)

    @property
    def caveat_vi(self) -> str:
        return self.weighting.caveat_vi

    @property
    def caveat_en(self) -> str:
        return self.weighting.caveat_en

    def select(
        self,
        *,
        level: Level | str | None = None,
        kind: IndexKind | str | None = None,
        index: str | None = None,
        measure: IndexDefinition | str | None = None,
        unit: str | None = None,
        area: str | None = None,
        desk: str | None = None,
    ) -> np.ndarray:
        """Row numbers matching every criterion given."""
        mask = np.ones(len(self), dtype=bool)
        wanted = {
            "level": None if level is None else choose(Level, level, "level").value,
            "kind": None if kind is None else choose(IndexKind, kind, "kind").value,
            "index": index,
            "measure": (
                None if measure is None else choose(IndexDefinition, measure, "measure").value
            ),
            "unit": unit,
            "area": area,
            "desk": desk,
        }
        for name, value in wanted.items():
            if value is not None:
                mask &= getattr(self, name) == value
        return np.flatnonzero(mask)

    def row(self, i: int) -> IndexRow:
        def key(column: np.ndarray) -> str | None:
            value = str(column[i])
            return value or None

        deff = float(self.deff[i])
        coverage = float(self.coverage[i])
        return IndexRow(
            level=Level(str(self.level[i])),
            unit=key(self.unit),
            area=key(self.area),
            desk=key(self.desk),
            kind=IndexKind(str(self.kind[i])),
            index=str(self.index[i]),
            measure=IndexDefinition(str(self.measure[i])),
            estimate=float(self.estimate[i]),
            se=float(self.se[i]),
            df=float(self.df[i]),
            ci_low=float(self.ci_low[i]),
            ci_high=float(self.ci_high[i]),
            confidence=self.confidence,
            ci_method=str(self.ci_method[i]),
            n=int(self.n[i]),
            n_answering=int(self.n_answering[i]),
            n_excluded=int(self.n_excluded[i]),
            n_eff=float(self.n_eff[i]),
            deff=None if math.isnan(deff) else deff,
            coverage=None if math.isnan(coverage) else coverage,
            flags=_flag_names(int(self.flag_bits[i])),
        )

    def rows(
        self,
        *,
        level: Level | str | None = None,
        kind: IndexKind | str | None = None,
        index: str | None = None,
        measure: IndexDefinition | str | None = None,
        unit: str | None = None,
        area: str | None = None,
        desk: str | None = None,
    ) -> list[IndexRow]:
        """``IndexRow`` objects for the rows matching every criterion given (see ``select``)."""
        found = self.select(
            level=level, kind=kind, index=index, measure=measure, unit=unit, area=area, desk=desk
        )
        return [self.row(int(i)) for i in found]

    def find(
        self,
        level: Level | str,
        *,
        index: str = OVERALL,
        kind: IndexKind | str | None = None,
        measure: IndexDefinition | str | None = None,
        unit: str | None = None,
        area: str | None = None,
        desk: str | None = None,
    ) -> IndexRow:
        """The one row of an index for a domain (``measure`` defaults to the headline)."""
        found = self.select(
            level=level,
            kind=kind,
            index=index,
            measure=self.headline if measure is None else measure,
            unit=unit,
            area=area,
            desk=desk,
        )
        if len(found) != 1:
            raise ValueError(
                f"{len(found)} rows match level={level}, index={index}, kind={kind}, "
                f"unit={unit}, area={area}, desk={desk}; name the domain and index fully"
            )
        return self.row(int(found[0]))

    def to_records(
        self, rows: np.ndarray | None = None, *, decimals: int | None = 2
    ) -> list[dict[str, object]]:
        """One plain dict per row (all rows, or the row numbers ``rows`` from ``select``), for
        JSON or a DataFrame: estimates, SEs and bounds rounded to ``decimals`` for publication
        (None keeps every digit), NaN as None, empty keys as None."""
        chosen = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)

        def numbers(column: np.ndarray, places: int | None) -> list[float | None]:
            values = column[chosen]
            if places is not None:
                values = np.round(values, places)
            return [None if math.isnan(v) else v for v in values.tolist()]

        def keys(column: np.ndarray) -> list[str | None]:
            return [v or None for v in column[chosen].tolist()]

        columns: dict[str, Sequence[object]] = {
            "level": self.level[chosen].tolist(),
            "unit": keys(self.unit),
            "area": keys(self.area),
            "desk": keys(self.desk),
            "kind": self.kind[chosen].tolist(),
            "index": self.index[chosen].tolist(),
            "measure": self.measure[chosen].tolist(),
            "estimate": numbers(self.estimate, decimals),
            "se": numbers(self.se, decimals),
            "df": self.df[chosen].tolist(),
            "ci_low": numbers(self.ci_low, decimals),
            "ci_high": numbers(self.ci_high, decimals),
            "confidence": [self.confidence] * len(chosen),
            "ci_method": self.ci_method[chosen].tolist(),
            "n": self.n[chosen].tolist(),
            "n_answering": self.n_answering[chosen].tolist(),
            "n_excluded": self.n_excluded[chosen].tolist(),
            "n_eff": numbers(self.n_eff, decimals),
            "deff": numbers(self.deff, 4),
            "coverage": numbers(self.coverage, None),
        }
        names: dict[int, list[str]] = {}
        flags = [
            list(names.setdefault(b, list(_flag_names(b)))) for b in self.flag_bits[chosen].tolist()
        ]
        return [
            {**{name: values[i] for name, values in columns.items()}, "flags": flags[i]}
            for i in range(len(chosen))
        ]


# ---------------------------------------------------------------------------------------------
# The composites of a template


@dataclass(frozen=True)
class _Composites:
    kinds: tuple[IndexKind, ...]
    codes: tuple[str, ...]
    item: np.ndarray  # (C,) the item of a single-item index, -1 otherwise
    group: np.ndarray  # (C,) column of CellStats.answering_any, -1 for single items
    support: np.ndarray  # (K, C) items an index can draw on
    elements: np.ndarray  # (K, E) criterion membership
    aspects: np.ndarray  # (E, A) element membership
    minimum: np.ndarray  # (K,) scale minimum
    maximum: np.ndarray  # (K,) scale maximum


def _composites(template: TemplateSpec) -> _Composites:
    codes = template.codes
    group_names, supports = groups_of(template)
    kinds: list[IndexKind] = []
    names: list[str] = []
    item: list[int] = []
    group: list[int] = []
    support: list[np.ndarray] = []

    def add(kind: IndexKind, name: str, j: int, g: int, s: np.ndarray) -> None:
        kinds.append(kind)
        names.append(name)
        item.append(j)
        group.append(g)
        support.append(s)

    for j, spec in enumerate(template.items):
        if spec.role == ItemRole.CRITERION:
            add(IndexKind.CRITERION, spec.code, j, -1, np.arange(len(codes)) == j)
    for element in template.elements:
        g = group_names.index(f"element:{element.code}")
        add(IndexKind.ELEMENT, element.code, -1, g, supports[:, g])
    if len(template.aspects) > 1:
        for aspect in template.aspects:
            g = group_names.index(f"aspect:{aspect.code}")
            add(IndexKind.ASPECT, aspect.code, -1, g, supports[:, g])
    g = group_names.index("overall")
    add(IndexKind.OVERALL, OVERALL, -1, g, supports[:, g])
    question = template.overall_item
    if question is not None:
        j = template.column(question.code)
        add(IndexKind.OVERALL_QUESTION, question.code, j, -1, np.arange(len(codes)) == j)
    element_codes = [e.code for e in template.elements]
    elements = np.column_stack([np.isin(codes, e.items) for e in template.elements])
    aspects = np.column_stack([np.isin(element_codes, a.elements) for a in template.aspects])
    return _Composites(
        kinds=tuple(kinds),
        codes=tuple(names),
        item=np.array(item),
        group=np.array(group),
        support=np.column_stack(support),
        elements=elements.astype(float),
        aspects=aspects.astype(float),
        minimum=np.array([i.minimum for i in template.items]),
        maximum=np.array([i.maximum for i in template.items]),
    )


def _coefficients(comp: _Composites, available: np.ndarray) -> np.ndarray:
    """(D, K, C) coefficients a of every index in every domain: criteria pick their item;
    elements average their available criteria, aspects their available elements, the overall
    index the available aspects."""
    d, k = available.shape
    out = np.zeros((d, k, len(comp.kinds)))
    single = np.flatnonzero(comp.item >= 0)
    out[:, comp.item[single], single] = 1.0
    avail = available.astype(float)
    per_element = avail @ comp.elements  # available criteria per element
    element_coef = (avail[:, :, None] * comp.elements[None]) / np.where(
        per_element > 0, per_element, 1.0
    )[:, None, :]
    element_ok = (per_element > 0).astype(float)
    per_aspect = element_ok @ comp.aspects
    aspect_coef = np.einsum("dke,ea->dka", element_coef * element_ok[:, None, :], comp.aspects)
    aspect_coef /= np.where(per_aspect > 0, per_aspect, 1.0)[:, None, :]
    aspect_ok = (per_aspect > 0).astype(float)
    overall_coef = (aspect_coef * aspect_ok[:, None, :]).sum(axis=2) / np.maximum(
        aspect_ok.sum(axis=1), 1.0
    )[:, None]
    e = a = 0
    for c, kind in enumerate(comp.kinds):
        if kind == IndexKind.ELEMENT:
            out[:, :, c] = element_coef[:, :, e]
            e += 1
        elif kind == IndexKind.ASPECT:
            out[:, :, c] = aspect_coef[:, :, a]
            a += 1
        elif kind == IndexKind.OVERALL:
            out[:, :, c] = overall_coef
    return out


# ---------------------------------------------------------------------------------------------
# Cells: weights, variance coefficients, lonely PSUs


@dataclass(frozen=True)
class _Cells:
    index: dict[tuple[str, str], int]
    weight: np.ndarray  # w_h, 0 where excluded
    c: np.ndarray  # variance coefficient c_h (includes w_h^2)
    k: np.ndarray  # centring coefficient: 1 / n_h, or 0 for a lonely PSU under adjust
    lonely: np.ndarray  # one PSU, and not every dossier answered: a lonely PSU
    included: np.ndarray
    population: np.ndarray  # N_h (or the raked estimate), 0 where excluded


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
    )


# ---------------------------------------------------------------------------------------------
# Intervals and flags on arrays


def _t_quantile(q: float, df: np.ndarray) -> np.ndarray:
    """t_{df} quantile, the normal one where df is not positive and finite
    (``analysis.intervals.t_quantile``)."""
    ok = (df > 0) & np.isfinite(df)
    return np.where(ok, special.stdtrit(np.where(ok, df, 1.0), q), special.ndtri(q))


def _kg_ratio(rows: np.ndarray, df: np.ndarray, alpha: float) -> np.ndarray:
    """Korn and Graubard's (t_{n-1, alpha/2} / t_{df, alpha/2})^2, 1 where undefined (as
    ``analysis.intervals``)."""
    ok = (rows >= 2) & (df > 0)
    lower = _t_quantile(alpha / 2, np.where(ok, df, np.inf))
    upper = special.stdtrit(np.where(ok, rows - 1, 1.0), alpha / 2)
    return np.where(ok, (upper / lower) ** 2, 1.0)


def _proportion_intervals(
    p: np.ndarray,
    se: np.ndarray,
    df: np.ndarray,
    n_rows: np.ndarray,
    method: CIMethod,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``analysis.intervals.proportion_interval`` on arrays, with the same formulas (the
    likelihood interval, a root search, goes through the function row by row). At p = 0 or 1
    the one-sided Korn-Graubard bound on n* = n (t_{n-1} / t_df)^2; with zero SE the point."""
    alpha = 1 - confidence
    low, high = np.full(len(p), np.nan), np.full(len(p), np.nan)
    rows = n_rows.astype(float)
    present = np.isfinite(p) & np.isfinite(se)
    edge = present & ((p <= 0) | (p >= 1))
    bound = (alpha / 2) ** (1 / np.maximum(rows * _kg_ratio(rows, df, alpha), 1.0))
    low[edge] = np.where(p[edge] <= 0, 0.0, bound[edge])
    high[edge] = np.where(p[edge] <= 0, 1 - bound[edge], 1.0)
    exact = present & ~edge & (se <= 0)
    low[exact], high[exact] = p[exact], p[exact]
    regular = present & ~edge & ~exact
    if method == CIMethod.LIKELIHOOD:
        for i in np.flatnonzero(regular):
            low[i], high[i] = proportion_interval(
                float(p[i]),
                float(se[i]),
                float(df[i]),
                float(rows[i]),
                method,
                confidence,
                n_rows=int(rows[i]),
            )
        return low, high
    pr, sr = p[regular], se[regular]
    t = _t_quantile(1 - alpha / 2, df[regular])
    if method == CIMethod.MEAN:
        lo, hi = pr - t * sr, pr + t * sr
    elif method in (CIMethod.LOGIT, CIMethod.XLOGIT):
        eta, se_eta = np.log(pr / (1 - pr)), sr / (pr * (1 - pr))
        lo, hi = special.expit(eta - t * se_eta), special.expit(eta + t * se_eta)
    elif method == CIMethod.ASIN:
        phi, se_phi = np.arcsin(np.sqrt(pr)), sr / (2 * np.sqrt(pr * (1 - pr)))
        lo, hi = np.sin(phi - t * se_phi) ** 2, np.sin(phi + t * se_phi) ** 2
    elif method == CIMethod.WILSON:
        n = pr * (1 - pr) / sr**2
        t2 = t * t
        centre = (pr + t2 / (2 * n)) / (1 + t2 / n)
        half = t * np.sqrt(pr * (1 - pr) / n + t2 / (4 * n * n)) / (1 + t2 / n)
        lo, hi = centre - half, centre + half
    else:  # BETA: Clopper-Pearson on Korn and Graubard's effective size
        n = pr * (1 - pr) / sr**2 * _kg_ratio(rows[regular], df[regular], alpha)
        lo = special.betaincinv(n * pr, n * (1 - pr) + 1, alpha / 2)
        hi = special.betaincinv(n * pr + 1, n * (1 - pr), 1 - alpha / 2)
    low[regular], high[regular] = lo, hi
    return low, high


def _reliability_bits(
    *,
    n: np.ndarray,
    n_eff: np.ndarray,
    df: np.ndarray,
    value: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    is_proportion: bool,
    lonely: np.ndarray,
) -> np.ndarray:
    """``analysis.flags.reliability_flags`` on arrays: the same rules in the same order."""
    bits = np.where(n < MIN_RESPONSES, _BIT["n<30"], 0)
    bits |= np.where(df < MIN_DF, _BIT["df<8"], 0)
    bits |= np.where(lonely, _BIT["lonely_psu_adjusted"], 0)
    if not is_proportion:
        return bits
    bits |= np.where(n_eff < MIN_N_EFF, _BIT["n_eff<30"], 0)
    bits |= np.where((value <= 0) | (value >= 1), _BIT["p_is_0_or_1"], 0)
    width = high - low
    finite = np.isfinite(width)
    wide = finite & (width >= MAX_ABSOLUTE_WIDTH)
    middle = finite & ~wide & (width > RELATIVE_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = middle & (value > 0) & (value < 1) & (width / value > MAX_RELATIVE_WIDTH)
        complement = middle & (value < 1) & (width / (1 - value) > MAX_RELATIVE_WIDTH)
    bits |= np.where(wide, _BIT["wide_ci"], 0)
    bits |= np.where(relative, _BIT["wide_relative_ci"], 0)
    bits |= np.where(complement, _BIT["wide_relative_ci_complement"], 0)
    return bits


# ---------------------------------------------------------------------------------------------
# One level


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

    def total(self, values: np.ndarray) -> np.ndarray:
        """Per-block values (in block order) added up per domain."""
        return _add_up(values, self.order, self.starts, self.identity)


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
    stats: CellStats, cells: _Cells, domain: np.ndarray, comp: _Composites, options: _Options
) -> _Domains:
    order = np.argsort(domain, kind="stable")
    ordered = domain[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    identity = len(starts) == len(domain) and bool((order == np.arange(len(order))).all())

    def total(values: np.ndarray) -> np.ndarray:
        return _add_up(values, order, starts, identity)

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
    low = np.maximum(estimate - t * se, floor)
    high = np.minimum(estimate + t * se, ceiling)
    method = np.full(estimate.shape, "t", dtype="<U10")
    if proportion:
        cols = np.flatnonzero(is_item)
        lo, hi = _proportion_intervals(
            estimate[:, cols].ravel(),
            se[:, cols].ravel(),
            dom.df[:, cols].ravel(),
            dom.m[:, cols].ravel(),
            options.method,
            options.confidence,
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
) -> list[tuple[Level, tuple[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]]:
    """The (D, M, C) columns and domain labels of each level, from one set of statistics. The
    per-block matrices of each measure are built once and shared by the levels."""
    setups = []
    for level in levels:
        domain, unit, area, desk = _domains(level, stats)
        setups.append(
            (level, (unit, area, desk), _domain_setup(stats, cells, domain, comp, options))
        )
    columns: list[list[dict[str, np.ndarray]]] = [[] for _ in setups]
    for measure in options.measures:
        blocks = _measure_blocks(stats, cells, measure)
        for i, (_level, _labels, dom) in enumerate(setups):
            columns[i].append(_measure_columns(dom, blocks, comp, options, measure))
        del blocks
    return [
        (level, labels, _level_columns(dom, columns[i]))
        for i, (level, labels, dom) in enumerate(setups)
    ]


# ---------------------------------------------------------------------------------------------
# The table


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


def _frame_totals(
    level: Level, weighting: Weighting, unit: np.ndarray, area: np.ndarray
) -> np.ndarray:
    """Dossiers of the frame in each domain (NaN when there is no frame: raking, desks)."""
    if weighting.method != WeightingMethod.DOSSIERS or level == Level.DESK:
        return np.full(len(unit), np.nan)
    totals: dict[tuple[str, str], float] = {}
    for u, a, count in zip(
        weighting.frame_unit, weighting.frame_area, weighting.frame_dossiers.tolist(), strict=True
    ):
        key = (
            u if level in (Level.UNIT, Level.CELL) else "",
            a if level in (Level.AREA, Level.CELL) else "",
        )
        totals[key] = totals.get(key, 0.0) + count
    return np.array(
        [totals.get((u, a), 0.0) for u, a in zip(unit.tolist(), area.tolist(), strict=True)]
    )


def _measures(
    template: TemplateSpec, measures: Sequence[IndexDefinition | str] | None
) -> tuple[IndexDefinition, ...]:
    if measures is None:
        chosen = [template.index_definition, IndexDefinition.TOP2BOX, IndexDefinition.MEAN]
    else:
        chosen = [choose(IndexDefinition, m, "measure") for m in measures]
    if not chosen:
        raise ValueError("choose at least one measure")
    return tuple(dict.fromkeys(chosen))


def _levels(levels: Sequence[Level | str]) -> tuple[Level, ...]:
    chosen = tuple(dict.fromkeys(choose(Level, v, "level") for v in levels))
    if not chosen:
        raise ValueError("choose at least one level")
    return chosen


def _options(
    template: TemplateSpec,
    measures: Sequence[IndexDefinition | str] | None,
    ci: CIMethod | str,
    confidence: float,
    lonely_psu: LonelyPSU | str,
) -> _Options:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1, e.g. 0.95")
    return _Options(
        measures=_measures(template, measures),
        method=choose(CIMethod, ci, "ci"),
        confidence=float(confidence),
        lonely_psu=choose(LonelyPSU, lonely_psu, "lonely_psu"),
    )


@dataclass
class _Parts:
    """Columns of the levels computed so far, flattened to rows."""

    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(
        self,
        level: Level,
        labels: tuple[np.ndarray, np.ndarray, np.ndarray],
        frame: np.ndarray,
        block: dict[str, np.ndarray],
        comp: _Composites,
        options: _Options,
    ) -> None:
        d_count, m_count, c_count = block["estimate"].shape
        per_domain = m_count * c_count
        with np.errstate(divide="ignore", invalid="ignore"):
            coverage = np.where(frame > 0, block["represented"] / frame, np.nan)
        short = np.isfinite(coverage) & (coverage < 1 - 1e-12)
        bits = (
            block["flag_bits"] | np.where(short, _BIT["cells_without_responses"], 0)[:, None, None]
        )
        values = {
            "level": np.full(d_count * per_domain, level.value, dtype="<U8"),
            "unit": np.repeat(labels[0], per_domain),
            "area": np.repeat(labels[1], per_domain),
            "desk": np.repeat(labels[2], per_domain),
            "kind": np.tile(np.array([k.value for k in comp.kinds]), d_count * m_count),
            "index": np.tile(np.array(comp.codes), d_count * m_count),
            "measure": np.tile(np.repeat([m.value for m in options.measures], c_count), d_count),
            "coverage": np.repeat(coverage, per_domain),
            "flag_bits": bits.reshape(-1),
        }
        for name in (
            "estimate",
            "se",
            "df",
            "ci_low",
            "ci_high",
            "ci_method",
            "n",
            "n_answering",
            "n_excluded",
            "n_eff",
            "deff",
        ):
            values[name] = np.asarray(block[name]).reshape(-1)
        for name, value in values.items():
            self.columns.setdefault(name, []).append(value)

    def table(
        self, options: _Options, template: TemplateSpec, weighting: Weighting, psu: PSU
    ) -> IndexTable:
        joined = {name: np.concatenate(parts) for name, parts in self.columns.items()}
        return IndexTable(
            level=joined["level"],
            unit=joined["unit"].astype(str),
            area=joined["area"].astype(str),
            desk=joined["desk"].astype(str),
            kind=joined["kind"],
            index=joined["index"],
            measure=joined["measure"],
            estimate=joined["estimate"].astype(float),
            se=joined["se"].astype(float),
            df=joined["df"].astype(float),
            ci_low=joined["ci_low"].astype(float),
            ci_high=joined["ci_high"].astype(float),
            ci_method=joined["ci_method"],
            n=joined["n"].astype(np.int64),
            n_answering=joined["n_answering"].astype(np.int64),
            n_excluded=joined["n_excluded"].astype(np.int64),
            n_eff=joined["n_eff"].astype(float),
            deff=joined["deff"].astype(float),
            coverage=joined["coverage"].astype(float),
            flag_bits=joined["flag_bits"].astype(np.int64),
            confidence=options.confidence,
            headline=template.index_definition,
            weighting=weighting,
            psu=psu,
            lonely_psu=options.lonely_psu,
        )


def _check_stats(stats: CellStats, template: TemplateSpec) -> None:
    if stats.items != template.codes:
        raise ValueError("the statistics were computed for a different template (item codes)")
    if stats.groups != groups_of(template)[0]:
        raise ValueError("the statistics were computed for a different template (elements)")


def index_table_from_stats(
    stats: CellStats,
    template: TemplateSpec,
    weighting: Weighting,
    *,
    levels: Sequence[Level | str] = DEFAULT_LEVELS,
    measures: Sequence[IndexDefinition | str] | None = None,
    lonely_psu: LonelyPSU | str = LonelyPSU.ADJUST,
    ci: CIMethod | str = CIMethod.BETA,
    confidence: float = 0.95,
) -> IndexTable:
    """The index table from sufficient statistics (``analysis.satisfaction_stats``), per cell,
    or per desk within cell (needed for ``Level.DESK``). The options are those of
    ``index_table``; the PSUs are those the statistics were computed with."""
    _check_stats(stats, template)
    chosen = _levels(levels)
    if Level.DESK in chosen and stats.desk is None:
        raise ValueError("desk-level indices need statistics per desk (cell_stats(by_desk=True))")
    options = _options(template, measures, ci, confidence, lonely_psu)
    comp = _composites(template)
    per_cell = stats.by_cell()
    cells = _cells(per_cell, weighting, stats.psu, options.lonely_psu)
    parts = _Parts()
    cell_levels = [level for level in chosen if level != Level.DESK]
    for level, labels, block in _levels_of(per_cell, cells, cell_levels, comp, options):
        parts.add(level, labels, _frame_totals(level, weighting, *labels[:2]), block, comp, options)
    if Level.DESK in chosen:
        for level, labels, block in _levels_of(stats, cells, [Level.DESK], comp, options):
            parts.add(level, labels, np.full(len(labels[0]), np.nan), block, comp, options)
    return _reorder(parts.table(options, template, weighting, stats.psu), chosen)


def index_table(
    responses: Responses,
    template: TemplateSpec,
    weighting: Weighting,
    *,
    levels: Sequence[Level | str] = DEFAULT_LEVELS,
    measures: Sequence[IndexDefinition | str] | None = None,
    psu: PSU | str = PSU.RESPONSE,
    lonely_psu: LonelyPSU | str = LonelyPSU.ADJUST,
    ci: CIMethod | str = CIMethod.BETA,
    confidence: float = 0.95,
    desk_blocks_per_chunk: int = 4000,
) -> IndexTable:
    """Every criterion, element, aspect and overall index, with the overall question beside
    it, for every domain of each level and each measure (default: the template's index
    definition, the top-2-box percent and the mean score).

    ``weighting``: from ``weights_from_dossiers`` or ``rake_to_margins`` on the same
    responses. ``psu``: responses (default) or desks as the PSUs within each cell.
    ``lonely_psu``: what a cell with a single PSU contributes, as R's ``survey.lonely.psu``
    (default ``adjust``; ``fail`` raises). ``ci``: the interval of criterion proportions
    (``beta`` = Korn-Graubard, ``logit``, ...); composites and mean scores use t with the
    design df. Desk-level indices are computed desk by desk, in chunks of about
    ``desk_blocks_per_chunk`` desk x cell blocks, so their memory stays bounded."""
    if responses.items != template.codes:
        raise ValueError("the responses were built for a different template (item codes)")
    chosen = _levels(levels)
    options = _options(template, measures, ci, confidence, lonely_psu)
    chosen_psu = choose(PSU, psu, "psu")
    if Level.DESK in chosen and responses.desk is None:
        raise ValueError("desk-level indices need the desk of every response")
    if desk_blocks_per_chunk < 1:
        raise ValueError("desk_blocks_per_chunk must be positive")
    comp = _composites(template)
    per_cell = cell_stats(responses, template, psu=chosen_psu)
    cells = _cells(per_cell, weighting, chosen_psu, options.lonely_psu)
    parts = _Parts()
    cell_levels = [level for level in chosen if level != Level.DESK]
    for level, labels, block in _levels_of(per_cell, cells, cell_levels, comp, options):
        parts.add(level, labels, _frame_totals(level, weighting, *labels[:2]), block, comp, options)
    del per_cell
    if Level.DESK in chosen:
        for rows in _desk_chunks(responses, desk_blocks_per_chunk):
            chunk = cell_stats(responses, template, psu=chosen_psu, by_desk=True, rows=rows)
            for level, labels, block in _levels_of(chunk, cells, [Level.DESK], comp, options):
                parts.add(level, labels, np.full(len(labels[0]), np.nan), block, comp, options)
    return _reorder(parts.table(options, template, weighting, chosen_psu), chosen)


def _desk_chunks(responses: Responses, blocks_per_chunk: int) -> list[np.ndarray]:
    """Row indices of groups of whole desks holding about ``blocks_per_chunk`` desk x cell
    blocks each."""
    assert responses.desk is not None  # checked by the caller  # noqa: S101
    n_areas = len(responses.area_labels)
    cell = responses.unit * n_areas + responses.area
    order = np.argsort(responses.desk, kind="stable")
    desk_sorted = responses.desk[order]
    starts = np.flatnonzero(np.r_[True, desk_sorted[1:] != desk_sorted[:-1]])
    cells = int(cell.max()) + 1
    pairs = np.unique(responses.desk * cells + cell)
    blocks_per_desk = np.bincount(pairs // cells, minlength=len(responses.desk_labels or ()))
    blocks_per_desk = blocks_per_desk[desk_sorted[starts]]
    chunks: list[np.ndarray] = []
    begin, count = 0, 0
    ends = np.r_[starts[1:], len(order)]
    for d in range(len(starts)):
        count += int(blocks_per_desk[d])
        if count >= blocks_per_chunk or d == len(starts) - 1:
            chunks.append(order[starts[begin] : ends[d]])
            begin, count = d + 1, 0
    return chunks


def _reorder(table: IndexTable, levels: tuple[Level, ...]) -> IndexTable:
    """Rows in the order the levels were asked for (desks are computed last)."""
    rank = {level.value: i for i, level in enumerate(levels)}
    key = np.array([rank[v] for v in table.level.tolist()])
    order = np.argsort(key, kind="stable")
    if (order == np.arange(len(order))).all():
        return table
    columns = {
        name: getattr(table, name)[order]
        for name in (
            "level",
            "unit",
            "area",
            "desk",
            "kind",
            "index",
            "measure",
            "estimate",
            "se",
            "df",
            "ci_low",
            "ci_high",
            "ci_method",
            "n",
            "n_answering",
            "n_excluded",
            "n_eff",
            "deff",
            "coverage",
            "flag_bits",
        )
    }
    return IndexTable(
        **columns,
        confidence=table.confidence,
        headline=table.headline,
        weighting=table.weighting,
        psu=table.psu,
        lonely_psu=table.lonely_psu,
    )
