"""Builders for tests that need citizens' free-text comments in a round."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from survey.extensions import db
from survey.models import Answer, Desk, Item, ItemRole, Round
from survey.services.responses.recording import AnswerValue, record_response


def comment_item(round_: Round) -> Item:
    item = db.session.scalar(
        select(Item).where(
            Item.version_id == round_.template_version_id, Item.role == ItemRole.COMMENT.value
        )
    )
    assert item is not None, "the SIPAS template has a free-text comment item"
    return item


def add_comment(round_id: int, desk_id: int, text: str, *, now: datetime) -> int:
    """A counted response at the desk with one comment, stored the way citizens' answers are;
    returns the comment answer's id."""
    round_ = db.session.get(Round, round_id)
    desk = db.session.get(Desk, desk_id)
    assert round_ is not None and desk is not None
    item = comment_item(round_)
    recorded = record_response(
        round_=round_,
        desk_id=desk.id,
        unit_id=desk.unit_id,
        service_area_id=desk.unit.service_areas[0].id,
        answers=[AnswerValue(item.id, text=text)],
        idempotency_key=uuid.uuid4().hex,
        now=now,
    )
    answer_id = db.session.scalar(
        select(Answer.id).where(Answer.response_id == recorded.response_id)
    )
    assert answer_id is not None
    return answer_id
