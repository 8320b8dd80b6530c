"""Public result pages: an administrator opts a published round in (or out again), and anyone
may then read its units' indices with their intervals. Never raw responses, never comments."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

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
