"""Satisfaction indices of a survey round, with their uncertainty (shared/domain.md).

Criterion index: the weighted share answering a "satisfied" value (top-2-box), among those who
answered the criterion; element index: the mean of its criteria; aspect: the mean of its
elements; overall: the mean of the aspects. The same structure is reported as a weighted mean
score. Each response is weighted w = N_cell / n_cell for its unit x service area cell; the design
is stratified by cell with N_cell as the finite-population correction, each response its own PSU.

Every reported domain (province, unit, service area, cell) is a union of cells, so the variance
of any index comes from per-cell sums of its linearised values (Woodruff 1971): with z_i the
influence of response i on the index,

    V = sum_h (1 - n_h / N_h) n_h / (n_h - 1) [ sum_i z_i^2 - (sum_i z_i)^2 / n_h ]

which is what ``analysis.design.variance_of_totals`` computes for this design, evaluated here for
every domain of a level at once. Composite indices keep every covariance between their criteria.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis.flags import reliability_flags
from analysis.intervals import CIMethod, proportion_interval, t_interval

CAVEAT_VI = "Trong mỗi ô đơn vị x lĩnh vực, người trả lời được coi như những người không trả lời."
CAVEAT_EN = "Within a cell, those who answered are taken to be like those who did not."


class Measure(enum.StrEnum):
    TOP2BOX = "top2box"  # percent satisfied
    MEAN = "mean"  # mean score on the scale


class Level(enum.StrEnum):
    PROVINCE = "province"
    UNIT = "unit"
    AREA = "area"
    CELL = "cell"


@dataclass(frozen=True)
class CriterionSpec:
    code: str
    element: str
    aspect: str
    satisfied: tuple[float, ...] = (4.0, 5.0)


@dataclass(frozen=True)
class TemplateSpec:
    """Criteria in questionnaire order with their element and aspect."""

    criteria: tuple[CriterionSpec, ...]

    def __post_init__(self) -> None:
        if not self.criteria:
            raise ValueError("a template needs at least one criterion")
        codes = [c.code for c in self.criteria]
        if len(set(codes)) != len(codes):
            raise ValueError("criterion codes must be unique")

    def elements(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for j, c in enumerate(self.criteria):
            out.setdefault(c.element, []).append(j)
        return out

    def aspects(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in self.criteria:
            if c.element not in out.setdefault(c.aspect, []):
                out[c.aspect].append(c.element)
        return out


@dataclass(frozen=True)
class Responses:
    """One row per counted response: unit and area codes, and one column per criterion with
    the answer value (NaN when blank or not applicable)."""

    unit: np.ndarray
    area: np.ndarray
    answers: np.ndarray  # (n, number of criteria)

    def __post_init__(self) -> None:
        n = len(self.unit)
        if len(self.area) != n or self.answers.shape[0] != n:
            raise ValueError("unit, area and answers must have one row per response")


@dataclass(frozen=True)
class Weighting:
    weights: np.ndarray
    cell: np.ndarray  # cell code per response
    population: np.ndarray  # N_cell per response (inf where unknown)
    responses_without_count: tuple[str, ...]  # cells excluded: responses but no dossier count
    counts_without_responses: tuple[str, ...]  # cells of the frame nobody answered in
    fewer_dossiers_than_responses: tuple[str, ...]  # N < n: no finite-population correction
    caveat: tuple[str, str] = (CAVEAT_VI, CAVEAT_EN)


@dataclass(frozen=True)
class IndexRow:
    level: Level
    domain: str  # unit code, area code, "unit:area", or "" for the province
    index: str  # criterion, element or aspect code, or "overall"
    kind: str  # criterion | element | aspect | overall
    measure: Measure
    estimate: float  # percent for top2box, scale points for mean
    se: float
    df: float
    ci_low: float
    ci_high: float
    n: int  # responses in the domain
    n_answering: int
    n_eff: float
    deff: float | None
    flags: tuple[str, ...] = field(default=())


def cell_key(unit: str, area: str) -> str:
    return f"{unit}:{area}"


def weigh(responses: Responses, dossiers: Mapping[str, float]) -> Weighting:
    """w = N_cell / n_cell. Responses in a cell without a dossier count get weight 0 and are
    listed; so are frame cells without responses and cells with fewer dossiers than responses."""
    cells = np.array(
        [cell_key(str(u), str(a)) for u, a in zip(responses.unit, responses.area, strict=True)],
        dtype=object,
    )
    labels, inverse, counts = np.unique(cells.astype(str), return_inverse=True, return_counts=True)
    n_cell = counts[inverse].astype(float)
    big_n = np.array([float(dossiers.get(c, math.nan)) for c in labels])[inverse]
    unknown = np.isnan(big_n)
    weights = np.where(unknown, 0.0, np.nan_to_num(big_n) / n_cell)
    short = sorted(
        {c for c, n_, n_h in zip(labels[inverse], big_n, n_cell, strict=True) if n_ < n_h}
    )
    population = np.where(unknown | (big_n < n_cell), np.inf, big_n)
    return Weighting(
        weights=weights,
        cell=labels[inverse],
        population=population,
        responses_without_count=tuple(sorted(set(labels[inverse][unknown]))),
        counts_without_responses=tuple(sorted(set(dossiers) - set(labels))),
        fewer_dossiers_than_responses=tuple(short),
    )


def _stratum_variance(
    z: np.ndarray,
    stratum: np.ndarray,
    n_h: np.ndarray,
    scale: np.ndarray,
    domain_of_stratum: np.ndarray,
    n_domains: int,
) -> np.ndarray:
    """Per-domain variance of totals of z (columns) for a stratified design of single-row PSUs."""
    k = len(n_h)
    z2 = z * z
    sums = np.zeros((k, z.shape[1]))
    squares = np.zeros((k, z.shape[1]))
    np.add.at(sums, stratum, z)
    np.add.at(squares, stratum, z2)
    per_stratum = scale[:, None] * (squares - sums**2 / np.maximum(n_h, 1)[:, None])
    out = np.zeros((n_domains, z.shape[1]))
    np.add.at(out, domain_of_stratum, per_stratum)
    return out


def index_table(
    responses: Responses,
    template: TemplateSpec,
    weighting: Weighting,
    *,
    levels: Sequence[Level] = (Level.PROVINCE, Level.UNIT, Level.AREA, Level.CELL),
    measures: Sequence[Measure] = (Measure.TOP2BOX, Measure.MEAN),
    level: float = 0.95,
    ci: CIMethod | str = CIMethod.BETA,
) -> list[IndexRow]:
    """Every index (criteria, elements, aspects, overall) for every domain of each level."""
    method = CIMethod(ci)
    answers = np.asarray(responses.answers, dtype=float)
    if answers.shape[1] != len(template.criteria):
        raise ValueError("answers must have one column per criterion of the template")
    w = weighting.weights
    keep = w > 0
    stratum_labels, stratum = np.unique(weighting.cell, return_inverse=True)
    n_h = np.bincount(stratum[keep], minlength=len(stratum_labels)).astype(float)
    first = np.zeros(len(stratum_labels), dtype=np.int64)
    first[stratum[::-1]] = np.arange(len(stratum))[::-1]
    big_n = weighting.population[first]
    f = np.where(np.isinf(big_n), 0.0, n_h / np.where(np.isinf(big_n), 1.0, big_n))
    scale = np.where(n_h > 1, (1 - f) * n_h / np.maximum(n_h - 1, 1), 0.0)
    rows: list[IndexRow] = []
    composites = _composites(template)
    for lvl in levels:
        keys = _domain_keys(lvl, responses, weighting)
        labels, domain = np.unique(keys, return_inverse=True)
        domain_of_stratum = domain[first]
        for measure in measures:
            values = _measure_values(answers, template, measure)
            answered = ~np.isnan(values) & keep[:, None]
            wa = np.where(answered, w[:, None], 0.0)
            totals = np.zeros((len(labels), values.shape[1]))
            weight_sums = np.zeros_like(totals)
            np.add.at(totals, domain, wa * np.nan_to_num(values))
            np.add.at(weight_sums, domain, wa)
            with np.errstate(invalid="ignore", divide="ignore"):
                p = totals / weight_sums  # (domains, criteria)
            z = (
                wa
                * (np.nan_to_num(values) - np.nan_to_num(p[domain]))
                / np.where(weight_sums[domain] > 0, weight_sums[domain], 1.0)
            )
            n_domain = np.bincount(domain, weights=keep.astype(float), minlength=len(labels))
            n_answering = np.zeros_like(totals)
            np.add.at(n_answering, domain, answered.astype(float))
            strata_in_domain = np.bincount(domain_of_stratum[n_h > 0], minlength=len(labels))
            df = n_domain - strata_in_domain
            # A criterion's df counts only the rows (and cells) that answered it, as R's degf
            # on the subset where the variable is present.
            answering_in_stratum = np.zeros((len(stratum_labels), values.shape[1]))
            np.add.at(answering_in_stratum, stratum, answered.astype(float))
            strata_answering = np.zeros_like(totals)
            np.add.at(strata_answering, domain_of_stratum, (answering_in_stratum > 0).astype(float))
            criterion_df = n_answering - strata_answering
            for name, kind, a in composites:
                estimate = p @ a if kind != "criterion" else p[:, int(np.argmax(a))]
                variance = _stratum_variance(
                    (z @ a)[:, None], stratum, n_h, scale, domain_of_stratum, len(labels)
                )[:, 0]
                j = int(np.argmax(a))
                for d, label in enumerate(labels):
                    criterion = kind == "criterion"
                    rows.append(
                        _row(
                            lvl,
                            str(label),
                            name,
                            kind,
                            measure,
                            float(estimate[d]),
                            float(variance[d]),
                            float(criterion_df[d, j] if criterion else df[d]),
                            int(n_domain[d]),
                            int(n_answering[d, j] if criterion else n_answering[d] @ (a > 0)),
                            level,
                            method,
                        )
                    )
    return rows


def _composites(template: TemplateSpec) -> list[tuple[str, str, np.ndarray]]:
    k = len(template.criteria)
    out: list[tuple[str, str, np.ndarray]] = []
    for j, c in enumerate(template.criteria):
        a = np.zeros(k)
        a[j] = 1.0
        out.append((c.code, "criterion", a))
    elements = template.elements()
    element_weights: dict[str, np.ndarray] = {}
    for name, members in elements.items():
        a = np.zeros(k)
        a[members] = 1 / len(members)
        element_weights[name] = a
        out.append((name, "element", a))
    aspects = template.aspects()
    aspect_weights = []
    for aspect, element_names in aspects.items():
        combined = np.mean([element_weights[e] for e in element_names], axis=0)
        aspect_weights.append(combined)
        if len(aspects) > 1:
            out.append((aspect, "aspect", combined))
    out.append(("overall", "overall", np.mean(aspect_weights, axis=0)))
    return out


def _measure_values(answers: np.ndarray, template: TemplateSpec, measure: Measure) -> np.ndarray:
    if measure == Measure.MEAN:
        return answers
    out = np.empty_like(answers)
    for j, c in enumerate(template.criteria):
        column = answers[:, j]
        out[:, j] = np.where(np.isnan(column), np.nan, np.isin(column, c.satisfied).astype(float))
    return out


def _domain_keys(lvl: Level, responses: Responses, weighting: Weighting) -> np.ndarray:
    if lvl == Level.PROVINCE:
        return np.full(len(responses.unit), "", dtype=object).astype(str)
    if lvl == Level.UNIT:
        return responses.unit.astype(str)
    if lvl == Level.AREA:
        return responses.area.astype(str)
    return weighting.cell.astype(str)


def _row(
    lvl: Level,
    domain: str,
    name: str,
    kind: str,
    measure: Measure,
    estimate: float,
    variance: float,
    df: float,
    n: int,
    n_answering: int,
    level: float,
    method: CIMethod,
) -> IndexRow:
    se = math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else math.nan
    if n_answering == 0 or not math.isfinite(estimate):
        return IndexRow(
            lvl,
            domain,
            name,
            kind,
            measure,
            math.nan,
            math.nan,
            df,
            math.nan,
            math.nan,
            n,
            n_answering,
            0.0,
            None,
            ("no_answers",),
        )
    proportion = measure == Measure.TOP2BOX
    deff: float | None = None
    n_eff = float(n_answering)
    if proportion and kind == "criterion" and 0 < estimate < 1 and se > 0:
        srs = estimate * (1 - estimate) / n_answering
        deff = se**2 / srs
        n_eff = n_answering / deff
        low, high = proportion_interval(estimate, se, df, n_eff, method, level, n_rows=n_answering)
    elif proportion and kind == "criterion":
        low, high = proportion_interval(estimate, se, df, n_eff, method, level, n_rows=n_answering)
    else:
        low, high = t_interval(estimate, se, df, level)
        if proportion:
            low, high = max(low, 0.0), min(high, 1.0)
    flags = reliability_flags(
        n=n, n_eff=n_eff, df=df, value=estimate, ci_low=low, ci_high=high, is_proportion=proportion
    )
    factor = 100.0 if proportion else 1.0
    return IndexRow(
        lvl,
        domain,
        name,
        kind,
        measure,
        estimate * factor,
        se * factor,
        df,
        low * factor,
        high * factor,
        n,
        n_answering,
        n_eff,
        deff,
        flags,
    )


class Verdict(enum.StrEnum):
    ABOVE = "above"
    BELOW = "below"
    CANNOT_TELL = "cannot_tell"


def target_verdict(row: IndexRow, target: float) -> Verdict:
    """Above the target only when the whole interval is above it (and below likewise)."""
    if row.ci_low > target:
        return Verdict.ABOVE
    if row.ci_high < target:
        return Verdict.BELOW
    return Verdict.CANNOT_TELL


@dataclass(frozen=True)
class RankRange:
    domain: str
    best: int
    worst: int


def rank_ranges(rows: Sequence[IndexRow]) -> list[RankRange]:
    """For each domain, the ranks compatible with the intervals: it ranks no better than one plus
    the number of domains whose interval lies wholly above its own, and no worse than the
    number of domains not wholly below it. Domains with overlapping ranges cannot be told apart."""
    out = []
    for row in rows:
        above = sum(1 for other in rows if other is not row and other.ci_low > row.ci_high)
        below = sum(1 for other in rows if other is not row and other.ci_high < row.ci_low)
        out.append(RankRange(row.domain, 1 + above, len(rows) - below))
    return sorted(out, key=lambda r: (r.best, r.worst, r.domain))


@dataclass(frozen=True)
class Change:
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    significant: bool


def change(current: IndexRow, previous: IndexRow, level: float = 0.95) -> Change:
    """Difference between two rounds' independent samples: se = sqrt(se1^2 + se2^2), t interval
    on the smaller of the two design df (conservative)."""
    estimate = current.estimate - previous.estimate
    se = math.hypot(current.se, previous.se)
    df = min(current.df, previous.df)
    low, high = t_interval(estimate, se, df, level)
    return Change(estimate, se, df, low, high, significant=low > 0 or high < 0)


def cronbach_alpha(items: np.ndarray) -> float:
    """alpha = k / (k - 1) (1 - sum_j var_j / var_total) over complete cases (Cronbach 1951),
    with sample variances (n - 1)."""
    data = np.asarray(items, dtype=float)
    complete = data[~np.isnan(data).any(axis=1)]
    k = data.shape[1]
    if k < 2 or len(complete) < 2:
        return math.nan
    item_variances = complete.var(axis=0, ddof=1).sum()
    total_variance = complete.sum(axis=1).var(ddof=1)
    if total_variance == 0:
        return math.nan
    return float(k / (k - 1) * (1 - item_variances / total_variance))
