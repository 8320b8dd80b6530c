"""Public result pages: an administrator opts a published round in (or out again), and anyone
may then read its units' indices with their intervals. Never raw responses, never comments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from analysis.satisfaction import IndexKind, IndexRow, Level
from survey.errors import ConflictError, NotFoundError
from survey.extensions import db
from survey.models import Round, RoundState, User
from survey.services.audit import record_event


def set_round_public(round_: Round, public: bool, *, actor: User, now: datetime) -> None:
    """Show (``public``) or withdraw the round's public page; only published rounds have one,
    because only their numbers are final."""
    if round_.state != RoundState.PUBLISHED:
        raise ConflictError(str(_l("Chỉ đợt khảo sát đã công bố mới có trang kết quả công khai.")))
    if round_.is_public == public:
        return
    round_.is_public = public
    db.session.flush()
    record_event(
        action="round.public" if public else "round.private",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        before={"is_public": not public},
        after={"is_public": public},
    )


def public_round(round_id: int) -> Round:
    """The round, if its public page is on; 404 otherwise (whether it exists is nobody's
    business)."""
    round_ = db.session.scalar(
        select(Round).where(
            Round.id == round_id, Round.is_public, Round.state == RoundState.PUBLISHED.value
        )
    )
    if round_ is None:
        raise NotFoundError(str(_l("Không tìm thấy trang kết quả này.")))
    return round_


def public_rounds() -> list[Round]:
    return list(
        db.session.scalars(
            select(Round)
            .where(Round.is_public, Round.state == RoundState.PUBLISHED.value)
            .order_by(Round.published_at.desc(), Round.id.desc())
        )
    )


@dataclass(frozen=True)
class PublicRow:
    """One unit's (or the province's) headline index as the public page shows it."""

    name: str
    estimate: float | None  # None: no index (no responses, or none weighted)
    ci_low: float | None
    ci_high: float | None
    n: int
    unreliable: bool  # flagged (too few responses, too wide an interval...): say so


@dataclass(frozen=True)
class PublicResults:
    province: PublicRow | None
    units: list[PublicRow]
    measure: str  # "top2box", "mean" or "mean_pct"
    confidence: float
    caveat_vi: str
    caveat_en: str


def _public_row(name: str, row: IndexRow) -> PublicRow:
    def number(value: float) -> float | None:
        return None if math.isnan(value) else round(value, 2)

    return PublicRow(
        name=name,
        estimate=number(row.estimate),
        ci_low=number(row.ci_low),
        ci_high=number(row.ci_high),
        n=row.n,
        unreliable=bool(row.flags),
    )


def public_results(round_: Round) -> PublicResults:
    """The overall index of the province and of every unit in the round's scope, with its
    interval, from the same estimation every result page uses (``round_index``); units under
    the names they had when the round opened, by name."""
    from survey.services.results.indices import round_index

    table = round_index(round_)
    names: dict[str, str] = {}
    for scope in round_.scope:
        names[scope.unit.code] = scope.unit_name
        names[str(scope.unit_id)] = scope.unit_name
    measure = table.headline
    province = table.rows(level=Level.PROVINCE, kind=IndexKind.OVERALL, measure=measure)
    units = [
        _public_row(names.get(row.unit or "", row.unit or ""), row)
        for row in table.rows(level=Level.UNIT, kind=IndexKind.OVERALL, measure=measure)
    ]
    return PublicResults(
        province=_public_row("", province[0]) if province else None,
        units=sorted(units, key=lambda r: r.name),
        measure=str(measure),
        confidence=table.confidence,
        caveat_vi=table.caveat_vi,
        caveat_en=table.caveat_en,
    )
