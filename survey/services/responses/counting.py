"""Which responses count: the one definition every page, export and estimate uses.

A response counts for a round when it was stored with status ``counted``, arrived within the
round's period, and came from a unit in the round's scope. Excluded responses (bots, repeated
devices, exclusions by an administrator) never count anywhere.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, func, select

from survey.extensions import db
from survey.models import DossierCount, Response, ResponseStatus, Round, RoundUnit


def counted(round_: Round) -> ColumnElement[bool]:
    """The condition on ``Response`` rows that count for ``round_``."""
    in_scope = select(RoundUnit.unit_id).where(RoundUnit.round_id == round_.id)
    return and_(
        Response.round_id == round_.id,
        Response.status == ResponseStatus.COUNTED.value,
        Response.received_at >= round_.opens_at,
        Response.received_at < round_.closes_at,
        Response.unit_id.in_(in_scope),
    )


def counted_responses(round_: Round) -> Select[Response]:
    return select(Response).where(counted(round_))


def cell_counts(round_: Round) -> dict[tuple[int, int], int]:
    """Counted responses per unit x service area cell."""
    rows = db.session.execute(
        select(Response.unit_id, Response.service_area_id, func.count(Response.id))
        .where(counted(round_))
        .group_by(Response.unit_id, Response.service_area_id)
    )
    return {(unit, area): n for unit, area, n in rows}


def dossier_frame(round_: Round) -> dict[tuple[int, int], int]:
    """Dossiers handled per unit x service area cell (the weighting frame)."""
    rows = db.session.execute(
        select(DossierCount.unit_id, DossierCount.service_area_id, DossierCount.dossiers).where(
            DossierCount.round_id == round_.id
        )
    )
    return {(unit, area): n for unit, area, n in rows}
