"""Sufficient statistics of a round for the satisfaction indices.

Every index of ``analysis.satisfaction`` is a linear combination of ratio estimators, one per
item j, p_j = sum_i w_i v_ij / sum_i w_i r_ij (v = satisfied indicator or score, r = answered).
Under the design stratified by unit x area cell, with responses (or desks within the cell) as
PSUs, its Taylor-linearised variance (Woodruff 1971; Binder 1983) and its design effect need,
for each block b (a cell, or a desk within a cell), only these unweighted sums:

    rows_b, psus_b            responses, and PSUs with responses in the block
    S_b = sum_i x_i           x_i = (s_i1..s_iK, y_i1..y_iK, r_i1..r_iK), length 3K:
                              s = answered and satisfied (0/1), y = the score if answered
                              (else 0), r = answered (0/1)
    T_b = sum_p t_p t_p'      over the block's PSUs, t_p = sum of x_i over the PSU's responses
    R_b = sum_i x_i x_i'      over responses (T_b itself when PSUs are responses)
    answering PSUs per item, and responses answering at least one item of each element, aspect
    and of the overall index

The weights are constant within a cell (N_h / n_h, or raked a_u b_a), so they enter afterwards
as one number per cell: the statistics do not depend on the weighting.

Memory need not grow with responses. The statistics add up over any split of the responses
that keeps every PSU whole (``merge_stats``): read the round unit by unit, or in chunks of
response ids when PSUs are responses, call ``cell_stats`` on each chunk and merge. A database
can also compute them itself: per (unit, area) GROUP BY, ``count(*)``, for every item
``count(a_j)``, ``sum(sat_j)``, ``sum(a_j)`` and for every pair of columns of x the sum of
products (a self-join of the answers table on response id, or conditional aggregation over a
pivot); with desks as PSUs, first GROUP BY (unit, area, desk) to get the t_p, then the sums of
their products per cell. Feed the arrays to ``CellStats(...)`` and
``analysis.satisfaction.index_table_from_stats``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.satisfaction.inputs import CellCount, ItemRole, Responses, TemplateSpec, choose

# Sums of products of small whole numbers are exact in float32 below 2**24, in any order.
_EXACT_FLOAT32 = 2.0**24


class PSU(enum.StrEnum):
    """The primary sampling units within each cell."""

    RESPONSE = "response"  # each response is its own PSU (the default)
    DESK = "desk"  # desks within the cell are clusters (ultimate-cluster variance)


def groups_of(template: TemplateSpec) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and (K x G) item supports of the composites that span several items: every
    element, every aspect and the overall index, in that order.

    Parameters
    ----------
    template : TemplateSpec
        The questionnaire version.

    Returns
    -------
    tuple[tuple[str, ...], numpy.ndarray]
        The composites' names and their (K x G) item supports.
    """
    codes = template.codes
    names: list[str] = []
    supports: list[np.ndarray] = []
    element_support: dict[str, np.ndarray] = {}
    for element in template.elements:
        support = np.isin(codes, element.items)
        element_support[element.code] = support
        names.append(f"element:{element.code}")
        supports.append(support)
    for aspect in template.aspects:
        names.append(f"aspect:{aspect.code}")
        supports.append(np.any([element_support[e] for e in aspect.elements], axis=0))
    names.append("overall")
    supports.append(np.array([i.role == ItemRole.CRITERION for i in template.items]))
    return tuple(names), np.column_stack(supports)


@dataclass(frozen=True, eq=False)
class CellStats:
    """Unweighted sufficient statistics per block (see the module docstring). Blocks are cells
    when ``desk`` is None, desks within cells otherwise. Arrays: ``rows``, ``psus`` (B,);
    ``answering_psus`` (B, K); ``answering_any`` (B, G) for ``groups``; ``sums`` (B, 3K);
    ``cross`` (B, 3K, 3K) = sum over PSUs of t t'; ``cross_rows`` the same over responses, or
    None when PSUs are responses (then it equals ``cross``)."""

    items: tuple[str, ...]
    groups: tuple[str, ...]
    psu: PSU
    unit: np.ndarray
    area: np.ndarray
    desk: np.ndarray | None
    rows: np.ndarray
    psus: np.ndarray
    answering_psus: np.ndarray
    answering_any: np.ndarray
    sums: np.ndarray
    cross: np.ndarray
    cross_rows: np.ndarray | None

    def __post_init__(self) -> None:
        psu = choose(PSU, self.psu, "psu")
        k, g = len(self.items), len(self.groups)
        unit, area = np.asarray(self.unit).astype(str), np.asarray(self.area).astype(str)
        b = len(unit)
        shapes = {
            "area": (np.asarray(self.area).shape, (b,)),
            "rows": (np.shape(self.rows), (b,)),
            "psus": (np.shape(self.psus), (b,)),
            "answering_psus": (np.shape(self.answering_psus), (b, k)),
            "answering_any": (np.shape(self.answering_any), (b, g)),
            "sums": (np.shape(self.sums), (b, 3 * k)),
            "cross": (np.shape(self.cross), (b, 3 * k, 3 * k)),
        }
        if self.cross_rows is not None:
            shapes["cross_rows"] = (np.shape(self.cross_rows), (b, 3 * k, 3 * k))
        if self.desk is not None:
            shapes["desk"] = (np.shape(self.desk), (b,))
        for name, (got, wanted) in shapes.items():
            if got != wanted:
                raise ValueError(f"cell statistics: {name} has shape {got}, expected {wanted}")
        if psu == PSU.DESK and self.cross_rows is None:
            raise ValueError("cell statistics with desks as PSUs need cross_rows")
        rows = np.asarray(self.rows, dtype=np.int64)
        psus = np.asarray(self.psus, dtype=np.int64)
        if (rows < 1).any() or (psus < 1).any() or (psus > rows).any():
            raise ValueError("cell statistics: every block needs 1 <= psus <= rows")
        keys = np.char.add(np.char.add(unit, "\x1f"), area)
        if self.desk is not None:
            keys = np.char.add(np.char.add(keys, "\x1f"), np.asarray(self.desk).astype(str))
        if len(np.unique(keys)) != b:
            raise ValueError("cell statistics: a block is listed twice")
        object.__setattr__(self, "psu", psu)
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "area", area)
        if self.desk is not None:
            object.__setattr__(self, "desk", np.asarray(self.desk).astype(str))
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "psus", psus)
        for name in ("answering_psus", "answering_any"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        object.__setattr__(self, "sums", np.asarray(self.sums, dtype=np.float64))
        # Cross-products may stay float32 (exact for the sums of small whole numbers that
        # cell_stats produces): they are the bulk of the memory.
        for name in ("cross", "cross_rows"):
            value = getattr(self, name)
            if value is not None:
                array = np.asarray(value)
                if array.dtype not in (np.float32, np.float64):
                    array = array.astype(np.float64)
                object.__setattr__(self, name, array)

    @property
    def blocks(self) -> int:
        return len(self.unit)

    @property
    def response_level(self) -> np.ndarray:
        """sum over responses of x x' per block (R_b)."""
        return self.cross if self.cross_rows is None else self.cross_rows

    def cell_counts(self) -> tuple[CellCount, ...]:
        """Responses per unit x area cell: the n of the weights w = N / n."""
        cells = self.by_cell()
        return tuple(
            CellCount(u, a, int(n))
            for u, a, n in zip(
                cells.unit.tolist(), cells.area.tolist(), cells.rows.tolist(), strict=True
            )
        )

    def by_cell(self) -> CellStats:
        """The same statistics summed over the desks of each cell (made once per object: the
        statistics never change once made)."""
        if self.desk is None:
            return self
        found: CellStats | None = self.__dict__.get("_by_cell")
        if found is None:
            found = _aggregate(self, with_desk=False)
            object.__setattr__(self, "_by_cell", found)
        return found


def _group(*labels: np.ndarray) -> np.ndarray:
    """One integer per distinct combination of ``labels``, ordered as the combinations."""
    key = np.zeros(len(labels[0]), dtype=np.int64)
    for label in labels:
        _distinct, rank = np.unique(label, return_inverse=True)
        key = key * (int(rank.max(initial=0)) + 1) + rank.reshape(-1)
    return key


def _aggregate(stats: CellStats, *, with_desk: bool) -> CellStats:
    by = [stats.unit, stats.area]
    if with_desk and stats.desk is not None:
        by.append(stats.desk)
    labels, first, group = np.unique(_group(*by), return_index=True, return_inverse=True)
    # Blocks in group order, each group's run summed at once (np.add.at, unbuffered, and
    # labels joined as strings took most of a page's time after a new response).
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(len(labels)))

    def total(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[order], starts, axis=0)

    return CellStats(
        items=stats.items,
        groups=stats.groups,
        psu=stats.psu,
        unit=stats.unit[first],
        area=stats.area[first],
        desk=stats.desk[first] if with_desk and stats.desk is not None else None,
        rows=total(stats.rows),
        psus=total(stats.psus),
        answering_psus=total(stats.answering_psus),
        answering_any=total(stats.answering_any),
        sums=total(stats.sums),
        cross=total(stats.cross),
        cross_rows=None if stats.cross_rows is None else total(stats.cross_rows),
    )


def merge_stats(parts: Sequence[CellStats]) -> CellStats:
    """Statistics of the union of disjoint sets of responses. Valid when no PSU is split
    between parts (always, with responses as PSUs); a desk block that appears in two parts
    under desk PSUs is refused, since its PSU total would be split.

    Parameters
    ----------
    parts : Sequence[CellStats]
        Statistics of disjoint sets of responses.

    Returns
    -------
    CellStats
        The statistics of their union.

    Raises
    ------
    ValueError
        When a desk block appears in two parts under desk PSUs.
    """
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    for part in parts[1:]:
        if (part.items, part.groups, part.psu) != (first.items, first.groups, first.psu):
            raise ValueError("cannot merge statistics of different templates or PSU choices")
        if (part.desk is None) != (first.desk is None):
            raise ValueError("cannot merge statistics per cell with statistics per desk")
    if len(parts) == 2 and first.psu == PSU.RESPONSE:
        added = _added_in_place(first, parts[1])
        if added is not None:
            return added

    def join(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    stacked = CellStats.__new__(CellStats)
    # Built field by field: the concatenation may repeat a block, which the constructor refuses.
    for name in ("items", "groups", "psu"):
        object.__setattr__(stacked, name, getattr(first, name))
    for name in (
        "unit",
        "area",
        "rows",
        "psus",
        "answering_psus",
        "answering_any",
        "sums",
        "cross",
    ):
        object.__setattr__(stacked, name, join(name))
    object.__setattr__(stacked, "desk", None if first.desk is None else join("desk"))
    object.__setattr__(
        stacked, "cross_rows", None if first.cross_rows is None else join("cross_rows")
    )
    if first.psu == PSU.DESK and first.desk is not None:
        keys = np.char.add(np.char.add(stacked.unit, "\x1f"), stacked.area)
        keys = np.char.add(np.char.add(keys, "\x1f"), stacked.desk)  # type: ignore[arg-type]  # desk set above
        if len(np.unique(keys)) != len(keys):
            raise ValueError("a desk (a PSU) appears in two parts: merge whole desks only")
    return _aggregate(stacked, with_desk=first.desk is not None)


_ADDED = ("rows", "psus", "answering_psus", "answering_any", "sums", "cross")


def _added_in_place(base: CellStats, extra: CellStats) -> CellStats | None:
    """``base`` plus ``extra`` when every block of ``extra`` is already one of ``base``'s (a
    few new responses folded into a round's statistics): the blocks keep their order and
    only theirs are added to, instead of sorting and summing every block again. None when
    ``extra`` has a block ``base`` lacks. Valid with responses as PSUs (no PSU is split)."""
    desks = (lambda s: s.desk.tolist()) if base.desk is not None else (lambda s: [""] * s.blocks)
    index = {
        key: b
        for b, key in enumerate(
            zip(base.unit.tolist(), base.area.tolist(), desks(base), strict=True)
        )
    }
    if len(index) != base.blocks or base.cross_rows is not None or extra.cross_rows is not None:
        return None
    keys = zip(extra.unit.tolist(), extra.area.tolist(), desks(extra), strict=True)
    at = [index.get(key) for key in keys]
    if any(b is None for b in at) or len(set(at)) != len(at):
        return None
    where = np.array(at, dtype=np.int64)
    merged = CellStats.__new__(CellStats)
    for name in ("items", "groups", "psu", "unit", "area", "desk"):
        object.__setattr__(merged, name, getattr(base, name))
    for name in _ADDED:
        total = getattr(base, name).copy()
        total[where] += getattr(extra, name)
        object.__setattr__(merged, name, total)
    object.__setattr__(merged, "cross_rows", None)
    # The sums per cell follow: added to in place too when the base's are already made.
    per_cell: CellStats | None = base.__dict__.get("_by_cell")
    if per_cell is not None and base.desk is not None:
        cells = _added_in_place(per_cell, extra.by_cell())
        if cells is not None:
            object.__setattr__(merged, "_by_cell", cells)
    return merged


def indicator_matrix(answers: np.ndarray, template: TemplateSpec, dtype: type) -> np.ndarray:
    """x_i for every response: (n, 3K) with the s, y and r blocks (see the module docstring).

    Parameters
    ----------
    answers : numpy.ndarray
        (n, K) answers, NaN where not answered.
    template : TemplateSpec
        The questionnaire version.
    dtype : numpy.dtype
        The matrix's type.

    Returns
    -------
    numpy.ndarray
        (n, 3K) indicators: satisfied, score and answered blocks.
    """
    n, k = answers.shape
    x = np.empty((n, 3 * k), dtype=dtype)
    answered = ~np.isnan(answers)
    x[:, 2 * k :] = answered
    x[:, k : 2 * k] = np.where(answered, answers, 0.0)
    # Items sharing a set of satisfied values (usually all of them) are tested together.
    by_set: dict[tuple[float, ...], list[int]] = {}
    for j, item in enumerate(template.items):
        by_set.setdefault(item.satisfied, []).append(j)
    for values, columns in by_set.items():
        if len(columns) == k:
            x[:, :k] = np.isin(answers, values)
        else:
            x[:, columns] = np.isin(answers[:, columns], values)
    return x


def _exact_dtype(template: TemplateSpec, largest_block: int) -> type:
    values = np.concatenate([np.asarray(i.scale) for i in template.items])
    integral = bool(np.all(values == np.round(values)))
    top = float(max(1.0, np.abs(values).max()))
    return np.float32 if integral and largest_block * top * top < _EXACT_FLOAT32 else np.float64


def cell_stats(
    responses: Responses,
    template: TemplateSpec,
    *,
    psu: PSU | str = PSU.RESPONSE,
    by_desk: bool = False,
    rows: np.ndarray | None = None,
) -> CellStats:
    """The statistics of ``responses`` (or of the ``rows`` selected by a boolean mask or index
    array) per cell, or per desk within each cell when ``by_desk``.

    Parameters
    ----------
    responses : Responses
        The responses.
    template : TemplateSpec
        The questionnaire version.
    psu : PSU | str
        Responses or desks as PSUs.
    by_desk : bool
        Per desk within each cell (needed for desk-level indices).
    rows : numpy.ndarray | None
        A boolean mask or index array of the rows to use.

    Returns
    -------
    CellStats
        Counts, sums and cross-products per cell (or desk).
    """
    chosen = choose(PSU, psu, "psu")
    if responses.items != template.codes:
        raise ValueError("the responses were built for a different template")
    if (chosen == PSU.DESK or by_desk) and responses.desk is None:
        raise ValueError("desk codes are needed for desks as PSUs or for desk statistics")
    if rows is None:
        selected = np.arange(responses.n)
    else:
        chosen_rows = np.asarray(rows)
        if chosen_rows.dtype == bool:
            if chosen_rows.shape != (responses.n,):
                raise ValueError("a row mask needs one value per response")
            selected = np.flatnonzero(chosen_rows)
        else:
            selected = chosen_rows.astype(np.int64)
            if len(np.unique(selected)) != len(selected):
                raise ValueError("a response is selected twice")
    if len(selected) == 0:
        raise ValueError("no responses selected")
    n_areas = len(responses.area_labels)
    cell = responses.unit[selected] * n_areas + responses.area[selected]
    desk = responses.desk[selected] if responses.desk is not None else None
    if by_desk:
        assert desk is not None  # checked above  # noqa: S101
        key = desk * (cell.max() + 1) + cell
    else:
        key = cell
    if chosen == PSU.DESK:
        assert desk is not None  # checked above  # noqa: S101
        order = np.lexsort((desk, key))
    else:
        order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], len(order)]
    dtype = _exact_dtype(template, int((ends - starts).max()))
    x = indicator_matrix(
        responses.answers if rows is None else responses.answers[selected], template, dtype
    )
    group_names, supports = groups_of(template)
    k = len(template.items)
    answered = x[:, 2 * k :] > 0
    any_answer = np.column_stack([answered[:, s].any(axis=1) for s in supports.T])
    blocks = len(starts)
    sums = np.empty((blocks, 3 * k))
    cross_rows: np.ndarray = np.empty((blocks, 3 * k, 3 * k), dtype=dtype)
    cross = cross_rows if chosen == PSU.RESPONSE else np.empty((blocks, 3 * k, 3 * k))
    psus = (ends - starts).astype(np.int64)
    answering_psus = np.empty((blocks, k), dtype=np.int64)
    answering_any = np.add.reduceat(any_answer[order].astype(np.int64), starts, axis=0)
    for b, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        index = order[start:end]
        xb = x[index]
        sums[b] = xb.sum(axis=0, dtype=np.float64)
        np.matmul(xb.T, xb, out=cross_rows[b])
        if chosen == PSU.DESK:
            assert desk is not None  # noqa: S101
            d = desk[index]
            cut = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
            totals = np.add.reduceat(xb.astype(np.float64), cut, axis=0)
            np.matmul(totals.T, totals, out=cross[b])
            psus[b] = len(cut)
            answering_psus[b] = (totals[:, 2 * k :] > 0).sum(axis=0)
    if chosen == PSU.RESPONSE:
        answering_psus[:] = sums[:, 2 * k :]
    first = selected[order[starts]]
    return CellStats(
        items=template.codes,
        groups=group_names,
        psu=chosen,
        unit=np.asarray(responses.unit_labels)[responses.unit[first]],
        area=np.asarray(responses.area_labels)[responses.area[first]],
        desk=(
            np.asarray(responses.desk_labels)[responses.desk[first]]
            if by_desk and responses.desk is not None and responses.desk_labels is not None
            else None
        ),
        rows=ends - starts,
        psus=psus,
        answering_psus=answering_psus,
        answering_any=answering_any,
        sums=sums,
        cross=cross,
        cross_rows=None if chosen == PSU.RESPONSE else cross_rows,
    )


def keep_blocks(stats: CellStats, keep: np.ndarray) -> CellStats | None:
    """The statistics of the blocks where ``keep`` (a boolean per block) is true: what is left
    when some cells are dropped to be recomputed. None when no block is kept.

    Parameters
    ----------
    stats : CellStats
        Statistics per cell or per desk within cell.
    keep : numpy.ndarray
        (B,) booleans, one per block.

    Returns
    -------
    CellStats | None
        The kept blocks, or None.
    """
    chosen = np.asarray(keep, dtype=bool)
    if chosen.shape != (stats.blocks,):
        raise ValueError("keep needs one boolean per block")
    if not chosen.any():
        return None

    def part(value: np.ndarray | None) -> np.ndarray | None:
        return None if value is None else value[chosen]

    return CellStats(
        items=stats.items,
        groups=stats.groups,
        psu=stats.psu,
        unit=stats.unit[chosen],
        area=stats.area[chosen],
        desk=part(stats.desk),
        rows=stats.rows[chosen],
        psus=stats.psus[chosen],
        answering_psus=stats.answering_psus[chosen],
        answering_any=stats.answering_any[chosen],
        sums=stats.sums[chosen],
        cross=stats.cross[chosen],
        cross_rows=part(stats.cross_rows),
    )


STAT_ARRAYS = ("unit", "area", "rows", "psus", "answering_psus", "answering_any", "sums", "cross")


def stats_to_arrays(stats: CellStats) -> dict[str, np.ndarray]:
    """Plain arrays (no Python objects) that ``stats_from_arrays`` turns back into ``stats``:
    for ``numpy.savez`` and ``numpy.load(allow_pickle=False)``. Cross-products are stored in
    float64, so sums over many merges stay exact.

    Parameters
    ----------
    stats : CellStats
        The statistics.

    Returns
    -------
    dict[str, numpy.ndarray]
        Named arrays.
    """
    arrays = {name: np.asarray(getattr(stats, name)) for name in STAT_ARRAYS}
    arrays["unit"] = arrays["unit"].astype(str)
    arrays["area"] = arrays["area"].astype(str)
    arrays["cross"] = arrays["cross"].astype(np.float64)
    arrays["items"] = np.asarray(stats.items, dtype=str)
    arrays["groups"] = np.asarray(stats.groups, dtype=str)
    arrays["psu"] = np.asarray([str(stats.psu)], dtype=str)
    if stats.desk is not None:
        arrays["desk"] = np.asarray(stats.desk).astype(str)
    if stats.cross_rows is not None:
        arrays["cross_rows"] = stats.cross_rows.astype(np.float64)
    return arrays


def stats_from_arrays(arrays: dict[str, np.ndarray]) -> CellStats:
    """The statistics ``stats_to_arrays`` wrote (checked again by ``CellStats``).

    Parameters
    ----------
    arrays : dict[str, numpy.ndarray]
        Named arrays from ``stats_to_arrays``.

    Returns
    -------
    CellStats
        The statistics.
    """
    return CellStats(
        items=tuple(str(s) for s in arrays["items"].tolist()),
        groups=tuple(str(s) for s in arrays["groups"].tolist()),
        psu=PSU(str(arrays["psu"][0])),
        unit=arrays["unit"],
        area=arrays["area"],
        desk=arrays.get("desk"),
        rows=arrays["rows"],
        psus=arrays["psus"],
        answering_psus=arrays["answering_psus"],
        answering_any=arrays["answering_any"],
        sums=arrays["sums"],
        cross=arrays["cross"].astype(np.float64),
        cross_rows=arrays.get("cross_rows"),
    )
