"""Stuffing a desk from the field: one served form sent many times, invented dossier codes.

Each test reproduces an attack seen in the field (issue 19) and fails without its defence."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from survey.extensions import db
from survey.models import Desk, FormUse, ListedDossierCode, Round, User, utcnow
from survey.services.responses import submission
from survey.services.responses.abuse import server_key
from survey.services.responses.recording import SubmitTarget
from survey.services.responses.signing import DEVICE_COOKIE, sign_started
from survey.services.responses.submission import FORM_REUSED_REASON
from survey.services.rounds.dossier_codes import import_dossier_codes
from tests.factories import make_area, make_desk, make_round, make_unit
from tests.public.test_abuse import Site, _answer, _phone, _site, _statuses
from tests.public.test_answer import form_page, valid_answers


def _fresh_key(n: int) -> str:
    return f"replayed-form-key-{n:04d}"


def test_one_served_form_posted_fifty_times_counts_once(app: Flask) -> None:
    """The attack: the device cookie dropped, one form posted 50 times with fresh idempotency
    keys. Before: 50 counted answers. Now: one counts, 49 are kept excluded with their reason."""
    site = _site(app)
    phone = _phone(app)
    data = valid_answers(form_page(phone, site.token))
    answers = []
    for n in range(50):
        phone.delete_cookie(DEVICE_COOKIE)
        answers.append(
            phone.post(f"/r/{site.token}", data=data | {"idempotency_key": _fresh_key(n)})
        )
    assert all(a.status_code == 303 for a in answers)
    states = _statuses(app)
    assert [s for s, _ in states] == ["counted"] + ["excluded"] * 49
    assert {reason for _, reason in states[1:]} == {FORM_REUSED_REASON}
    # The citizen (or the script) is told calmly, in Vietnamese, that it did not count again.
    assert answers[0].headers["Location"].endswith("/thanks")
    again = phone.get(answers[1].headers["Location"]).get_data(as_text=True)
    assert "Phiếu này đã được gửi trước đó" in again
    assert "lần gửi này không được tính thêm" in again
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FormUse)) == 1


def test_a_network_retry_of_the_same_submission_is_the_stored_one_not_a_reuse(
    app: Flask,
) -> None:
    site = _site(app)
    phone = _phone(app)
    data = valid_answers(form_page(phone, site.token))
    first = phone.post(f"/r/{site.token}", data=data)
    retry = phone.post(f"/r/{site.token}", data=data)  # the same idempotency key
    assert first.status_code == retry.status_code == 303
    assert retry.headers["Location"] == first.headers["Location"]
    assert "sent=again" not in retry.headers["Location"]
    assert _statuses(app) == [("counted", None)]


def test_a_retry_racing_its_first_attempt_is_answered_as_stored(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both copies pass the look-up of the key before either is stored: the database's unique
    key decides, the form's nonce is not taken as a reuse, and one response counts."""
    real = submission.submit_target

    def not_yet_stored(token: str, key: str, *, now: datetime) -> SubmitTarget:
        return dataclasses.replace(real(token, key, now=now), stored_response_id=None)

    monkeypatch.setattr(submission, "submit_target", not_yet_stored)
    site = _site(app)
    phone = _phone(app)
    data = valid_answers(form_page(phone, site.token))
    first = phone.post(f"/r/{site.token}", data=data)
    second = phone.post(f"/r/{site.token}", data=data)
    assert first.status_code == second.status_code == 303
    assert "sent=again" not in second.headers["Location"]
    assert _statuses(app) == [("counted", None)]


def test_a_form_refused_for_a_wrong_answer_can_still_be_sent_once_corrected(app: Flask) -> None:
    """Only a stored sending uses the form up: a refused one (422) leaves it usable."""
    site = _site(app)
    phone = _phone(app)
    data = valid_answers(form_page(phone, site.token))
    assert phone.post(f"/r/{site.token}", data=data | {"q_A1": "9"}).status_code == 422
    assert phone.post(f"/r/{site.token}", data=data).status_code == 303
    assert _statuses(app) == [("counted", None)]


def test_a_start_signed_without_a_nonce_is_asked_to_be_sent_again(app: Flask) -> None:
    """A form served before forms carried a nonce cannot be replayed forever: it is sent once
    more with a fresh start (the answers are kept), as after a change of the secret key."""
    from survey.services.responses.signing import _serializer

    site = _site(app)
    with app.test_request_context():
        old_style = _serializer("form-started").dumps(round(time.time() - 60, 1))
    status, html = _answer(_phone(app), site.token, started=old_style)
    assert status == 422
    assert "Phiên làm việc đã hết hạn" in html
    assert "Cán bộ rất nhiệt tình." in html
    assert _statuses(app) == []


def test_thirty_phones_each_with_their_own_form_all_count(app: Flask) -> None:
    """The defence must not touch a real queue: 30 phones at one desk within ten minutes, one
    office address, each sending the form it was served."""
    site = _site(app, min_answer_seconds=10)
    for n in range(30):
        with app.test_request_context():
            started = sign_started(time.time() - 60 - n)
        assert _answer(_phone(app, "203.113.0.7"), site.token, started=started)[0] == 303
    assert [s for s, _ in _statuses(app)] == ["counted"] * 30


# --- the round's list of dossier codes ----------------------------------------------------------

LISTED = ("000.00.12.H13-261123-0001", "000.00.12.H13-261123-0002", "000.00.12.H13-261123-0003")


@pytest.fixture
def listed_site(app: Flask) -> Site:
    """A desk that asks for the dossier code (and a second desk of its unit), in a round with a
    list of three codes for its unit and one for another unit."""
    with app.app_context():
        unit = make_unit("STP", "Sở Tư pháp", [make_area()])
        desk, second = make_desk(unit, "STP-Q1"), make_desk(unit, "STP-Q2")
        desk.requires_dossier_code = True
        other = make_unit("XPL", "UBND xã Phú Lộc", unit.service_areas)
        make_desk(other)
        round_ = make_round([unit, other])
        db.session.add(User(username="sonoivu", role="admin", password_hash="x"))
        db.session.commit()
        rows = "unit_code,dossier_code\n" + "".join(f"STP,{c}\n" for c in LISTED)
        rows += "XPL,000.00.12.H13-261123-0999\n"
        _import(app, round_, rows)
        return Site(desk.token, second.token, round_.id)


def _import(app: Flask, round_: Round, rows: str) -> None:
    admin = db.session.scalars(select(User)).one()
    outcome = import_dossier_codes(
        round_, rows.encode(), key=_code_key(app), now=utcnow(), actor=admin
    )
    assert outcome.ok, outcome.errors
    db.session.commit()


def _code_key(app: Flask) -> bytes:
    with app.test_request_context():
        return server_key("DOSSIER_CODE_KEY")


def test_twenty_invented_dossier_codes_are_refused(app: Flask, listed_site: Site) -> None:
    """The attack: 20 well-formed but made-up codes at a desk that requires the receipt's code.
    Before: 20 of 20 counted. Now: each refused with a clear message, nothing stored."""
    for n in range(20):
        status, html = _answer(
            _phone(app), listed_site.token, dossier_code=f"000.00.12.H13-999999-{n:04d}"
        )
        assert status == 422
        assert "không có trong danh sách hồ sơ của quầy" in html
    assert _statuses(app) == []


def test_each_listed_code_answers_once_and_only_at_its_own_unit(
    app: Flask, listed_site: Site
) -> None:
    for code in LISTED:
        assert _answer(_phone(app), listed_site.token, dossier_code=code)[0] == 303
    status, html = _answer(_phone(app), listed_site.token, dossier_code=LISTED[0])
    assert status == 422 and "Mã hồ sơ này đã được dùng" in html
    # Listed, but for another unit's desks.
    status, html = _answer(_phone(app), listed_site.token, dossier_code="000.00.12.H13-261123-0999")
    assert status == 422 and "không có trong danh sách" in html
    assert [s for s, _ in _statuses(app)] == ["counted"] * 3
    with app.app_context():
        # Kept only as keyed hashes: no code in clear anywhere.
        dump = " ".join(
            str(row)
            for table in ("listed_dossier_codes", "dossier_code_uses", "audit_events")
            for row in db.session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
        )
        assert "261123" not in dump
        assert db.session.scalar(select(func.count()).select_from(ListedDossierCode)) == 4


def test_a_desk_listed_code_answers_only_at_that_desk(app: Flask, listed_site: Site) -> None:
    with app.app_context():
        round_ = db.session.get_one(Round, listed_site.round_id)
        second = db.session.scalars(
            select(Desk).where(Desk.token == listed_site.second_token)
        ).one()
        second.requires_dossier_code = True
        db.session.commit()
        _import(app, round_, "ma_don_vi;ma_quay;ma_ho_so\nSTP;STP-Q2;ABC-0001\n")
    # The new list replaced the old one.
    assert _answer(_phone(app), listed_site.token, dossier_code=LISTED[0])[0] == 422
    assert _answer(_phone(app), listed_site.token, dossier_code="ABC-0001")[0] == 422
    assert _answer(_phone(app), listed_site.second_token, dossier_code="abc-0001")[0] == 303


def test_without_a_list_any_well_formed_code_still_answers_once(app: Flask) -> None:
    site = _site(app)
    with app.app_context():
        desk = db.session.scalars(select(Desk).where(Desk.token == site.token)).one()
        desk.requires_dossier_code = True
        db.session.commit()
    assert _answer(_phone(app), site.token, dossier_code="000.00.12.H13-999999-0001")[0] == 303
    assert _statuses(app) == [("counted", None)]
