"""The index table of a round, from its responses (``index_table``) or from sufficient statistics
computed chunk by chunk or in the database (``index_table_from_stats``): every criterion,
element, aspect and overall index for every domain of the levels asked for, each measure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis.design import LonelyPSU
from analysis.intervals import CIMethod
from analysis.satisfaction.composites import _Composites, _composites
from analysis.satisfaction.inputs import (
    IndexDefinition,
    Responses,
    TemplateSpec,
    choose,
)
from analysis.satisfaction.stats import PSU, CellStats, cell_stats, groups_of
from analysis.satisfaction.table import _BIT, DEFAULT_LEVELS, IndexTable, Level
from analysis.satisfaction.variance import _cells, _levels_of, _Options
from analysis.weighting import (
    Weighting,
    WeightingMethod,
)

Subtrees = Mapping[str, tuple[str, ...]]
_LEVEL_WIDTH = max(len(level.value) for level in Level)


def subtrees_from_parents(parents: Mapping[str, str | None]) -> dict[str, tuple[str, ...]]:
    """The subtree of every unit that has sub-units, from each unit's parent.

    Parameters
    ----------
    parents
        Unit code -> code of the unit directly above it (None or "" for a top unit). Units
        named only as parents are taken as top units.

    Returns
    -------
    dict
        Unit code -> codes of the unit and of every unit below it (sorted), for the units with
        at least one sub-unit: the ``subtrees`` of ``index_table``.

    Raises
    ------
    ValueError
        When the parents form a cycle.
    """
    children: dict[str, list[str]] = {}
    for unit, parent in parents.items():
        if parent:
            children.setdefault(str(parent), []).append(str(unit))
    out: dict[str, tuple[str, ...]] = {}
    for top in sorted(children):
        seen = {top}
        stack = list(children[top])
        while stack:
            unit = stack.pop()
            if unit in seen:
                raise ValueError(f"the units' parents form a cycle through {unit!r}")
            seen.add(unit)
            stack.extend(children.get(unit, ()))
        out[top] = tuple(sorted(seen))
    return out


def _subtrees(
    subtrees: Mapping[str, Iterable[str]] | None, levels: tuple[Level, ...]
) -> Subtrees | None:
    """The trees of units with sub-units (the unit itself added), for ``Level.UNIT_TREE``."""
    if Level.UNIT_TREE not in levels:
        return None
    if subtrees is None:
        raise ValueError("unit_tree rows need the subtrees of the units (subtrees=...)")
    if isinstance(subtrees, str) or not isinstance(subtrees, Mapping):
        raise ValueError("subtrees must map a unit code to the codes of its subtree")
    out: dict[str, tuple[str, ...]] = {}
    for unit, members in subtrees.items():
        if isinstance(members, str):
            raise ValueError(f"the subtree of {unit!r} must be a list of unit codes")
        tree = tuple(sorted({str(unit), *(str(m) for m in members)}))
        if len(tree) > 1:  # only units with sub-units are reported twice
            out[str(unit)] = tree
    return out


def _frame_totals(
    level: Level,
    weighting: Weighting,
    unit: np.ndarray,
    area: np.ndarray,
    subtrees: Subtrees | None = None,
) -> np.ndarray:
    """Dossiers of the frame in each domain (NaN when there is no frame: raking, desks)."""
    if weighting.method == WeightingMethod.RAKING or level == Level.DESK:
        return np.full(len(unit), np.nan)
    if level == Level.UNIT_TREE:
        own: dict[str, float] = {}
        for u, count in zip(weighting.frame_unit, weighting.frame_dossiers.tolist(), strict=True):
            own[u] = own.get(u, 0.0) + count
        trees = subtrees or {}
        return np.array([sum(own.get(m, 0.0) for m in trees.get(u, (u,))) for u in unit.tolist()])
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
            "level": np.full(d_count * per_domain, level.value, dtype=f"<U{_LEVEL_WIDTH}"),
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
        for name in _COLUMNS:  # no domain at all (unit trees without responses)
            joined.setdefault(name, np.array([], dtype=str if name in _TEXT else float))
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


_TEXT = ("level", "unit", "area", "desk", "kind", "index", "measure", "ci_method")
_COLUMNS = (
    *_TEXT,
    "estimate",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "n",
    "n_answering",
    "n_excluded",
    "n_eff",
    "deff",
    "coverage",
    "flag_bits",
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
    subtrees: Mapping[str, Iterable[str]] | None = None,
) -> IndexTable:
    """The index table from sufficient statistics (``analysis.satisfaction.stats``), per cell,
    or per desk within cell (needed for ``Level.DESK``). The options are those of
    ``index_table``; the PSUs are those the statistics were computed with.

    Parameters
    ----------
    stats : CellStats
        Sufficient statistics per cell (or per desk within cell).
    template : TemplateSpec
        The questionnaire version.
    weighting : Weighting
        The cells' weights.
    levels : Sequence[Level | str]
        The domains' levels.
    measures : Sequence[IndexDefinition | str] | None
        The measures.
    lonely_psu : LonelyPSU | str
        What a single-PSU cell contributes.
    ci : CIMethod | str
        The interval of criterion proportions.
    confidence : float
        Confidence level.
    subtrees : Mapping[str, Iterable[str]] | None
        Unit code -> its subtree's codes, for ``Level.UNIT_TREE``.

    Returns
    -------
    IndexTable
        Every index of every domain, equal to ``index_table`` on the same responses.
    """
    _check_stats(stats, template)
    chosen = _levels(levels)
    trees = _subtrees(subtrees, chosen)
    if Level.DESK in chosen and stats.desk is None:
        raise ValueError("desk-level indices need statistics per desk (cell_stats(by_desk=True))")
    options = _options(template, measures, ci, confidence, lonely_psu)
    comp = _composites(template)
    per_cell = stats.by_cell()
    cells = _cells(per_cell, weighting, stats.psu, options.lonely_psu)
    parts = _Parts()
    cell_levels = [level for level in chosen if level != Level.DESK]
    for level, labels, block in _levels_of(per_cell, cells, cell_levels, comp, options, trees):
        frame = _frame_totals(level, weighting, *labels[:2], trees)
        parts.add(level, labels, frame, block, comp, options)
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
    subtrees: Mapping[str, Iterable[str]] | None = None,
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
    ``desk_blocks_per_chunk`` desk x cell blocks, so their memory stays bounded.

    ``subtrees`` (needed for ``Level.UNIT_TREE``, ignored otherwise): unit code -> the codes
    of every unit in its subtree (the unit itself included or not), e.g. from
    ``subtrees_from_parents``. Each unit with at least one sub-unit gets ``unit_tree`` rows
    (``unit`` = its code): the unit and its whole subtree estimated as one domain of the same
    design, the union of their cells, never an average of the sub-units' indices; the same
    columns as its ``unit`` rows. Trees without responses get no row.

    Parameters
    ----------
    responses : Responses
        The counted responses.
    template : TemplateSpec
        The questionnaire version.
    weighting : Weighting
        The responses' weights.
    levels : Sequence[Level | str]
        The domains' levels (default: province, unit, area, cell).
    measures : Sequence[IndexDefinition | str] | None
        The measures.
    psu : PSU | str
        Responses or desks as PSUs.
    lonely_psu : LonelyPSU | str
        What a single-PSU cell contributes.
    ci : CIMethod | str
        The interval of criterion proportions.
    confidence : float
        Confidence level.
    desk_blocks_per_chunk : int
        Desk x cell blocks computed at once.
    subtrees : Mapping[str, Iterable[str]] | None
        Unit code -> its subtree's codes.

    Returns
    -------
    IndexTable
        Every index of every domain with its interval, n and flags.
    """
    if responses.items != template.codes:
        raise ValueError("the responses were built for a different template (item codes)")
    chosen = _levels(levels)
    trees = _subtrees(subtrees, chosen)
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
    for level, labels, block in _levels_of(per_cell, cells, cell_levels, comp, options, trees):
        frame = _frame_totals(level, weighting, *labels[:2], trees)
        parts.add(level, labels, frame, block, comp, options)
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
    columns = {name: getattr(table, name)[order] for name in _COLUMNS}
    return IndexTable(
        **columns,
        confidence=table.confidence,
        headline=table.headline,
        weighting=table.weighting,
        psu=table.psu,
        lonely_psu=table.lonely_psu,
    )
