"""Weights of a round's responses: w = N_cell / n_cell, or raking to unit and area totals.

QR responses are not a probability sample: whoever scans answers. The accepted correction
(shared/domain.md, "Weights") weights each response in unit x service area cell h by

    w_h = N_h / n_h        (N_h dossiers the cell handled in the period, n_h responses)

so that every cell counts in proportion to its dossiers. The variance then follows a design
stratified by cell with N_h as the finite-population correction (Cochran 1977, ch. 5;
analysis.satisfaction). This is post-stratification on the cells (Holt and Smith 1979), with the
variance conditional on the achieved cell sample sizes.

When only unit totals N_u and area totals N_a are known, the cell sizes are estimated by raking
(Deming and Stephan 1940; iterative proportional fitting): w_h = a_u b_a with
sum_{h in u} n_h w_h = N_u and sum_{h in a} n_h w_h = N_a. Both margins are unions of cells, so
the raked weights are constant within a cell and the fitting runs on the table of response
counts, not on the responses; it reaches the weights of ``analysis.calibration.rake`` (R's
``rake``) applied to the rows. No finite-population correction is used then: N_h is unknown.
The variance treats the raked weights like N_h / n_h weights on the same cell strata; with
responses as PSUs that is exactly R's variance after ``rake`` (see ``analysis.satisfaction``).

Every weighting states its assumption (``caveat_vi``, ``caveat_en``): within a cell, those who
answered are taken to be like those who did not. Nothing is dropped silently: cells with
responses but no dossier count (or no margin), cells with a count but no responses, and cells
with fewer dossiers than responses are listed in ``WeightingDiagnostics`` with what happened to
them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analysis.satisfaction.inputs import CellCounts, Responses, cell_count_table

CAVEAT_VI = (
    "Giả định: trong mỗi ô đơn vị × lĩnh vực, những người đã trả lời được coi là giống những "
    "người không trả lời. Mỗi phiếu có trọng số bằng số hồ sơ của ô chia cho số phiếu của ô."
)
CAVEAT_EN = (
    "Assumption: within each unit × service area cell, those who answered are taken to be like "
    "those who did not. Each response is weighted by the cell's dossiers divided by its responses."
)
RAKING_CAVEAT_VI = (
    "Giả định: trong mỗi ô đơn vị × lĩnh vực, những người đã trả lời được coi là giống những "
    "người không trả lời. Số hồ sơ của từng ô chưa biết nên được ước lượng bằng cách cân chỉnh "
    "lặp (raking) theo tổng số hồ sơ của từng đơn vị và từng lĩnh vực."
)
RAKING_CAVEAT_EN = (
    "Assumption: within each unit × service area cell, those who answered are taken to be like "
    "those who did not. The cells' dossier counts are unknown and are estimated by raking to the "
    "dossier totals of each unit and each service area."
)


class WeightingMethod(enum.StrEnum):
    DOSSIERS = "dossiers"  # w = N_cell / n_cell
    RAKING = "raking"  # iterative proportional fitting to unit and area totals
    SAMPLE = "sample"  # 1 / pi_h, adjusted for nonresponse within classes, trimmed


class CellProblem(enum.StrEnum):
    """What can be wrong with a cell, and (``CONSEQUENCE``) what is done about it."""

    NO_DOSSIER_COUNT = "no_dossier_count"
    NO_RESPONSES = "no_responses"
    FEWER_DOSSIERS_THAN_RESPONSES = "fewer_dossiers_than_responses"
    NO_MARGIN = "no_margin"
    MARGIN_WITHOUT_RESPONSES = "margin_without_responses"
    NOT_SAMPLED = "not_sampled"
    CLASS_MERGED = "class_merged"


CONSEQUENCE: dict[CellProblem, tuple[str, str]] = {
    CellProblem.NO_DOSSIER_COUNT: (
        "Có phiếu nhưng không có số hồ sơ: các phiếu này không được tính vào chỉ số có trọng số.",
        "Responses but no dossier count: these responses are excluded from weighted indices.",
    ),
    CellProblem.NO_RESPONSES: (
        "Có số hồ sơ nhưng không có phiếu: các hồ sơ này không được đại diện trong chỉ số.",
        "A dossier count but no responses: these dossiers are not represented in the indices.",
    ),
    CellProblem.FEWER_DOSSIERS_THAN_RESPONSES: (
        "Số hồ sơ ít hơn số phiếu: vẫn tính với trọng số hồ sơ/phiếu (< 1), không hiệu chỉnh "
        "tổng thể hữu hạn; cần kiểm tra số liệu hồ sơ.",
        "Fewer dossiers than responses: kept with weight dossiers/responses (< 1) and no "
        "finite-population correction; check the dossier counts.",
    ),
    CellProblem.NO_MARGIN: (
        "Đơn vị hoặc lĩnh vực không có tổng số hồ sơ (hoặc bằng 0): các phiếu này không được "
        "tính vào chỉ số có trọng số.",
        "The unit or service area has no (or a zero) dossier total: these responses are "
        "excluded from weighted indices.",
    ),
    CellProblem.MARGIN_WITHOUT_RESPONSES: (
        "Tổng số hồ sơ của đơn vị/lĩnh vực không có phiếu nào: bỏ khỏi cân chỉnh; tổng theo "
        "lĩnh vực được co giãn để hai tổng khớp nhau.",
        "A unit or service area total without responses: left out of the raking; the area "
        "totals are rescaled so that both margins agree.",
    ),
    CellProblem.NOT_SAMPLED: (
        "Có phiếu ở ô không thuộc tầng nào của mẫu: các phiếu này không được tính vào chỉ số có "
        "trọng số.",
        "Responses in a cell that is no stratum of the sample: these responses are excluded "
        "from weighted indices.",
    ),
    CellProblem.CLASS_MERGED: (
        "Tầng không có ai trả lời: được gộp với các tầng khác của cùng đơn vị để hiệu chỉnh "
        "không trả lời.",
        "A stratum with no respondent: merged with the other strata of its unit for the "
        "nonresponse adjustment.",
    ),
}


@dataclass(frozen=True)
class CellIssue:
    """One reported problem. ``area`` is empty for a unit margin, ``unit`` for an area margin;
    ``dossiers`` is NaN when unknown."""

    problem: CellProblem
    unit: str
    area: str
    responses: int
    dossiers: float


@dataclass(frozen=True)
class WeightingDiagnostics:
    issues: tuple[CellIssue, ...]
    responses: int  # all responses received
    responses_excluded: int  # with weight 0: in no weighted index
    dossiers: float  # in the frame (or the unit margins)
    dossiers_represented: float  # in cells with weighted responses
    raking_iterations: int | None = None
    raking_max_error: float | None = None  # largest relative margin error at convergence
    area_total_scale: float | None = None  # factor applied to the area totals (raking)
    trim_cap: float | None = None  # largest weight allowed (sampled rounds' trimming)
    trimmed_responses: int | None = None  # responses whose weight is held at the cap

    def of(self, problem: CellProblem | str) -> tuple[CellIssue, ...]:
        wanted = CellProblem(problem)
        return tuple(i for i in self.issues if i.problem == wanted)

    @property
    def coverage(self) -> float:
        """Share of the frame's dossiers that lie in cells with weighted responses."""
        return self.dossiers_represented / self.dossiers if self.dossiers > 0 else math.nan


@dataclass(frozen=True, eq=False)
class Weighting:
    """Per-cell weights for the cells with responses, sorted by (unit, area).

    ``weight`` is 0 for a cell whose responses are excluded; ``population`` is N_h (dossiers)
    or the raked estimate w_h n_h (NaN where excluded); ``fpc`` is N_h where the
    finite-population correction applies and inf where it does not. ``frame_*`` list every cell
    of the dossier frame (empty for raking), for the coverage of each domain."""

    method: WeightingMethod
    unit: tuple[str, ...]
    area: tuple[str, ...]
    responses: np.ndarray
    weight: np.ndarray
    population: np.ndarray
    fpc: np.ndarray
    frame_unit: tuple[str, ...]
    frame_area: tuple[str, ...]
    frame_dossiers: np.ndarray
    diagnostics: WeightingDiagnostics
    caveat_vi: str
    caveat_en: str

    def index(self) -> dict[tuple[str, str], int]:
        return {key: h for h, key in enumerate(zip(self.unit, self.area, strict=True))}

    def weight_of(self, unit: str, area: str) -> float:
        h = self.index().get((unit, area))
        return 0.0 if h is None else float(self.weight[h])

    def row_weights(self, responses: Responses) -> np.ndarray:
        """The weight of every response (0 where excluded), for exports and checks."""
        lookup = self.index()
        n_areas = len(responses.area_labels)
        per_code = np.zeros(len(responses.unit_labels) * n_areas)
        for u, unit in enumerate(responses.unit_labels):
            for a, area in enumerate(responses.area_labels):
                h = lookup.get((unit, area))
                if h is not None:
                    per_code[u * n_areas + a] = self.weight[h]
        return per_code[responses.unit * n_areas + responses.area]


def _sample(sample: Responses | CellCounts) -> dict[tuple[str, str], int]:
    if isinstance(sample, Responses):
        return {(c.unit, c.area): int(c.count) for c in sample.cell_counts()}
    table = cell_count_table(sample, "response counts")
    out: dict[tuple[str, str], int] = {}
    for key, count in table.items():
        if count != int(count):
            raise ValueError(f"response counts: cell {key[0]}/{key[1]} has a fractional count")
        if count > 0:
            out[key] = int(count)
    if not out:
        raise ValueError("no responses to weight")
    return out


def weights_from_dossiers(sample: Responses | CellCounts, dossiers: CellCounts) -> Weighting:
    """w_h = N_h / n_h for every cell with responses.

    * no dossier count for a cell with responses: weight 0, the responses are excluded from
      weighted estimates and listed (``NO_DOSSIER_COUNT``);
    * a count but no responses: listed (``NO_RESPONSES``); the domain's coverage shows it;
    * N_h < n_h: kept with w_h = N_h / n_h and no finite-population correction, listed
      (``FEWER_DOSSIERS_THAN_RESPONSES``); N_h = 0 gives weight 0, so those are excluded.

    Parameters
    ----------
    sample : Responses | Mapping[tuple[str, str], int]
        The responses, or their counts per (unit, area) cell.
    dossiers : Iterable[CellCount] | Mapping[tuple[str, str], float]
        Dossiers handled per cell, N_h.

    Returns
    -------
    Weighting
        Cell weights, population counts, fpc and the diagnostics listed above.
    """
    counts = _sample(sample)
    frame = cell_count_table(dossiers, "dossier counts")
    keys = sorted(counts)
    n = np.array([counts[k] for k in keys], dtype=float)
    big_n = np.array([frame.get(k, math.nan) for k in keys])
    unknown = np.isnan(big_n)
    short = ~unknown & (big_n < n)
    weight = np.where(unknown, 0.0, np.nan_to_num(big_n) / n)
    fpc = np.where(unknown | short, np.inf, big_n)
    issues = [
        CellIssue(CellProblem.NO_DOSSIER_COUNT, u, a, counts[(u, a)], math.nan)
        for (u, a), missing in zip(keys, unknown, strict=True)
        if missing
    ]
    issues += [
        CellIssue(CellProblem.FEWER_DOSSIERS_THAN_RESPONSES, u, a, counts[(u, a)], frame[(u, a)])
        for (u, a), few in zip(keys, short, strict=True)
        if few
    ]
    issues += [
        CellIssue(CellProblem.NO_RESPONSES, u, a, 0, count)
        for (u, a), count in sorted(frame.items())
        if (u, a) not in counts and count > 0
    ]
    frame_keys = sorted(frame)
    return Weighting(
        method=WeightingMethod.DOSSIERS,
        unit=tuple(k[0] for k in keys),
        area=tuple(k[1] for k in keys),
        responses=n.astype(np.int64),
        weight=weight,
        population=np.where(unknown, math.nan, big_n),
        fpc=fpc,
        frame_unit=tuple(k[0] for k in frame_keys),
        frame_area=tuple(k[1] for k in frame_keys),
        frame_dossiers=np.array([frame[k] for k in frame_keys], dtype=float),
        diagnostics=WeightingDiagnostics(
            issues=tuple(issues),
            responses=int(n.sum()),
            responses_excluded=int(n[weight == 0].sum()),
            dossiers=float(sum(frame.values())),
            dossiers_represented=float(np.nan_to_num(big_n)[weight > 0].sum()),
        ),
        caveat_vi=CAVEAT_VI,
        caveat_en=CAVEAT_EN,
    )


def _totals(totals: Mapping[str, float], what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in totals.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} of {key}: not a number") from None
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{what} of {key}: must be finite and >= 0")
        out[str(key)] = number
    if not out:
        raise ValueError(f"no {what}")
    return out


def rake_to_margins(
    sample: Responses | CellCounts,
    *,
    unit_totals: Mapping[str, float],
    area_totals: Mapping[str, float],
    tolerance: float = 1e-10,
    max_iterations: int = 1000,
) -> Weighting:
    """Raked cell weights w_h = a_u b_a meeting the unit and area dossier totals.

    Iterative proportional fitting on the unit x area table of response counts n_h:
    a_u = N_u / sum_{h in u} n_h b_a, then b_a = N_a / sum_{h in a} n_h a_u, until every unit
    total is met to a relative ``tolerance`` (the area totals are met exactly after each
    sweep). The two sets of totals must describe the same dossiers (equal sums). Cells whose
    unit or area has no positive total are excluded and listed; totals of units or areas
    without responses are left out and listed, and the area totals are then rescaled to the
    remaining unit totals (``area_total_scale``). Raises ValueError if the totals cannot be met
    (for example a unit whose responses all fall in areas with no total left).

    Parameters
    ----------
    sample : Responses | Mapping[tuple[str, str], int]
        The responses, or their counts per cell.
    unit_totals : Mapping[str, float]
        Dossiers per unit.
    area_totals : Mapping[str, float]
        Dossiers per service area.
    tolerance : float
        Relative tolerance on the unit totals.
    max_iterations : int
        Most sweeps.

    Returns
    -------
    Weighting
        Raked cell weights and diagnostics.

    Raises
    ------
    ValueError
        When the totals cannot be met.
    """
    counts = _sample(sample)
    units = _totals(unit_totals, "unit dossier total")
    areas = _totals(area_totals, "area dossier total")
    unit_sum, area_sum = sum(units.values()), sum(areas.values())
    if not math.isclose(unit_sum, area_sum, rel_tol=1e-9):
        raise ValueError(
            f"unit totals sum to {unit_sum:g} and area totals to {area_sum:g}: both margins must "
            "count the same dossiers"
        )
    keys = sorted(counts)
    usable = [units.get(u, 0.0) > 0 and areas.get(a, 0.0) > 0 for u, a in keys]
    issues = [
        CellIssue(CellProblem.NO_MARGIN, u, a, counts[(u, a)], math.nan)
        for (u, a), ok in zip(keys, usable, strict=True)
        if not ok
    ]
    kept = [k for k, ok in zip(keys, usable, strict=True) if ok]
    if not kept:
        raise ValueError("no cell with responses has both a unit and an area total")
    kept_units = sorted({u for u, _a in kept})
    kept_areas = sorted({a for _u, a in kept})
    issues += [
        CellIssue(CellProblem.MARGIN_WITHOUT_RESPONSES, u, "", 0, total)
        for u, total in sorted(units.items())
        if total > 0 and u not in kept_units
    ]
    issues += [
        CellIssue(CellProblem.MARGIN_WITHOUT_RESPONSES, "", a, 0, total)
        for a, total in sorted(areas.items())
        if total > 0 and a not in kept_areas
    ]
    target_u = np.array([units[u] for u in kept_units])
    target_a = np.array([areas[a] for a in kept_areas])
    scale = float(target_u.sum() / target_a.sum())
    target_a = target_a * scale
    u_of = np.searchsorted(kept_units, [u for u, _a in kept])
    a_of = np.searchsorted(kept_areas, [a for _u, a in kept])
    n_kept = np.array([counts[k] for k in kept], dtype=float)
    alpha, beta = np.ones(len(kept_units)), np.ones(len(kept_areas))
    error = math.inf
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007  # the count is reported
        alpha = target_u / np.bincount(u_of, n_kept * beta[a_of], minlength=len(kept_units))
        beta = target_a / np.bincount(a_of, n_kept * alpha[u_of], minlength=len(kept_areas))
        met = np.bincount(u_of, n_kept * alpha[u_of] * beta[a_of], minlength=len(kept_units))
        error = float(np.max(np.abs(met - target_u) / target_u))
        if error < tolerance:
            break
    else:
        raise ValueError(
            f"raking did not converge in {max_iterations} iterations (largest unit-total error "
            f"{error:.1e}); the unit and area totals cannot both be met by the cells that have "
            "responses"
        )
    kept_weight = alpha[u_of] * beta[a_of]
    index = {k: i for i, k in enumerate(kept)}
    weight = np.array([kept_weight[index[k]] if k in index else 0.0 for k in keys])
    n = np.array([counts[k] for k in keys], dtype=float)
    return Weighting(
        method=WeightingMethod.RAKING,
        unit=tuple(k[0] for k in keys),
        area=tuple(k[1] for k in keys),
        responses=n.astype(np.int64),
        weight=weight,
        population=np.where(weight > 0, weight * n, math.nan),
        fpc=np.full(len(keys), np.inf),
        frame_unit=(),
        frame_area=(),
        frame_dossiers=np.zeros(0),
        diagnostics=WeightingDiagnostics(
            issues=tuple(issues),
            responses=int(n.sum()),
            responses_excluded=int(n[weight == 0].sum()),
            dossiers=unit_sum,
            dossiers_represented=float(target_u.sum()),
            raking_iterations=iterations,
            raking_max_error=error,
            area_total_scale=scale,
        ),
        caveat_vi=RAKING_CAVEAT_VI,
        caveat_en=RAKING_CAVEAT_EN,
    )


SAMPLE_CAVEAT_VI = (
    "Mẫu ngẫu nhiên phân tầng theo đơn vị × lĩnh vực. Trọng số của mỗi phiếu là nghịch đảo xác "
    "suất chọn, hiệu chỉnh cho người không trả lời trong từng tầng (tầng không có ai trả lời "
    "được gộp với các tầng khác của cùng đơn vị); %(trim)s Giả định: trong mỗi tầng, những "
    "người đã trả lời được coi là giống những người không trả lời."
)
SAMPLE_CAVEAT_EN = (
    "A random sample stratified by unit × service area. Each response is weighted by the inverse "
    "of its selection probability, adjusted for nonresponse within its stratum (a stratum with "
    "no respondent is merged with the other strata of its unit); %(trim)s Assumption: within "
    "each stratum, those who answered are taken to be like those who did not."
)
TRIM_VI = (
    "trọng số lớn hơn %(ratio)s lần trung vị được cắt về mức đó, phần vượt chia lại cho các "
    "phiếu khác theo tỷ lệ."
)
TRIM_EN = (
    "weights above %(ratio)s times the median are cut to that cap and the excess spread over "
    "the other responses in proportion."
)
NO_TRIM_VI = "trọng số không bị cắt."
NO_TRIM_EN = "weights are not trimmed."


def _ratio_text(ratio: float, decimal: str) -> str:
    return f"{ratio:g}".replace(".", decimal)


def trim_weights(
    weight: np.ndarray, responses: np.ndarray, ratio: float, *, max_rounds: int = 50
) -> tuple[np.ndarray, float]:
    """Cell weights trimmed at ``ratio`` times the median response weight, the total kept.

    The cap is fixed once, from the median of the untrimmed weights of the responses (each
    cell's weight counted once per response). Every weight above it is set to the cap and the
    weight cut off is spread over the untrimmed cells in proportion to their weighted counts,
    so that the sum of the weights stays the same; this is repeated until no weight exceeds the
    cap (Potter 1990; Valliant, Dever and Kreuter 2018, section 14.4). Returns the weights and
    the cap."""
    if ratio < 1:
        raise ValueError("the trimming ratio must be at least 1")
    used = (weight > 0) & (responses > 0)
    if not used.any():
        return weight.copy(), math.nan
    order = np.argsort(weight[used], kind="stable")
    w_sorted, n_sorted = weight[used][order], responses[used][order]
    cumulative = np.cumsum(n_sorted)
    total_n = cumulative[-1]
    # The median of the response weights (the mean of the two middle ones for an even count).
    low = w_sorted[np.searchsorted(cumulative, (total_n + 1) // 2)]
    high = w_sorted[np.searchsorted(cumulative, total_n // 2 + 1)]
    cap = float(ratio * (low + high) / 2)
    trimmed = weight.astype(float).copy()
    total = float((trimmed * responses)[used].sum())
    capped = np.zeros(len(weight), dtype=bool)
    for _ in range(max_rounds):
        over = used & ~capped & (trimmed > cap * (1 + 1e-12))
        if not over.any():
            break
        capped |= over
        trimmed[capped] = cap
        free = used & ~capped
        left = total - float((trimmed * responses)[capped].sum())
        free_total = float((trimmed * responses)[free].sum())
        if not free.any() or free_total <= 0:
            break
        trimmed[free] *= left / free_total
    return trimmed, cap


def weights_from_sample(
    sample: Responses | CellCounts,
    strata: Mapping[tuple[str, str], tuple[int, int]],
    *,
    trim_ratio: float | None = 3.5,
) -> Weighting:
    """Weights of a sampled round's responses.

    ``strata`` gives, per (unit, area) stratum, N_h (dossiers in the frame) and n_h (dossiers
    sampled); every sampled dossier is eligible (it was completed in the period). The design
    weight is d_h = N_h / n_h. The nonresponse adjustment works in weighting classes (Lohr 2022,
    section 8.5; Valliant, Dever and Kreuter 2018, section 13.3): a class is one stratum, or,
    for a unit with a stratum nobody from answered, all the strata of that unit together. In
    class c the respondents' weights are multiplied by

        sum over c's strata of n_h d_h  /  sum over c's strata of r_h d_h

    (r_h respondents), so that each class again represents its N_h; for a stratum with its own
    class that is w_h = N_h / r_h. Weights above ``trim_ratio`` times the median are then
    trimmed (``trim_weights``; None: no trimming). The variance follows the stratified design
    with N_h as the finite-population correction, treating the final weights as fixed, as R's
    ``svydesign(strata=, weights=, fpc=)`` does on the exported data.

    Responses in a cell that is no stratum are excluded and listed (``NOT_SAMPLED``); a merged
    stratum is listed (``CLASS_MERGED``); a unit none of whose strata has a respondent is not
    represented (``NO_RESPONSES``)."""
    counts = _sample(sample)
    frame: dict[tuple[str, str], tuple[int, int]] = {}
    for key, (population, drawn) in strata.items():
        if population < 1 or drawn < 0 or drawn > population:
            raise ValueError(f"stratum {key[0]}/{key[1]}: need 0 <= n_h <= N_h and N_h >= 1")
        frame[(str(key[0]), str(key[1]))] = (int(population), int(drawn))
    design = {k: big / small for k, (big, small) in frame.items() if small > 0}
    by_unit: dict[str, list[tuple[str, str]]] = {}
    for key in sorted(design):
        by_unit.setdefault(key[0], []).append(key)
    adjusted: dict[tuple[str, str], float] = {}
    issues: list[CellIssue] = []
    for keys in by_unit.values():
        merged = any(counts.get(k, 0) == 0 for k in keys)
        classes = [keys] if merged else [[k] for k in keys]
        for members in classes:
            drawn_total = sum(frame[k][1] * design[k] for k in members)
            answered_total = sum(counts.get(k, 0) * design[k] for k in members)
            for k in members:
                if counts.get(k, 0) == 0:
                    problem = (
                        CellProblem.CLASS_MERGED if answered_total > 0 else CellProblem.NO_RESPONSES
                    )
                    issues.append(CellIssue(problem, k[0], k[1], 0, float(frame[k][0])))
                elif answered_total > 0:
                    adjusted[k] = design[k] * drawn_total / answered_total
    keys = sorted(counts)
    n = np.array([counts[k] for k in keys], dtype=float)
    weight = np.array([adjusted.get(k, 0.0) for k in keys])
    issues += [
        CellIssue(CellProblem.NOT_SAMPLED, u, a, counts[(u, a)], math.nan)
        for u, a in keys
        if (u, a) not in design
    ]
    cap: float | None = None
    trimmed_responses: int | None = None
    trim_vi, trim_en = NO_TRIM_VI, NO_TRIM_EN
    if trim_ratio is not None:
        before = weight
        weight, cap = trim_weights(weight, n.astype(np.int64), trim_ratio)
        trimmed_responses = int(n[(before > 0) & (weight >= cap * (1 - 1e-12))].sum())
        trim_vi = TRIM_VI % {"ratio": _ratio_text(trim_ratio, ",")}
        trim_en = TRIM_EN % {"ratio": _ratio_text(trim_ratio, ".")}
    caveat_vi = SAMPLE_CAVEAT_VI % {"trim": trim_vi}
    caveat_en = SAMPLE_CAVEAT_EN % {"trim": trim_en}
    fpc = np.array([float(frame[k][0]) if k in frame else np.inf for k in keys])
    frame_keys = sorted(frame)
    represented = {k for k, w in zip(keys, weight, strict=True) if w > 0}
    represented_units = {u for u, _a in represented}
    return Weighting(
        method=WeightingMethod.SAMPLE,
        unit=tuple(k[0] for k in keys),
        area=tuple(k[1] for k in keys),
        responses=n.astype(np.int64),
        weight=weight,
        population=np.where(weight > 0, weight * n, math.nan),
        fpc=fpc,
        frame_unit=tuple(k[0] for k in frame_keys),
        frame_area=tuple(k[1] for k in frame_keys),
        frame_dossiers=np.array([frame[k][0] for k in frame_keys], dtype=float),
        diagnostics=WeightingDiagnostics(
            issues=tuple(issues),
            responses=int(n.sum()),
            responses_excluded=int(n[weight == 0].sum()),
            dossiers=float(sum(big for big, _small in frame.values())),
            dossiers_represented=float(
                sum(big for (u, _a), (big, _s) in frame.items() if u in represented_units)
            ),
            trim_cap=cap,
            trimmed_responses=trimmed_responses,
        ),
        caveat_vi=caveat_vi,
        caveat_en=caveat_en,
    )
