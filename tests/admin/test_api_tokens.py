"""API tokens in the console: created by an administrator and shown once, revoked behind a
confirmation, audited; the token works on the API until revoked."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from survey.extensions import db
from survey.local_time import to_local
from survey.models import ApiToken, AuditEvent, User
from tests.admin.conftest import Staff, csrf_token, login


def test_create_show_once_use_and_revoke(app: Flask, staff: Staff) -> None:
    admin = app.test_client()
    login(admin, "admin")
    with app.app_context():
        officer = db.session.scalar(select(User).where(User.username == "officer"))
        assert officer is not None
        officer_id = officer.id
    token = csrf_token(admin, "/admin/api-tokens/new")
    answer = admin.post(
        "/admin/api-tokens/new",
        data={"csrf_token": token, "user_id": officer_id, "name": "<b>Báo cáo R</b>"},
    )
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    page = answer.get_data(as_text=True)
    secret = re.search(r'value="(hl_[A-Za-z0-9_-]+)"', page)
    assert secret is not None
    assert "&lt;b&gt;Báo cáo R&lt;/b&gt;" in page

    listing = admin.get("/admin/api-tokens").get_data(as_text=True)
    assert secret.group(1) not in listing  # never shown again
    assert secret.group(1)[:10] in listing

    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret.group(1)}"}
    units = api.get("/api/v1/units", headers=headers).get_json()
    assert {u["id"] for u in units["items"]} == {staff.unit_id, staff.sub_unit_id}

    with app.app_context():
        stored = db.session.scalar(select(ApiToken))
        assert stored is not None
        token_id = stored.id
    revoke = f"/admin/api-tokens/{token_id}/revoke"
    assert admin.post(revoke, data={"csrf_token": token}).status_code == 422  # not confirmed
    assert api.get("/api/v1/units", headers=headers).status_code == 200
    answer = admin.post(revoke, data={"csrf_token": token, "confirm": "y"})
    assert answer.status_code == 303
    assert api.get("/api/v1/units", headers=headers).status_code == 401
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "api_token")
        ).all()
        assert actions == ["api_token.create", "api_token.revoke"]


def test_form_errors_and_other_roles(app: Flask, staff: Staff) -> None:
    admin = app.test_client()
    login(admin, "admin")
    token = csrf_token(admin, "/admin/api-tokens/new")
    answer = admin.post(
        "/admin/api-tokens/new", data={"csrf_token": token, "user_id": "999999", "name": ""}
    )
    assert answer.status_code == 422
    for role in ("analyst", "officer"):
        client = app.test_client()
        login(client, role)
        assert client.get("/admin/api-tokens").status_code == 403
        assert client.get("/admin/api-tokens/new").status_code == 403


def test_sending_the_same_form_again_creates_no_second_token(app: Flask, staff: Staff) -> None:
    admin = app.test_client()
    login(admin, "admin")
    form = admin.get("/admin/api-tokens/new").get_data(as_text=True)
    once = re.search(r'name="once" type="hidden" value="([^"]+)"', form)
    assert once is not None
    with app.app_context():
        officer_id = db.session.scalar(select(User.id).where(User.username == "officer"))
    data = {
        "csrf_token": csrf_token(admin, "/admin/api-tokens/new"),
        "user_id": officer_id,
        "name": "Báo cáo R",
        "once": once.group(1),
    }
    assert admin.post("/admin/api-tokens/new", data=data).status_code == 200
    again = admin.post("/admin/api-tokens/new", data=data)  # the browser's "resend" on reload
    assert again.status_code == 303 and again.headers["Location"].endswith("/admin/api-tokens")
    listing = admin.get(again.headers["Location"]).get_data(as_text=True)
    assert "bí mật chỉ hiện một lần" in listing
    assert 'value="hl_' not in listing
    with app.app_context():
        assert len(db.session.scalars(select(ApiToken)).all()) == 1
    # A new form is a new token.
    fresh = admin.get("/admin/api-tokens/new").get_data(as_text=True)
    other = re.search(r'name="once" type="hidden" value="([^"]+)"', fresh)
    assert other is not None and other.group(1) != once.group(1)
    assert (
        admin.post("/admin/api-tokens/new", data=data | {"once": other.group(1)}).status_code == 200
    )
    with app.app_context():
        assert len(db.session.scalars(select(ApiToken)).all()) == 2


def test_the_lifetime_is_chosen_checked_and_shown(app: Flask, staff: Staff) -> None:
    """Issue 19, finding 9: a token carries an expiry, 90 days unless the administrator chose
    another number of days from 1 to 365; the list says when each one ends."""
    admin = app.test_client()
    login(admin, "admin")
    with app.app_context():
        officer_id = db.session.scalar(select(User.id).where(User.username == "officer"))
    form = admin.get("/admin/api-tokens/new").get_data(as_text=True)
    assert 'name="lifetime_days"' in form and 'value="90"' in form
    data = {"user_id": officer_id, "name": "Báo cáo R"}
    for bad, message in (
        ("abc", "Nhập một số nguyên."),
        ("0", "Thời hạn là một số ngày từ 1 đến 365."),
        ("366", "Thời hạn là một số ngày từ 1 đến 365."),
        ("99999999999999999999999", "Thời hạn là một số ngày từ 1 đến 365."),
    ):
        token = csrf_token(admin, "/admin/api-tokens/new")
        answer = admin.post(
            "/admin/api-tokens/new", data=data | {"csrf_token": token, "lifetime_days": bad}
        )
        assert answer.status_code == 422, bad
        shown = re.findall(
            r"<li>(.*?)</li>",
            answer.get_data(as_text=True).split('id="lifetime_days-error">')[1].split("</ul>")[0],
        )
        assert shown == [message], bad  # one message that says what is wrong
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all() == []

    token = csrf_token(admin, "/admin/api-tokens/new")
    answer = admin.post(
        "/admin/api-tokens/new", data=data | {"csrf_token": token, "lifetime_days": " 7 "}
    )
    assert answer.status_code == 200
    with app.app_context():
        stored = db.session.scalar(select(ApiToken))
        assert stored is not None
        assert stored.expires_at - stored.created_at == timedelta(days=7)
        # The listing shows Vietnam time: from 17:00 UTC that is already the next day.
        ends = to_local(stored.expires_at).strftime("%d/%m/%Y %H:%M")
    assert "Mã dùng được đến" in answer.get_data(as_text=True)
    listing = admin.get("/admin/api-tokens").get_data(as_text=True)
    assert ends in listing and "Thu hồi" in listing
    with app.app_context():
        stored = db.session.scalar(select(ApiToken))
        assert stored is not None
        stored.expires_at = stored.created_at
        db.session.commit()
    assert "Đã hết hạn" in admin.get("/admin/api-tokens").get_data(as_text=True)
