"""The values a citizen's browser carries signed (session with its CSRF token, the form's start
time, the device cookie) are signed with keys that survey/signing_keys.py derives once per
process. A form served by a server signing the stock Flask and itsdangerous way (the release
before, during a rolling deploy) is accepted, and the other way round. After the secret changes
with the old one kept in SECRET_KEY_FALLBACKS, an open form is accepted as it was served and a
device's answered desks are still known; with the old one dropped, the form comes back filled
and sending it once again counts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer

from survey.extensions import db
from survey.models import Response
from survey.services.responses.signing import _serializer_for, sign_started
from tests.factories import make_area, make_desk, make_round, make_unit
from tests.public.test_answer import form_page, valid_answers


@pytest.fixture
def token(app: Flask) -> str:
    return _desk_token(app)


def _desk_token(app: Flask, **rules: int) -> str:
    with app.app_context():
        desk = make_desk(
            make_unit("STP", "Sở Tư pháp", [make_area("HT", "Hộ tịch", "Civil status")])
        )
        round_ = make_round([desk.unit])
        for name, value in rules.items():
            setattr(round_, name, value)
        db.session.commit()
        return desk.token


def _statuses(app: Flask) -> list[tuple[str, str | None]]:
    with app.app_context():
        return [(r.status, r.exclusion_reason) for r in db.session.query(Response).order_by("id")]


def after_rotation(
    app: Flask, app_factory: Callable[..., Flask], client: FlaskClient, *, keep_old: bool
) -> FlaskClient:
    """The same browser (its cookies) at a server of the same database after SECRET_KEY was
    changed, the old one kept in SECRET_KEY_FALLBACKS or dropped."""
    fallbacks = [app.secret_key] if keep_old else []
    rotated = app_factory(
        SECRET_KEY="a-new-secret-for-the-province", SECRET_KEY_FALLBACKS=fallbacks
    ).test_client()
    move_cookies(client, rotated)
    return rotated


def move_cookies(source: FlaskClient, target: FlaskClient) -> None:
    """The phone's (or officer's) cookies, carried to another server."""
    for cookie in source._cookies.values():
        target.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)


def _stored(app: Flask) -> int:
    with app.app_context():
        return db.session.query(Response).count()


def test_forms_served_by_a_stock_flask_server_are_accepted_and_the_other_way_round(
    app: Flask, token: str, app_factory: Callable[..., Flask]
) -> None:
    stock = app_factory()
    stock.session_interface = SecureCookieSessionInterface()
    for served_by, sent_to in ((stock, app), (app, stock)):
        phone = served_by.test_client()
        page = form_page(phone, token)
        other_server = sent_to.test_client()
        move_cookies(phone, other_server)
        before = _stored(app)
        sent = other_server.post(f"/r/{token}", data=valid_answers(page))
        assert sent.status_code == 303, sent.get_data(as_text=True)[:300]
        assert _stored(app) == before + 1


def test_after_the_secret_changes_an_open_form_comes_back_filled_and_its_resend_counts(
    app: Flask, token: str, app_factory: Callable[..., Flask]
) -> None:
    phone = app.test_client()
    page = form_page(phone, token)
    later = after_rotation(app, app_factory, phone, keep_old=False)
    refused = later.post(f"/r/{token}", data=valid_answers(page))
    assert refused.status_code == 422
    returned = refused.get_data(as_text=True)
    assert "Phiên làm việc đã hết hạn. Câu trả lời của Ông/Bà vẫn còn" in returned
    assert re.search(r'<input checked id="q_Q_OVERALL-4"', returned)  # the answers are kept
    assert _stored(app) == 0
    resent = later.post(f"/r/{token}", data=valid_answers(returned))
    assert resent.status_code == 303  # once is enough
    assert _statuses(app) == [("counted", None)]


def test_with_the_old_secret_kept_an_open_form_is_accepted_as_it_was_served(
    app: Flask, app_factory: Callable[..., Flask]
) -> None:
    # The round's production default: under 10 s is a script. A fresh start time given back
    # after a rotation would make the citizen's resend too fast; the served one must hold.
    token = _desk_token(app, min_answer_seconds=10)
    phone = app.test_client()
    answers = valid_answers(form_page(phone, token))
    with app.test_request_context():
        answers["started"] = sign_started(time.time() - 90)  # served a minute and a half ago
    later = after_rotation(app, app_factory, phone, keep_old=True)
    sent = later.post(f"/r/{token}", data=answers)
    assert sent.status_code == 303, sent.get_data(as_text=True)[:300]
    assert _statuses(app) == [("counted", None)]


def test_with_the_old_secret_kept_a_device_that_answered_before_is_still_known(
    app: Flask, app_factory: Callable[..., Flask]
) -> None:
    token = _desk_token(app, device_period_hours=24)
    phone = app.test_client()
    assert phone.post(f"/r/{token}", data=valid_answers(form_page(phone, token))).status_code == 303
    later = after_rotation(app, app_factory, phone, keep_old=True)
    again = later.post(f"/r/{token}", data=valid_answers(form_page(later, token)))
    assert again.status_code == 303  # a normal-looking page
    assert [status for status, _ in _statuses(app)] == ["counted", "excluded"]
    assert "same device answered this desk" in (_statuses(app)[1][1] or "")


def test_signed_values_are_those_itsdangerous_makes_and_a_changed_one_is_refused() -> None:
    value = {"r1d2": 1_764_000_000}
    for salt in ("device", "form-started"):  # one secret, two salts: two keys
        ours = _serializer_for(("a-secret-of-the-test",), salt)
        stock = URLSafeSerializer("a-secret-of-the-test", salt=salt)
        assert ours.dumps(value) == stock.dumps(value)
        assert ours.loads(stock.dumps(value)) == value
        assert ours.loads_unsafe(stock.dumps(value)[:-2] + "AA")[0] is False
    other_secret = _serializer_for(("another-secret-of-the-test",), "device")
    assert other_secret.loads_unsafe(ours.dumps(value))[0] is False


def test_the_session_is_signed_as_flask_signs_it_under_the_current_secret(app: Flask) -> None:
    stock = SecureCookieSessionInterface()
    for secret in ("test-secret", "a-secret-set-later"):
        app.secret_key = secret
        ours = app.session_interface.get_signing_serializer(app)
        theirs = stock.get_signing_serializer(app)
        assert ours is not None and theirs is not None
        assert ours.loads(theirs.dumps({"csrf_token": secret})) == {"csrf_token": secret}
        assert theirs.loads(ours.dumps({"csrf_token": secret})) == {"csrf_token": secret}
