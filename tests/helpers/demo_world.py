"""The demo province on one database per test module: an open round with simulated responses,
an excluded response, comments (approved and pending), a closed round, the demo accounts and an
API token each, and a revoked desk link. For tests that walk many pages at once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text

from survey import create_app
from survey.extensions import db
from survey.models import CommentState, Desk, RoundState, User, utcnow
from survey.services.accounts.api_tokens import create_token
from survey.services.demo import build_demo_province, demo_accounts, simulate_responses
from survey.services.organisation.desks import regenerate_token
from survey.services.responses.comments import review_comment
from tests.admin.conftest import PASSWORD, login
from tests.conftest import POSTGRES_URL, _config
from tests.helpers.comments import add_comment
from tests.helpers.rounds import add_responses, round_over

ROLES = ("anonymous", "admin", "analyst", "officer")


@dataclass(frozen=True)
class DemoWorld:
    app: Flask
    round_id: int  # the open demo round
    closed_round_id: int
    desk_token: str  # a live desk link
    revoked_token: str  # a desk link replaced by a new one
    cookies: dict[str, str | None]  # role -> session cookie
    api_tokens: dict[str, str | None]  # role -> bearer token

    def client(self, role: str, *, api: bool = False) -> FlaskClient:
        client = self.app.test_client()
        if api:
            token = self.api_tokens[role]
            if token is not None:
                client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
            return client
        cookie = self.cookies[role]
        if cookie is not None:
            client.set_cookie("session", cookie)
        return client


def _build(app: Flask) -> tuple[int, int, str, str]:
    now = utcnow()
    round_ = build_demo_province(now=now)
    demo_accounts(PASSWORD, now=now)
    simulate_responses(round_, 300, now=now)
    db.session.commit()
    desks = list(db.session.scalars(select(Desk).order_by(Desk.id)))
    add_responses(round_.id, desks[0].id, [now - timedelta(hours=1)], excluded=True)
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    assert admin is not None
    for n, desk in enumerate(desks[:4]):
        answer = add_comment(round_.id, desk.id, f"Nhân viên nhiệt tình, cảm ơn {n}", now=now)
        if n % 2 == 0:
            review_comment(round_, answer, CommentState.APPROVED, actor=admin, now=now)
    revoked = desks[-1].token
    regenerate_token(desks[-1], now=now, actor=admin)
    closed = round_over(
        [desks[0].unit_id],
        now=now - timedelta(days=90),
        state=RoundState.CLOSED,
        name="Đợt khảo sát quý I",
    )
    db.session.commit()
    return round_.id, closed, desks[0].token, revoked


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars()
        # TRUNCATE does not fire the audit table's row triggers, so it can empty it.
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


def demo_world(migrated_template: str, folder: Path) -> Iterator[DemoWorld]:
    """Body of a module-scoped fixture: the world, then the database emptied."""
    if POSTGRES_URL:
        url = POSTGRES_URL
    else:
        path = folder / "demo.sqlite3"
        shutil.copy(migrated_template, path)
        url = f"sqlite:///{path}"
    app = create_app(_config(url))
    try:
        with app.app_context():
            round_id, closed, token, revoked = _build(app)
        cookies: dict[str, str | None] = {"anonymous": None}
        api_tokens: dict[str, str | None] = {"anonymous": None}
        for role in ROLES[1:]:
            client = app.test_client()
            login(client, role)
            cookie = client.get_cookie("session")
            cookies[role] = cookie.value if cookie is not None else None
            with app.app_context():
                user = db.session.scalar(select(User).where(User.username == role))
                assert user is not None
                api_tokens[role] = create_token(user, "walk", actor=user, now=utcnow()).secret
                db.session.commit()
        yield DemoWorld(app, round_id, closed, token, revoked, cookies, api_tokens)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if POSTGRES_URL:
            _empty_postgres(POSTGRES_URL)
