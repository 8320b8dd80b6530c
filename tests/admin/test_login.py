"""Signing in and out of the console."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.admin.conftest import Staff, csrf_token, login


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
        data={"username": "admin", "password": "mat-khau-2026", "csrf_token": token.group(1)},
    )
    assert answer.headers["Location"].endswith("/admin/")
