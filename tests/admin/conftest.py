"""Staff fixtures: one account per role, and signing in through the real login form."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import Role, utcnow
from survey.services.accounts.users import create_user
from tests.factories import make_area, make_desk, make_unit

PASSWORD = "ao-dai-xanh-2026"


@dataclass(frozen=True)
class Staff:
    """Ids of a small organisation and of one user per role."""

    unit_id: int  # the officer's unit
    sub_unit_id: int  # below the officer's unit: visible to the officer
    other_unit_id: int  # another branch: never visible to the officer
    desk_id: int
    other_desk_id: int


@pytest.fixture
def staff(app: Flask) -> Staff:
    with app.app_context():
        area = make_area()
        unit = make_unit("U01", "UBND phường Bình Minh", [area])
        sub = make_unit("U01A", "Trạm y tế phường Bình Minh", [area], parent=unit)
        other = make_unit("U02", "UBND xã Phú Lộc", [area])
        desk, other_desk = make_desk(unit), make_desk(other)
        now = utcnow()
        create_user(username="admin", password=PASSWORD, role=Role.ADMIN, now=now)
        create_user(username="analyst", password=PASSWORD, role=Role.ANALYST, now=now)
        create_user(
            username="officer", password=PASSWORD, role=Role.UNIT_OFFICER, unit=unit, now=now
        )
        db.session.commit()
        return Staff(unit.id, sub.id, other.id, desk.id, other_desk.id)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login page, CSRF token and all."""
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    answer = client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 302, f"login as {username} failed"


def csrf_token(client: FlaskClient, url: str = "/admin/") -> str:
    """A CSRF token for posting staff forms, read from any signed-in page."""
    page = client.get(url).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found is not None, f"no CSRF token on {url}"
    return found.group(1)
