"""Reading the organisation: desks by token, the service areas a desk serves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Subquery, literal, select, union_all
from sqlalchemy.orm import InstrumentedAttribute, contains_eager, joinedload

from survey.errors import NotFoundError
from survey.extensions import db
from survey.models import Desk, ServiceArea, Unit
from survey.models.org import desk_service_areas, unit_service_areas


class _Area(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def is_active(self) -> bool: ...


AreaT = TypeVar("AreaT", bound=_Area)


def live_desk(token: Any) -> tuple[ColumnElement[bool] | InstrumentedAttribute[bool], ...]:
    """The conditions for a desk link that still works: its token, the desk and its unit active.
    Revoked tokens no longer match. Used with ``Desk`` joined to ``Unit``."""
    return (Desk.token == token, Desk.is_active, Unit.is_active)


def desk_by_token(token: str) -> Desk:
    """The active desk of an active unit behind a URL token; revoked tokens no longer match."""
    desk = (
        db.session.execute(
            select(Desk)
            .join(Unit)
            .where(*live_desk(token))
            # Everything the citizen's pages read, in one round trip: a desk serves a handful of
            # areas, so the joined rows stay few.
            .options(
                contains_eager(Desk.unit).joinedload(Unit.service_areas),
                joinedload(Desk.service_areas),
            )
        )
        .unique()
        .scalar_one_or_none()
    )
    if desk is None:
        raise NotFoundError(str(_l("Không tìm thấy quầy: đường dẫn sai hoặc đã được thay mới.")))
    return desk


def serving(own: Sequence[AreaT], inherited: Sequence[AreaT]) -> list[AreaT]:
    """The areas a citizen may choose at a desk: the desk's own, or, when it has none, every
    area of its unit; active ones only."""
    return [area for area in (own or inherited) if area.is_active]


def service_areas_of_desk(desk: Desk) -> list[ServiceArea]:
    return serving(desk.service_areas, desk.unit.service_areas)


@dataclass(frozen=True)
class AreaChoice:
    id: int
    code: str
    is_active: bool


def areas_of_desk_rows(token: Any) -> Subquery:
    """Every area linked to the desk behind ``token``, its own (``own`` true) and its unit's,
    as rows (area_id, area_code, area_active, own) for :func:`area_choices_of` to choose from:
    joined into a statement that reads the desk, so that the submit path needs no second one."""
    columns = (
        ServiceArea.id.label("area_id"),
        ServiceArea.code.label("area_code"),
        ServiceArea.is_active.label("area_active"),
    )
    return union_all(
        select(*columns, literal(True).label("own"))
        .join(desk_service_areas)
        .join(Desk, Desk.id == desk_service_areas.c.desk_id)
        .where(Desk.token == token),
        select(*columns, literal(False).label("own"))
        .join(unit_service_areas)
        .join(Desk, Desk.unit_id == unit_service_areas.c.unit_id)
        .where(Desk.token == token),
    ).subquery("desk_areas")


def area_choices_of(rows: Sequence[Any]) -> list[AreaChoice]:
    """:func:`serving` over rows that carry :func:`areas_of_desk_rows`' columns."""
    linked = [(AreaChoice(r.area_id, r.area_code, r.area_active), r.own) for r in rows if r.area_id]
    return serving([a for a, own in linked if own], [a for a, own in linked if not own])
