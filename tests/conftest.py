"""Fixtures: an application on a migrated database, SQLite always, PostgreSQL when
``TEST_DATABASE_URL`` is set. Every test starts from an empty, freshly migrated schema."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import create_engine, make_url, text

from survey import create_app
from survey.extensions import db


def _worker_database(url: str | None) -> str | None:
    """Under pytest-xdist, each worker tests on a database of its own beside the one given
    (``<name>_gw0``, ...), made at the start of its session and dropped at the end."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    given = make_url(url)
    return given.set(database=f"{given.database}_{worker}").render_as_string(hide_password=False)


GIVEN_POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
class MemoryBytecodeCache(BytecodeCache):
    """Compiled templates kept in memory for the whole test session."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


POSTGRES_URL = _worker_database(GIVEN_POSTGRES_URL)
# Every test builds its own application, and with it a Jinja environment that would compile
# each template again: they share the compiled templates instead (production runs one app).
TEMPLATE_CACHE = MemoryBytecodeCache()


def _config(url: str) -> dict[str, object]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret",
        # One PBKDF2 round instead of scrypt's 0.1 s: thousands of sign-ins in the suite.
        # tests/test_config.py checks that production keeps scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
    }


def server_closes_the_app_connections() -> int:
    """What a database restart or a firewall's idle timeout does to pooled connections (waiting,
    up to 5 s, until each is gone)."""
    assert POSTGRES_URL
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()


def migrate_to_head(url: str) -> None:
    app = create_app(_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def reset_postgres_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _worker_database_exists(create: bool) -> None:
    """Make (or drop) this xdist worker's database, on the server of the one given."""
    assert GIVEN_POSTGRES_URL and POSTGRES_URL
    name = make_url(POSTGRES_URL).database
    server = create_engine(GIVEN_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: a SQLite file to copy per test, or the PostgreSQL database itself."""
    if POSTGRES_URL:
        if POSTGRES_URL != GIVEN_POSTGRES_URL:
            _worker_database_exists(create=True)
        reset_postgres_schema(POSTGRES_URL)
        migrate_to_head(POSTGRES_URL)
        yield POSTGRES_URL
        if POSTGRES_URL != GIVEN_POSTGRES_URL:
            _worker_database_exists(create=False)
        return
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}")
    yield str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    if POSTGRES_URL:
        yield POSTGRES_URL
        engine = create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
            ]
            # TRUNCATE does not fire the audit table's row triggers, so it can empty it.
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return
    path = tmp_path / "test.sqlite3"
    shutil.copy(migrated_template, path)
    yield f"sqlite:///{path}"


def make_app(config: dict[str, object]) -> Flask:
    """``create_app`` for tests: templates compiled once per session."""
    app = create_app(config)
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    return app


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = make_app(_config(database_url))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app_factory(database_url: str) -> Iterator[Callable[..., Flask]]:
    """More applications on the test's database (say, two app servers), closed afterwards."""
    made: list[Flask] = []

    def make(**overrides: object) -> Flask:
        made.append(make_app(_config(database_url) | overrides))
        return made[-1]

    yield make
    for extra in made:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
