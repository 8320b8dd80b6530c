"""What the console shows about rounds: how many responses each has."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Response, ResponseStatus, Round


@dataclass(frozen=True)
class RoundSummary:
    round: Round
    counted: int
    excluded: int


def round_summaries(unit_ids: set[int] | None = None) -> list[RoundSummary]:
    """Every round, newest first, with its response counts (within ``unit_ids`` when given)."""
    counts = select(
        Response.round_id,
        Response.status,
        func.count().label("n"),
    ).group_by(Response.round_id, Response.status)
    if unit_ids is not None:
        counts = counts.where(Response.unit_id.in_(unit_ids))
    tally: dict[tuple[int, str], int] = {
        (row.round_id, row.status): row.n for row in db.session.execute(counts)
    }
    rounds = db.session.scalars(select(Round).order_by(Round.created_at.desc(), Round.id.desc()))
    return [
        RoundSummary(
            r,
            tally.get((r.id, ResponseStatus.COUNTED.value), 0),
            tally.get((r.id, ResponseStatus.EXCLUDED.value), 0),
        )
        for r in rounds
    ]
