"""Reading the organisation: desks by token, the service areas a desk serves."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from survey.errors import NotFoundError
from survey.extensions import db
from survey.models import Desk, ServiceArea, Unit


def desk_by_token(token: str) -> Desk:
    """The active desk of an active unit behind a URL token; revoked tokens no longer match."""
    desk = db.session.execute(
        select(Desk)
        .join(Unit)
        .where(Desk.token == token, Desk.is_active, Unit.is_active)
        # Everything the citizen's pages read, in one round trip: a desk serves a handful of
        # areas, so the joined rows stay few.
        .options(
            contains_eager(Desk.unit).joinedload(Unit.service_areas),
            joinedload(Desk.service_areas),
        )
    ).unique().scalar_one_or_none()
    if desk is None:
        raise NotFoundError("Unknown or revoked desk link")
    return desk


def service_areas_of_desk(desk: Desk) -> list[ServiceArea]:
    """The active areas a citizen may choose at this desk: the desk's own, else its unit's."""
    areas = desk.service_areas or desk.unit.service_areas
    return [area for area in areas if area.is_active]
