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
from scipy import stats

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
    cells = np.char.add(np.char.add(responses.unit.astype(str), ":"), responses.area.astype(str))
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
    _cells, stratum = np.unique(weighting.cell, return_inverse=True)
    # Rows are put in cell order once, so that every per-cell sum below is a plain reduceat.
    order = np.argsort(stratum, kind="stable")
    stratum = stratum[order]
    answers = answers[order]
    w = weighting.weights[order]
    population = weighting.population[order]
    keep = w > 0
    starts = np.r_[0, np.flatnonzero(np.diff(stratum)) + 1]

    def by_cell(matrix: np.ndarray) -> np.ndarray:
        return np.add.reduceat(matrix, starts, axis=0)

    n_h = by_cell(keep.astype(float)[:, None])[:, 0]
    first = starts
    big_n = population[first]
    f = np.where(np.isinf(big_n), 0.0, n_h / np.where(np.isinf(big_n), 1.0, big_n))
    scale = np.where(n_h > 1, (1 - f) * n_h / np.maximum(n_h - 1, 1), 0.0)
    composites = _composites(template)
    weights_matrix = np.column_stack([a for _name, _kind, a in composites])
    domains = {
        lvl: np.unique(_domain_keys(lvl, responses, weighting)[order], return_inverse=True)
        for lvl in levels
    }
    rows: list[IndexRow] = []
    for measure in measures:
        values = _measure_values(answers, template, measure)
        answered = ~np.isnan(values) & keep[:, None]
        wa = np.where(answered, w[:, None], 0.0)
        y = np.nan_to_num(values)
        cell_wy, cell_w, cell_answering = by_cell(wa * y), by_cell(wa), by_cell(answered * 1.0)
        for lvl in levels:
            labels, domain_of_row = domains[lvl]
            domain_of_cell = domain_of_row[first]
            size = len(labels)

            def to_domain(
                per_cell: np.ndarray, size: int = size, cells: np.ndarray = domain_of_cell
            ) -> np.ndarray:
                out = np.zeros((size, *per_cell.shape[1:]))
                np.add.at(out, cells, per_cell)
                return out

            totals, weight_sums = to_domain(cell_wy), to_domain(cell_w)
            n_answering = to_domain(cell_answering)
            with np.errstate(invalid="ignore", divide="ignore"):
                p = totals / weight_sums
            safe_w = np.where(weight_sums > 0, weight_sums, 1.0)
            z = wa * (y - np.nan_to_num(p)[domain_of_row]) / safe_w[domain_of_row]
            zc = z @ weights_matrix
            per_cell = scale[:, None] * (
                by_cell(zc * zc) - by_cell(zc) ** 2 / np.maximum(n_h, 1)[:, None]
            )
            variance = to_domain(per_cell)
            n_domain = to_domain(n_h)
            df = n_domain - to_domain((n_h > 0).astype(float))
            # A criterion's df counts only the rows (and cells) that answered it, as R's degf
            # on the subset where the variable is present.
            criterion_df = n_answering - to_domain((cell_answering > 0).astype(float))
            estimates = np.nan_to_num(p) @ weights_matrix
            for c, (name, kind, a) in enumerate(composites):
                j = int(np.argmax(a))
                criterion = kind == "criterion"
                rows.extend(
                    _rows(
                        lvl,
                        labels,
                        name,
                        kind,
                        measure,
                        p[:, j] if criterion else estimates[:, c],
                        variance[:, c],
                        criterion_df[:, j] if criterion else df,
                        n_domain,
                        n_answering[:, j] if criterion else n_answering @ (a > 0),
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


def _rows(
    lvl: Level,
    labels: np.ndarray,
    name: str,
    kind: str,
    measure: Measure,
    estimate: np.ndarray,
    variance: np.ndarray,
    df: np.ndarray,
    n: np.ndarray,
    n_answering: np.ndarray,
    level: float,
    method: CIMethod,
) -> list[IndexRow]:
    """Intervals and flags for every domain of one index, computed on arrays."""
    se = np.sqrt(np.clip(np.nan_to_num(variance), 0.0, None))
    proportion = measure == Measure.TOP2BOX
    alpha = 1 - level
    t = np.where(
        df > 0, stats.t.ppf(1 - alpha / 2, np.maximum(df, 1)), stats.norm.ppf(1 - alpha / 2)
    )
    low, high = estimate - t * se, estimate + t * se
    deff = np.full(len(labels), np.nan)
    n_eff = n_answering.astype(float)
    if proportion:
        low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    if proportion and kind == "criterion":
        inner = (estimate > 0) & (estimate < 1) & (se > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            srs = estimate * (1 - estimate) / n_answering
            deff = np.where(inner, se**2 / srs, np.nan)
            n_eff = np.where(inner, n_answering / deff, n_answering)
        if method == CIMethod.BETA:
            with np.errstate(divide="ignore", invalid="ignore"):
                kg = (
                    estimate
                    * (1 - estimate)
                    / se**2
                    * (
                        stats.t.ppf(alpha / 2, np.maximum(n_answering - 1, 1))
                        / stats.t.ppf(alpha / 2, np.maximum(df, 1))
                    )
                    ** 2
                )
                beta_low = stats.beta.ppf(alpha / 2, kg * estimate, kg * (1 - estimate) + 1)
                beta_high = stats.beta.ppf(1 - alpha / 2, kg * estimate + 1, kg * (1 - estimate))
            low, high = np.where(inner, beta_low, low), np.where(inner, beta_high, high)
        for k in np.flatnonzero(~inner | (method != CIMethod.BETA)):
            if n_answering[k] > 0 and np.isfinite(estimate[k]):
                low[k], high[k] = proportion_interval(
                    float(estimate[k]),
                    float(se[k]),
                    float(df[k]),
                    float(n_eff[k]),
                    method,
                    level,
                    n_rows=int(n_answering[k]),
                )
    factor = 100.0 if proportion else 1.0
    out = []
    for d, label in enumerate(labels):
        if n_answering[d] == 0 or not np.isfinite(estimate[d]):
            out.append(
                IndexRow(
                    lvl,
                    str(label),
                    name,
                    kind,
                    measure,
                    math.nan,
                    math.nan,
                    float(df[d]),
                    math.nan,
                    math.nan,
                    int(n[d]),
                    0,
                    0.0,
                    None,
                    ("no_answers",),
                )
            )
            continue
        flags = reliability_flags(
            n=int(n[d]),
            n_eff=float(n_eff[d]),
            df=float(df[d]),
            value=float(estimate[d]),
            ci_low=float(low[d]),
            ci_high=float(high[d]),
            is_proportion=proportion,
        )
        out.append(
            IndexRow(
                lvl,
                str(label),
                name,
                kind,
                measure,
                float(estimate[d]) * factor,
                float(se[d]) * factor,
                float(df[d]),
                float(low[d]) * factor,
                float(high[d]) * factor,
                int(n[d]),
                int(n_answering[d]),
                float(n_eff[d]),
                None if math.isnan(deff[d]) else float(deff[d]),
                flags,
            )
        )
    return out


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
