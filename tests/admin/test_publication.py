"""Public result pages: an administrator switches one on for a published round, behind a
confirmation and audited; it shows units' indices with intervals and never a comment; every
other round (draft, open, closed, published but not opted in, unknown) is a 404."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from survey.extensions import db
from survey.models import AuditEvent, Round, RoundState, utcnow
from tests.admin.conftest import Staff, csrf_token, login
from tests.helpers.rounds import round_over


def _round(app: Flask, staff: Staff, state: RoundState) -> int:
    with app.app_context():
        return round_over([staff.unit_id, staff.other_unit_id], now=utcnow(), state=state)


def test_switching_the_page_on_and_off(app: Flask, staff: Staff) -> None:
    round_id = _round(app, staff, RoundState.PUBLISHED)
    public = app.test_client()
    assert public.get(f"/ket-qua/{round_id}").status_code == 404

    admin = app.test_client()
    login(admin, "admin")
    detail = admin.get(f"/admin/rounds/{round_id}").get_data(as_text=True)
    assert f"/admin/rounds/{round_id}/public/on" in detail
    url = f"/admin/rounds/{round_id}/public/on"
    token = csrf_token(admin, url)
    assert admin.post(url, data={"csrf_token": token}).status_code == 422  # not confirmed
    assert admin.post(url, data={"csrf_token": token, "confirm": "y"}).status_code == 303
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None and round_.is_public
    listing = public.get("/ket-qua").get_data(as_text=True)
    assert f"/ket-qua/{round_id}" in listing

    off = f"/admin/rounds/{round_id}/public/off"
    assert admin.post(off, data={"csrf_token": token, "confirm": "y"}).status_code == 303
    assert public.get(f"/ket-qua/{round_id}").status_code == 404
    assert f"/ket-qua/{round_id}" not in public.get("/ket-qua").get_data(as_text=True)
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.entity_type == "round", AuditEvent.action.like("round.p%")
            )
        ).all()
        assert events == ["round.publish", "round.public", "round.private"] or events[-2:] == [
            "round.public",
            "round.private",
        ]


@pytest.mark.parametrize("state", [RoundState.DRAFT, RoundState.OPEN, RoundState.CLOSED])
def test_unpublished_rounds_cannot_have_a_page(app: Flask, staff: Staff, state: RoundState) -> None:
    round_id = _round(app, staff, state)
    admin = app.test_client()
    login(admin, "admin")
    url = f"/admin/rounds/{round_id}/public/on"
    assert admin.get(url).status_code == 409
    token = csrf_token(admin)
    assert admin.post(url, data={"csrf_token": token, "confirm": "y"}).status_code == 409
    assert app.test_client().get(f"/ket-qua/{round_id}").status_code == 404
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        round_.is_public = True  # the database refuses it too
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


@pytest.mark.parametrize("path", ["/ket-qua/999999", "/ket-qua/99999999999999999999", "/ket-qua/x"])
def test_unknown_rounds_are_404(client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(path).status_code == 404
