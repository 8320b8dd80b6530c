"""API fixtures: the console's small organisation (``staff``), and a token per role."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from survey.extensions import db
from survey.models import User, utcnow
from survey.services.accounts.api_tokens import create_token
from tests.admin.conftest import Staff, staff  # noqa: F401  (the fixture, shared with the console tests)


@pytest.fixture
def tokens(app: Flask, staff: Staff) -> dict[str, str]:  # noqa: F811  (the fixture above)
    """username -> bearer token, for admin, analyst and officer."""
    with app.app_context():
        users = {u.username: u for u in db.session.scalars(select(User))}
        found = {
            name: create_token(users[name], f"{name} script", actor=users["admin"], now=utcnow())
            for name in ("admin", "analyst", "officer")
        }
        db.session.commit()
        return {name: new.secret for name, new in found.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
