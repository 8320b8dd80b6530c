"""Backup and restore as README says: deploy/backup.sh (pg_dump -Fc) of a live round, pg_restore
into a fresh database, every response, answer and audit event found again, the app ready on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from survey import ROOT, create_app
from survey.extensions import db
from survey.models import RoundState, utcnow
from survey.services.demo import build_demo_province, simulate_responses
from tests.conftest import POSTGRES_URL, migrate_to_head

CHECKS = {
    "responses": "SELECT id, round_id, desk_id, status, idempotency_key, received_at "
    "FROM responses ORDER BY id",
    "answers": "SELECT id, response_id, item_id, value FROM answers ORDER BY id",
    "audit_events": "SELECT id, action, entity_type, entity_id, occurred_at FROM audit_events "
    "ORDER BY id",
}


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL only: set TEST_DATABASE_URL (.ci/run does) to test pg_dump")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed (apt-get install postgresql-client)")
    names = [f"hailong_backup_{uuid.uuid4().hex[:8]}", f"hailong_restore_{uuid.uuid4().hex[:8]}"]
    server = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL)
    yield (
        url.set(database=names[0]).render_as_string(hide_password=False),
        url.set(database=names[1]).render_as_string(hide_password=False),
    )
    with server.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def _contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {
            table: [tuple(r) for r in conn.execute(text(sql))] for table, sql in CHECKS.items()
        }
    engine.dispose()
    return found


def test_pg_dump_of_a_live_round_restores_every_response_and_audit_event(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    source, target = two_databases
    migrate_to_head(source)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": source})
    with app.app_context():
        round_ = build_demo_province(now=utcnow())
        simulate_responses(round_, 300, now=utcnow(), seed=3)
        db.session.commit()
        assert round_.state == RoundState.OPEN
        db.session.remove()
        db.engine.dispose()
    before = _contents(source)
    assert len(before["responses"]) == 300 and len(before["audit_events"]) > 0

    # The shipped nightly script, given the app's own URL (with its +psycopg driver suffix).
    backups = tmp_path / "backups"
    app_url = make_url(source).set(drivername="postgresql+psycopg")
    env = dict(
        os.environ,
        DATABASE_URL=app_url.render_as_string(hide_password=False),
        BACKUP_DIR=str(backups),
        BACKUP_KEEP_DAYS="30",
    )
    written = subprocess.run(
        ["bash", str(ROOT / "deploy/backup.sh")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    [dump] = backups.glob("hailong-*.dump")
    assert f"backup written: {dump}" in written.stdout
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(target)}", str(dump)],
        check=True,
    )

    assert _contents(target) == before
    restored = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": target})
    ready = restored.test_client().get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    engine = create_engine(target)
    with engine.connect() as conn:
        # The audit trail is still append-only after the restore: its triggers came back too.
        triggers = conn.execute(
            text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass")
        ).all()
    engine.dispose()
    with restored.app_context():
        db.engine.dispose()
    assert triggers
