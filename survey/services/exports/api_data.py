"""What the JSON API reads: pages of rounds, units, service areas and counted responses, each
limited to what the token's account may see (``unit_ids``: None for every unit).

Pages are not clamped as the console's are: a page past the end is empty, so a client looping
until ``page > pages`` never reads the last page twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from analysis.satisfaction import IndexKind, Level
from survey.extensions import db
from survey.models import (
    CommentReview,
    CommentState,
    Item,
    Response,
    Round,
    RoundUnit,
    ServiceArea,
    Unit,
)
from survey.services.paging import Page
from survey.services.responses.comments import mask_personal_data
from survey.services.responses.counting import counted_responses
from survey.services.results.indices import round_index

T = TypeVar("T")


def _page_of_query(query: Select[Any], page: int, per_page: int) -> Page[Any]:
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if (page - 1) * per_page >= total:
        # Past the end: no query with an offset a database might refuse as out of range.
        return Page([], page, per_page, total)
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, per_page, total)


def _page_of_list(items: Sequence[T], page: int, per_page: int) -> Page[T]:
    start = (page - 1) * per_page
    return Page(
        list(items[start : start + per_page]) if start < len(items) else [],
        page,
        per_page,
        len(items),
    )


def units_page(unit_ids: set[int] | None, page: int, per_page: int) -> Page[Unit]:
    query = select(Unit).options(selectinload(Unit.service_areas)).order_by(Unit.code)
    if unit_ids is not None:
        query = query.where(Unit.id.in_(unit_ids))
    return _page_of_query(query, page, per_page)


def areas_page(page: int, per_page: int) -> Page[ServiceArea]:
    return _page_of_query(select(ServiceArea).order_by(ServiceArea.code), page, per_page)


def rounds_page(rounds: Sequence[Round], page: int, per_page: int) -> Page[Round]:
    return _page_of_list(rounds, page, per_page)


def scope_ids(round_: Round, unit_ids: set[int] | None) -> list[int]:
    """The round's units that ``unit_ids`` allows, by id."""
    return sorted(s.unit_id for s in round_.scope if unit_ids is None or s.unit_id in unit_ids)


def responses_page(
    round_: Round,
    unit_ids: set[int] | None,
    page: int,
    per_page: int,
    *,
    unit_id: int | None = None,
) -> Page[Response]:
    """Counted responses of ``round_`` (oldest first, by id), with their answers loaded."""
    query = counted_responses(round_).options(selectinload(Response.answers)).order_by(Response.id)
    if unit_ids is not None:
        query = query.where(Response.unit_id.in_(unit_ids))
    if unit_id is not None:
        query = query.where(Response.unit_id == unit_id)
    return _page_of_query(query, page, per_page)


def approved_texts(responses: Sequence[Response]) -> dict[int, str]:
    """Answer id -> masked text, for the approved comments among ``responses``' answers; every
    other text (pending, hidden) is withheld."""
    ids = [a.id for r in responses for a in r.answers if a.text is not None]
    if not ids:
        return {}
    approved = set(
        db.session.scalars(
            select(CommentReview.answer_id).where(
                CommentReview.answer_id.in_(ids),
                CommentReview.state == CommentState.APPROVED.value,
            )
        )
    )
    return {
        a.id: mask_personal_data(a.text)
        for r in responses
        for a in r.answers
        if a.id in approved and a.text is not None
    }


def item_codes(round_: Round) -> dict[int, str]:
    """Item id -> code for the round's questionnaire version."""
    rows = db.session.execute(
        select(Item.id, Item.code).where(Item.version_id == round_.template_version_id)
    )
    return {item_id: code for item_id, code in rows}


def round_unit_names(round_: Round) -> dict[int, str]:
    """Units' names as they were when the round opened."""
    rows = db.session.execute(
        select(RoundUnit.unit_id, RoundUnit.unit_name).where(RoundUnit.round_id == round_.id)
    )
    return {unit_id: name for unit_id, name in rows}


@dataclass(frozen=True)
class IndexRows:
    """A page of a round's index table, with what applies to every row."""

    page: Page[dict[str, object]]
    confidence: float
    headline: str
    caveat_vi: str
    caveat_en: str


def _finite(value: object) -> object:
    # JSON has no NaN or infinity: an undefined number is null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def index_rows(
    round_: Round,
    unit_ids: set[int] | None,
    page: int,
    per_page: int,
    *,
    level: Level | None = None,
    kind: IndexKind | None = None,
    measure: str | None = None,
) -> IndexRows:
    """Rows of the round's index table (``round_index``, the estimation every page uses), in
    the table's order. A unit officer (``unit_ids`` given) gets the rows of their own units
    only (unit and unit x area levels): the province and service-area rows mix in other units'
    responses."""
    table = round_index(round_)
    chosen = table.select(level=level, kind=kind, measure=measure)
    if unit_ids is not None:
        codes = set(db.session.scalars(select(Unit.code).where(Unit.id.in_(unit_ids))))
        chosen = chosen[np.isin(table.unit[chosen], list(codes))] if len(chosen) else chosen
    start = (page - 1) * per_page
    wanted = chosen[start : start + per_page]
    records = (
        [
            {name: _finite(value) for name, value in record.items()}
            for record in table.to_records(wanted)
        ]
        if len(wanted)
        else []
    )
    return IndexRows(
        Page(records, page, per_page, len(chosen)),
        confidence=table.confidence,
        headline=str(table.headline),
        caveat_vi=table.caveat_vi,
        caveat_en=table.caveat_en,
    )
