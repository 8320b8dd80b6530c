"""Rules the data model enforces, in code and in the database itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from survey.errors import IllegalTransitionError, TemplateFrozenError
from survey.extensions import db
from survey.models import AuditEvent, Desk, Item, Round, RoundState, utcnow
from survey.services.rounds.lifecycle import transition_round
from tests.factories import make_area, make_desk, make_round, make_unit, sipas_version

LEGAL = [
    (RoundState.DRAFT, RoundState.OPEN),
    (RoundState.OPEN, RoundState.CLOSED),
    (RoundState.CLOSED, RoundState.PUBLISHED),
    (RoundState.CLOSED, RoundState.OPEN),
]
ILLEGAL = [
    (RoundState.DRAFT, RoundState.CLOSED),
    (RoundState.DRAFT, RoundState.PUBLISHED),
    (RoundState.OPEN, RoundState.PUBLISHED),
    (RoundState.OPEN, RoundState.DRAFT),
    (RoundState.PUBLISHED, RoundState.OPEN),
    (RoundState.PUBLISHED, RoundState.CLOSED),
    (RoundState.CLOSED, RoundState.DRAFT),
]


@pytest.mark.parametrize(("start", "target"), LEGAL)
def test_legal_round_transitions(app: Flask, start: RoundState, target: RoundState) -> None:
    with app.app_context():
        round_ = make_round([make_unit(areas=[make_area()])], state=start)
        transition_round(round_, target, now=utcnow())
        db.session.commit()
        assert db.session.get(Round, round_.id).state == target  # type: ignore[union-attr]
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert f"round.{target.value}" in actions


@pytest.mark.parametrize(("start", "target"), ILLEGAL)
def test_illegal_round_transitions_are_refused(
    app: Flask, start: RoundState, target: RoundState
) -> None:
    with app.app_context():
        round_ = make_round([make_unit(areas=[make_area()])], state=start)
        with pytest.raises(IllegalTransitionError):
            transition_round(round_, target, now=utcnow())


@pytest.mark.parametrize(
    "values",
    [
        {"state": "archived"},  # not a state
        {"state": "published", "published_at": None},  # published without the moment
        {"state": "closed", "closed_at": None},
        {"closes_at": utcnow() - timedelta(days=400)},  # closes before it opens
    ],
)
def test_database_refuses_inconsistent_round_states(app: Flask, values: dict) -> None:
    with app.app_context():
        round_ = make_round([make_unit(areas=[make_area()])], state=RoundState.OPEN)
        db.session.commit()
        with pytest.raises(IntegrityError):
            db.session.execute(update(Round).where(Round.id == round_.id).values(**values))
            db.session.commit()


def test_desk_tokens_are_unique_and_unguessable(app: Flask) -> None:
    with app.app_context():
        unit = make_unit(areas=[make_area()])
        first, second = make_desk(unit, "D1"), make_desk(unit, "D2")
        assert first.token != second.token and len(first.token) >= 40
        db.session.commit()
        second.token = first.token
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_version_is_frozen_once_a_round_opens(app: Flask) -> None:
    with app.app_context():
        version = sipas_version()
        item = version.items[0]
        item.text = "Sửa khi còn là bản nháp"
        db.session.commit()  # a draft version can be edited
        make_round([make_unit(areas=[make_area()])], version=version)
        db.session.commit()
        assert version.is_frozen
        item.text = "Sửa sau khi đợt đã mở"
        with pytest.raises(TemplateFrozenError):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(Item, item.id))
        with pytest.raises(TemplateFrozenError):
            db.session.flush()


def test_frozen_version_refuses_new_items(app: Flask) -> None:
    with app.app_context():
        version = sipas_version()
        make_round([make_unit(areas=[make_area()])], version=version)
        db.session.commit()
        version.items.append(Item(code="NEW", text="Câu mới", scale="sat5", role="other"))
        with pytest.raises(TemplateFrozenError):
            db.session.flush()


def test_audit_events_cannot_be_changed_or_deleted(app: Flask) -> None:
    with app.app_context():
        make_round([make_unit(areas=[make_area()])])
        db.session.commit()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("UPDATE audit_events SET action = 'forged'"))
        db.session.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM audit_events"))
        db.session.rollback()
        assert db.session.scalar(select(AuditEvent.action).limit(1)) != "forged"


def test_unit_cannot_be_its_own_parent(app: Flask) -> None:
    with app.app_context():
        unit = make_unit()
        db.session.commit()
        unit.parent_id = unit.id
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_foreign_keys_are_enforced(app: Flask) -> None:
    with app.app_context():
        db.session.add(Desk(unit_id=9999, code="X", name="Quầy ma"))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_opening_snapshots_unit_names_for_history(app: Flask) -> None:
    with app.app_context():
        unit = make_unit("U9", "UBND huyện Cũ", [make_area()])
        round_ = make_round([unit])
        db.session.commit()
        unit.name = "UBND xã Mới"  # a later reform renames the unit
        db.session.commit()
        assert round_.scope[0].unit_name == "UBND huyện Cũ"
