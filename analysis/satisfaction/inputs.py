"""What the satisfaction layer reads, coerced once: a questionnaire template, a round's responses
and the dossier counts of its unit x service area cells (shared/domain.md, "The instruments").

A template is a tree: aspects hold elements, elements hold criteria (items). Each item has a
scale (the answer values it accepts) and the values that count as "satisfied" (4 and 5 on the
5-level scale). At most one item is the overall question, which is reported beside the index and
never mixed into it. How the index is defined (top-2-box percent, mean score, or mean score /
scale maximum x 100) belongs to the template.

Responses are one row per counted response: its id, unit, service area, optionally desk, and one
answer per item, NaN for blank or not applicable ("not applicable" is not a score, so it is never
in a denominator). Everything here raises ``ValueError`` with a message that names the problem;
nothing downstream re-checks.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np


class IndexDefinition(enum.StrEnum):
    """How a criterion index is computed; the same values as the web app's template versions."""

    TOP2BOX = "top2box"  # weighted share answering a satisfied value, in percent
    MEAN = "mean"  # weighted mean score on the item's scale
    MEAN_PCT = "mean_pct"  # weighted mean score / scale maximum x 100


class ItemRole(enum.StrEnum):
    CRITERION = "criterion"  # counts in its element's index
    OVERALL = "overall"  # the overall question: reported beside the overall index


SATISFACTION_5: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)

E = TypeVar("E", bound=enum.Enum)


def choose(kind: type[E], value: object, what: str) -> E:
    """``kind(value)`` or a ValueError that lists the accepted values.

    Parameters
    ----------
    kind : type[E]
        The enumeration.
    value : E | str
        A member or its value.
    what : str
        What the value is, for the message.

    Returns
    -------
    E
        The member.

    Raises
    ------
    ValueError
        Listing the accepted values.
    """
    try:
        return kind(value)
    except ValueError:
        accepted = ", ".join(str(m.value) for m in kind)
        raise ValueError(f"{what} must be one of {accepted}, not {value!r}") from None


def _code(value: object, what: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(f"{what} needs a non-empty code")
    return text


def _values(values: Iterable[object], what: str) -> tuple[float, ...]:
    try:
        out = tuple(sorted({float(v) for v in values}))  # type: ignore[arg-type]  # checked here
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers") from None
    if not out or not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what} must be a non-empty list of finite numbers")
    return out


@dataclass(frozen=True)
class ItemSpec:
    """One scored question: its code, the answer values of its scale, the values that count as
    satisfied, and whether it is a criterion or the overall question."""

    code: str
    scale: tuple[float, ...] = SATISFACTION_5
    satisfied: tuple[float, ...] = (4.0, 5.0)
    role: ItemRole = ItemRole.CRITERION

    def __post_init__(self) -> None:
        code = _code(self.code, "an item")
        scale = _values(self.scale, f"item {code}: the scale")
        satisfied = _values(self.satisfied, f"item {code}: the satisfied values")
        if not set(satisfied) <= set(scale):
            raise ValueError(
                f"item {code}: satisfied values {_show(satisfied)} are not all on its scale "
                f"{_show(scale)}"
            )
        if scale[-1] <= 0:
            raise ValueError(f"item {code}: the scale maximum must be positive")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "satisfied", satisfied)
        object.__setattr__(self, "role", choose(ItemRole, self.role, f"item {code}: role"))

    @property
    def minimum(self) -> float:
        return self.scale[0]

    @property
    def maximum(self) -> float:
        return self.scale[-1]


def _show(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


@dataclass(frozen=True)
class ElementSpec:
    """An element (yếu tố) and the codes of its criteria."""

    code: str
    items: tuple[str, ...]

    def __post_init__(self) -> None:
        code = _code(self.code, "an element")
        items = tuple(_code(i, f"element {code}: an item") for i in self.items)
        if not items:
            raise ValueError(f"element {code} has no criteria")
        if len(set(items)) != len(items):
            raise ValueError(f"element {code} lists a criterion twice")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "items", items)


@dataclass(frozen=True)
class AspectSpec:
    """An aspect (khía cạnh) and the codes of its elements."""

    code: str
    elements: tuple[str, ...]

    def __post_init__(self) -> None:
        code = _code(self.code, "an aspect")
        elements = tuple(_code(e, f"aspect {code}: an element") for e in self.elements)
        if not elements:
            raise ValueError(f"aspect {code} has no elements")
        if len(set(elements)) != len(elements):
            raise ValueError(f"aspect {code} lists an element twice")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "elements", elements)


@dataclass(frozen=True)
class TemplateSpec:
    """A frozen questionnaire version as the analysis sees it.

    ``items`` are the scored items in questionnaire order (criteria and at most one overall
    question); answers arrive in this order. Every criterion belongs to exactly one element and
    every element to exactly one aspect."""

    items: tuple[ItemSpec, ...]
    elements: tuple[ElementSpec, ...]
    aspects: tuple[AspectSpec, ...]
    index_definition: IndexDefinition = IndexDefinition.TOP2BOX

    def __post_init__(self) -> None:
        items, elements, aspects = tuple(self.items), tuple(self.elements), tuple(self.aspects)
        if not all(isinstance(i, ItemSpec) for i in items):
            raise ValueError("template items must be ItemSpec")
        codes = [i.code for i in items]
        _unique(codes, "item")
        _unique([e.code for e in elements], "element")
        _unique([a.code for a in aspects], "aspect")
        overall = [i.code for i in items if i.role == ItemRole.OVERALL]
        if len(overall) > 1:
            raise ValueError(f"a template has at most one overall question, not {overall}")
        criteria = {i.code for i in items if i.role == ItemRole.CRITERION}
        if not criteria:
            raise ValueError("a template needs at least one criterion")
        placed: dict[str, str] = {}
        for element in elements:
            for code in element.items:
                if code not in criteria:
                    what = "the overall question" if code in overall else "not a criterion"
                    raise ValueError(f"element {element.code} lists {code}, which is {what}")
                if code in placed:
                    raise ValueError(
                        f"criterion {code} is in elements {placed[code]} and {element.code}"
                    )
                placed[code] = element.code
        unplaced = sorted(criteria - set(placed))
        if unplaced:
            raise ValueError(f"criteria not in any element: {', '.join(unplaced)}")
        element_codes = {e.code for e in elements}
        in_aspect: dict[str, str] = {}
        for aspect in aspects:
            for code in aspect.elements:
                if code not in element_codes:
                    raise ValueError(f"aspect {aspect.code} lists unknown element {code}")
                if code in in_aspect:
                    raise ValueError(
                        f"element {code} is in aspects {in_aspect[code]} and {aspect.code}"
                    )
                in_aspect[code] = aspect.code
        orphans = sorted(element_codes - set(in_aspect))
        if orphans:
            raise ValueError(f"elements not in any aspect: {', '.join(orphans)}")
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "elements", elements)
        object.__setattr__(self, "aspects", aspects)
        object.__setattr__(
            self,
            "index_definition",
            choose(IndexDefinition, self.index_definition, "index_definition"),
        )

    @classmethod
    def from_tree(
        cls,
        tree: Mapping[str, Mapping[str, Sequence[str | ItemSpec]]],
        *,
        overall: str | ItemSpec | None = None,
        index_definition: IndexDefinition | str = IndexDefinition.TOP2BOX,
    ) -> TemplateSpec:
        """``{aspect: {element: [criterion code or ItemSpec, ...]}}``, criteria on the 5-level
        scale unless given as ``ItemSpec``; ``overall`` names the overall question."""
        items: list[ItemSpec] = []
        elements: list[ElementSpec] = []
        aspects: list[AspectSpec] = []
        for aspect, members in tree.items():
            aspects.append(AspectSpec(aspect, tuple(members)))
            for element, criteria in members.items():
                specs = [c if isinstance(c, ItemSpec) else ItemSpec(c) for c in criteria]
                items.extend(specs)
                elements.append(ElementSpec(element, tuple(s.code for s in specs)))
        if overall is not None:
            spec = overall if isinstance(overall, ItemSpec) else ItemSpec(overall)
            items.append(ItemSpec(spec.code, spec.scale, spec.satisfied, role=ItemRole.OVERALL))
        return cls(
            tuple(items),
            tuple(elements),
            tuple(aspects),
            choose(IndexDefinition, index_definition, "index_definition"),
        )

    @property
    def codes(self) -> tuple[str, ...]:
        """Item codes in the order of the answer columns."""
        return tuple(i.code for i in self.items)

    @property
    def overall_item(self) -> ItemSpec | None:
        return next((i for i in self.items if i.role == ItemRole.OVERALL), None)

    def column(self, code: str) -> int:
        try:
            return self.codes.index(code)
        except ValueError:
            raise ValueError(f"the template has no item {code!r}") from None


def _unique(codes: Sequence[str], what: str) -> None:
    values, counts = np.unique(np.asarray(codes, dtype=str), return_counts=True)
    twice = values[counts > 1].tolist()
    if twice:
        raise ValueError(f"{what} codes must be unique; repeated: {', '.join(twice)}")


@dataclass(frozen=True)
class CellCount:
    """A count for one unit x service area cell: dossiers handled (the weighting frame) or
    responses received."""

    unit: str
    area: str
    count: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", _code(self.unit, "a cell's unit"))
        object.__setattr__(self, "area", _code(self.area, "a cell's service area"))
        try:
            count = float(self.count)
        except (TypeError, ValueError):
            raise ValueError(f"cell {self.unit}/{self.area}: count must be a number") from None
        if not math.isfinite(count) or count < 0:
            raise ValueError(f"cell {self.unit}/{self.area}: count must be finite and >= 0")
        object.__setattr__(self, "count", count)


CellCounts = Iterable[CellCount] | Mapping[tuple[str, str], float]


def cell_count_table(counts: CellCounts, what: str) -> dict[tuple[str, str], float]:
    """``{(unit, area): count}`` from CellCount rows or a mapping; a cell given twice is an
    error (two imports of the same cell must not add up silently).

    Parameters
    ----------
    counts : Iterable[CellCount] | Mapping[tuple[str, str], float]
        The cells' counts.
    what : str
        What the counts are, for messages.

    Returns
    -------
    dict[tuple[str, str], float]
        (unit, area) -> count.
    """
    rows = (
        [CellCount(u, a, c) for (u, a), c in counts.items()]
        if isinstance(counts, Mapping)
        else [c if isinstance(c, CellCount) else CellCount(*c) for c in counts]
    )
    table: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (row.unit, row.area)
        if key in table:
            raise ValueError(f"{what}: cell {row.unit}/{row.area} is given twice")
        table[key] = row.count
    return table


def _labels(values: object, n: int | None, what: str) -> np.ndarray:
    """String codes, one per row, none missing."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one value per response")
    if n is not None and len(array) != n:
        raise ValueError(f"{what} has {len(array)} values for {n} responses")
    if array.dtype.kind == "f":
        if np.isnan(array).any():
            raise ValueError(f"{what} is missing for {int(np.isnan(array).sum())} responses")
        if not np.all(array == np.round(array)):
            raise ValueError(f"{what} must be codes (text or whole numbers)")
        array = array.astype(np.int64)
    elif array.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in array])
        if missing.any():
            raise ValueError(f"{what} is missing for {int(missing.sum())} responses")
    text = array.astype(str)
    if len(text) and (np.char.str_len(text) == 0).any():
        raise ValueError(f"{what} is empty for some responses")
    return text


def _factorize(values: object, n: int | None, what: str) -> tuple[tuple[str, ...], np.ndarray]:
    labels, codes = _unique_text(_labels(values, n, what))
    return tuple(str(v) for v in labels), codes


def _unique_text(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(text, return_inverse=True)`` of a numpy text array, without sorting a
    million strings: each value's characters read as 64-bit words and the words coded one
    after another (integer sorts), then only the distinct values sorted as text."""
    n, width = len(text), text.dtype.itemsize
    if n == 0 or width == 0:
        labels, codes = np.unique(text, return_inverse=True)
        return labels, codes.reshape(-1).astype(np.int64)
    octets = np.ascontiguousarray(text).view(np.uint8).reshape(n, width)
    if width % 8:
        octets = np.concatenate((octets, np.zeros((n, 8 - width % 8), np.uint8)), axis=1)
    words = np.ascontiguousarray(octets).view("<u8")
    codes = np.zeros(n, dtype=np.int64)
    for column in words.T:
        found, inverse = np.unique(column, return_inverse=True)
        codes = codes * len(found) + inverse.reshape(-1)
    found, codes = np.unique(codes, return_inverse=True)
    row = np.empty(len(found), dtype=np.int64)
    row[codes.reshape(-1)] = np.arange(n)  # a row holding each distinct value
    distinct = text[row]
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return distinct[order], rank[codes.reshape(-1)]


@dataclass(frozen=True)
class Responses:
    """A round's counted responses, coded: unit, area and desk as integer codes into their sorted
    labels, answers as an (n, number of items) float array in template order (NaN = blank or
    not applicable). Build with ``Responses.build``, ``from_frame`` or ``from_long``."""

    items: tuple[str, ...]
    response_id: np.ndarray
    unit_labels: tuple[str, ...]
    unit: np.ndarray
    area_labels: tuple[str, ...]
    area: np.ndarray
    desk_labels: tuple[str, ...] | None
    desk: np.ndarray | None
    answers: np.ndarray

    @property
    def n(self) -> int:
        return len(self.unit)

    @classmethod
    def build(
        cls,
        template: TemplateSpec,
        *,
        response_id: object,
        unit: object,
        area: object,
        answers: object,
        desk: object | None = None,
    ) -> Responses:
        """``answers``: an (n, k) array whose columns follow ``template.items``, or a mapping
        from item code to a column. Checks: one unit and area per response, response ids
        unique, every answer on its item's scale or NaN."""
        ids = np.asarray(response_id)
        if ids.ndim != 1 or len(ids) == 0:
            raise ValueError("response_id must be a non-empty list, one id per response")
        n = len(ids)
        _check_unique_ids(ids)
        unit_labels, unit_codes = _factorize(unit, n, "unit")
        area_labels, area_codes = _factorize(area, n, "service area")
        desk_labels, desk_codes = (None, None) if desk is None else _factorize(desk, n, "desk")
        matrix = _answer_matrix(answers, template, n)
        _check_scales(matrix, template, ids)
        return cls(
            template.codes,
            ids,
            unit_labels,
            unit_codes,
            area_labels,
            area_codes,
            desk_labels,
            desk_codes,
            matrix,
        )

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        template: TemplateSpec,
        *,
        id_column: str = "response_id",
        unit_column: str = "unit",
        area_column: str = "area",
        desk_column: str | None = None,
    ) -> Responses:
        """From a pandas DataFrame (or any mapping of columns): one column per item code."""
        columns = list(getattr(frame, "columns", frame))
        wanted = [id_column, unit_column, area_column, *template.codes]
        if desk_column is not None:
            wanted.append(desk_column)
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise ValueError(f"the responses have no column(s) {', '.join(map(repr, missing))}")
        return cls.build(
            template,
            response_id=_column(frame[id_column]),
            unit=_column(frame[unit_column]),
            area=_column(frame[area_column]),
            desk=None if desk_column is None else _column(frame[desk_column]),
            answers={c: _column(frame[c], numeric=True) for c in template.codes},
        )

    @classmethod
    def from_long(
        cls,
        template: TemplateSpec,
        *,
        response_id: object,
        unit: object,
        area: object,
        answer_response_id: object,
        answer_item: object,
        answer_value: object,
        desk: object | None = None,
    ) -> Responses:
        """From answers stored as rows (response id, item code, value), the web app's schema:
        ``response_id``/``unit``/``area``/``desk`` describe each response once; a response
        without a row for an item did not answer it. An answer row for an unknown response or
        item, or two rows for the same response and item, is an error."""
        ids = np.asarray(response_id)
        if ids.ndim != 1 or len(ids) == 0:
            raise ValueError("response_id must be a non-empty list, one id per response")
        _check_unique_ids(ids)
        rows_of = np.asarray(answer_response_id)
        items_of = np.asarray(answer_item).astype(str)
        values = np.asarray(answer_value, dtype=float)
        if not (rows_of.shape == items_of.shape == values.shape) or rows_of.ndim != 1:
            raise ValueError("answer_response_id, answer_item and answer_value must align")
        order = np.argsort(ids, kind="stable")
        position = np.searchsorted(ids[order], rows_of)
        position = np.minimum(position, len(ids) - 1)
        known = ids[order][position] == rows_of
        if not known.all():
            raise ValueError(
                f"{int((~known).sum())} answer rows belong to no listed response "
                f"(first: {rows_of[~known][0]!r})"
            )
        row = order[position]
        codes = np.array(template.codes)
        column_order = np.argsort(codes)
        where = np.minimum(np.searchsorted(codes[column_order], items_of), len(codes) - 1)
        known_item = codes[column_order][where] == items_of
        if not known_item.all():
            raise ValueError(
                f"answer rows for items not in the template: "
                f"{', '.join(sorted(set(items_of[~known_item].tolist()))[:5])}"
            )
        column = column_order[where]
        flat = row * len(codes) + column
        if len(np.unique(flat)) != len(flat):
            raise ValueError("a response has two answer rows for the same item")
        matrix = np.full((len(ids), len(codes)), np.nan)
        matrix.reshape(-1)[flat] = values
        return cls.build(template, response_id=ids, unit=unit, area=area, answers=matrix, desk=desk)

    def cell_counts(self) -> tuple[CellCount, ...]:
        """Responses per unit x service area cell (the n of w = N / n)."""
        n_areas = len(self.area_labels)
        cells, counts = np.unique(self.unit * n_areas + self.area, return_counts=True)
        return tuple(
            CellCount(self.unit_labels[c // n_areas], self.area_labels[c % n_areas], int(k))
            for c, k in zip(cells.tolist(), counts.tolist(), strict=True)
        )

    def unit_of_rows(self) -> np.ndarray:
        return np.asarray(self.unit_labels)[self.unit]

    def area_of_rows(self) -> np.ndarray:
        return np.asarray(self.area_labels)[self.area]


def _column(series: Any, *, numeric: bool = False) -> np.ndarray:
    to_numpy = getattr(series, "to_numpy", None)
    if numeric:
        if to_numpy is not None:
            # pandas nullable columns hold pd.NA, which np.asarray cannot turn into floats.
            try:
                return np.asarray(to_numpy(dtype=float, na_value=np.nan))
            except (TypeError, ValueError):
                raise ValueError("answer columns must be numeric") from None
        try:
            return np.asarray(series, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("answer columns must be numeric") from None
    return np.asarray(to_numpy() if to_numpy is not None else series)


def _check_unique_ids(ids: np.ndarray) -> None:
    if ids.dtype.kind == "f" and np.isnan(ids).any():
        raise ValueError("response_id is missing for some responses")
    keys = ids if ids.dtype.kind in "iu" else ids.astype(str)
    sorted_ids = np.sort(keys)
    repeated = sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]]
    if len(repeated):
        shown = ", ".join(str(v) for v in np.unique(repeated)[:5])
        raise ValueError(
            f"response ids must be unique (a response counted twice); repeated: {shown}"
        )


def _answer_matrix(answers: object, template: TemplateSpec, n: int) -> np.ndarray:
    k = len(template.items)
    if isinstance(answers, Mapping):
        missing = [c for c in template.codes if c not in answers]
        if missing:
            raise ValueError(f"no answers for item(s) {', '.join(missing)}")
        extra = sorted(set(map(str, answers)) - set(template.codes))
        if extra:
            raise ValueError(f"answers for items not in the template: {', '.join(extra)}")
        columns = []
        for code in template.codes:
            try:
                column = np.asarray(answers[code], dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"item {code}: answers must be numbers or NaN") from None
            if column.shape != (n,):
                raise ValueError(f"item {code}: {column.size} answers for {n} responses")
            columns.append(column)
        return np.column_stack(columns) if columns else np.empty((n, 0))
    try:
        matrix = np.array(answers, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("answers must be numbers or NaN") from None
    if matrix.shape != (n, k):
        raise ValueError(
            f"answers must have one row per response and one column per item of the template "
            f"({n} x {k}); got {matrix.shape}"
        )
    return matrix


def _check_scales(matrix: np.ndarray, template: TemplateSpec, ids: np.ndarray) -> None:
    for j, item in enumerate(template.items):
        column = matrix[:, j]
        bad = ~np.isnan(column) & ~np.isin(column, item.scale)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"item {item.code}: value {column[first]:g} is not on its scale "
                f"{_show(item.scale)} (response {ids[first]}; {int(bad.sum())} such answers); "
                "blank and not-applicable answers must be NaN"
            )
