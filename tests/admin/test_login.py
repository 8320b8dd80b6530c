"""Signing in and out of the console."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEvent, utcnow
from tests.admin.conftest import PASSWORD, Staff, csrf_token, login
from tests.helpers.rounds import round_over
from tests.public.test_signed_values import after_rotation


def test_console_sends_anonymous_visitors_to_login(client: FlaskClient, staff: Staff) -> None:
    answer = client.get("/admin/")
    assert answer.status_code == 302
    assert "/admin/login" in answer.headers["Location"]


def test_wrong_password_is_refused_with_a_message(client: FlaskClient, staff: Staff) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    answer = client.post(
        "/admin/login",
        data={"username": "admin", "password": "sai-mat-khau", "csrf_token": token.group(1)},
    )
    assert answer.status_code == 422
    assert "Sai tên đăng nhập hoặc mật khẩu." in answer.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_then_logout(client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    assert client.get("/admin/").status_code == 200
    client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(client: FlaskClient, staff: Staff) -> None:
    answer = client.post("/admin/login", data={"username": "admin", "password": "x"})
    assert answer.status_code == 400


def test_next_parameter_cannot_send_users_off_site(client: FlaskClient, staff: Staff) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    answer = client.post(
        "/admin/login?next=//evil.example/phish",
        data={"username": "admin", "password": "ao-dai-xanh-2026", "csrf_token": token.group(1)},
    )
    assert answer.headers["Location"].endswith("/admin/")


def _attempt(
    client: FlaskClient, username: str, password: str, says: str = "", *, via: str = "127.0.0.1"
) -> int:
    """One sign-in attempt from the address ``via``."""
    client.environ_base["REMOTE_ADDR"] = via
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    data = {"username": username, "password": password, "csrf_token": token.group(1)}
    answer = client.post("/admin/login", data=data)
    assert says in answer.get_data(as_text=True)
    return answer.status_code


def test_repeated_failures_lock_the_account_and_are_audited(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    for _ in range(5):
        assert _attempt(client, "admin", "doan-mat-khau-1") == 422
    # Locked now for this network, even with the right password.
    assert _attempt(client, "admin", PASSWORD, says="Đăng nhập sai quá nhiều lần") == 429
    # Another account is not affected.
    assert _attempt(client, "analyst", PASSWORD) == 302
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "login")
        ).all()
    assert actions.count("login.failed") == 4 and actions.count("login.locked") == 1


def test_a_success_clears_earlier_failures(client: FlaskClient, staff: Staff) -> None:
    for _ in range(4):
        _attempt(client, "officer", "sai-mat-khau-9")
    assert _attempt(client, "officer", PASSWORD) == 302
    client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
    for _ in range(4):
        assert _attempt(client, "officer", "sai-mat-khau-9") == 422
    assert _attempt(client, "officer", PASSWORD) == 302


def test_a_redis_outage_still_lets_staff_in_and_still_locks_guessers(
    app_factory: Callable[..., Flask], staff: Staff
) -> None:
    client = app_factory(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0").test_client()
    assert _attempt(client, "analyst", PASSWORD) == 302
    for _ in range(5):
        assert _attempt(client, "admin", "doan-mat-khau-1") == 422
    assert _attempt(client, "admin", PASSWORD, says="Đăng nhập sai quá nhiều lần") == 429


ATTACKER = "198.51.100.7"  # a network that guesses
OFFICE = "203.0.113.20"  # the administrator's own network, which has not failed
COLLEAGUE = "198.51.100.99"  # same /24 as the attacker: an office behind one address


def test_guessing_from_one_network_cannot_lock_the_administrator_out_elsewhere(
    client: FlaskClient, staff: Staff
) -> None:
    for _ in range(5):
        assert _attempt(client, "admin", "doan-mat-khau-1", via=ATTACKER) == 422
    for _ in range(20):  # the attacker keeps trying: still locked, still counted nowhere else
        assert _attempt(client, "admin", "doan-mat-khau-1", via=ATTACKER) == 429
    assert _attempt(client, "admin", PASSWORD, via=ATTACKER) == 429
    assert _attempt(client, "admin", PASSWORD, via=OFFICE) == 302


def test_spraying_many_accounts_slows_that_network_without_locking_its_colleagues(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    for n in range(40):  # one guess each at many accounts, too few per account to lock any
        assert _attempt(client, f"nhan.vien{n}", "Mua-xuan-2026", via=ATTACKER) == 422
    assert _attempt(client, "officer", "Mua-xuan-2026", via=ATTACKER) == 422
    # The sprayer's next guess at an account it has already tried waits...
    says = "Đăng nhập sai quá nhiều lần"
    assert _attempt(client, "officer", "Mua-he-2026", says, via=ATTACKER) == 429
    assert _attempt(client, "nhan.vien3", "Mua-he-2026", says, via=ATTACKER) == 429
    # ...but a colleague on the same network signs in to an account it has not tried,
    assert _attempt(app.test_client(), "analyst", PASSWORD, via=COLLEAGUE) == 302
    # and the officer signs in from anywhere else.
    assert _attempt(app.test_client(), "officer", PASSWORD, via=OFFICE) == 302


class _Clock:
    """The console's clock, moved forward by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_each_lock_of_a_network_and_account_lasts_twice_as_long_up_to_fifteen_minutes(
    app: Flask, client: FlaskClient, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    monkeypatch.setattr("survey.admin.views.utcnow", clock)
    for _ in range(5):
        assert _attempt(client, "admin", "doan-mat-khau-1", via=ATTACKER) == 422
    for minutes in (1, 2, 4, 8, 15, 15):
        says = f"Vui lòng thử lại sau {minutes} phút."
        assert _attempt(client, "admin", PASSWORD, says, via=ATTACKER) == 429
        clock.wait(minutes * 60 - 2)
        assert _attempt(client, "admin", PASSWORD, "sau 1 phút", via=ATTACKER) == 429
        clock.wait(2)
        assert _attempt(client, "admin", "doan-mat-khau-1", via=ATTACKER) == 422
    # Another network was never held up, and signing in there clears nothing for the attacker.
    assert _attempt(app.test_client(), "admin", PASSWORD, via=OFFICE) == 302
    assert _attempt(client, "admin", PASSWORD, "sau 15 phút", via=ATTACKER) == 429
    clock.wait(15 * 60)
    # The right password from the failing network, once its lock ends, clears its count.
    assert _attempt(client, "admin", PASSWORD, via=ATTACKER) == 302
    client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
    for _ in range(4):
        assert _attempt(client, "admin", "doan-mat-khau-1", via=ATTACKER) == 422


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("admin", ["Đơn vị", "Áp phích mã QR", "Phiếu khảo sát", "Tài khoản", "Nhật ký"], []),
        ("officer", ["Đơn vị", "Áp phích mã QR", "Đợt khảo sát"], ["Tài khoản", "Nhật ký"]),
        ("analyst", ["Đợt khảo sát"], ["Đơn vị", "Áp phích mã QR", "Tài khoản", "Nhật ký"]),
    ],
)
def test_console_menu_offers_each_role_its_sections_and_rounds_link_to_their_page(
    app: Flask, client: FlaskClient, staff: Staff, role: str, shown: list[str], hidden: list[str]
) -> None:
    with app.app_context():
        round_id = round_over([staff.unit_id], now=utcnow())
    login(client, role)
    page = client.get("/admin/").get_data(as_text=True)
    menu = page.split('<nav class="staff-nav"', 1)[-1].split("</nav>", 1)[0]
    for label in shown:
        assert f">{label}</a>" in menu, (role, label)
    for label in hidden:
        assert f">{label}</a>" not in menu, (role, label)
    assert f'href="/admin/rounds/{round_id}"' in page
    assert client.get(f"/admin/rounds/{round_id}").status_code == 200


def test_a_rotated_secret_kept_as_fallback_keeps_officers_signed_in_and_their_forms_good(
    app: Flask, staff: Staff, app_factory: Callable[..., Flask]
) -> None:
    before = app.test_client()
    login(before, "officer")
    token = csrf_token(before)  # a form open on the officer's screen during the rotation
    after = after_rotation(app, app_factory, before, keep_old=True)
    assert after.get("/admin/").status_code == 200  # still signed in
    assert after.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert after.get("/admin/").status_code == 302  # the old form's token was good: signed out
    login(before, "officer")
    without = after_rotation(app, app_factory, before, keep_old=False)
    assert without.get("/admin/").status_code == 302  # old secret dropped: sign in again
