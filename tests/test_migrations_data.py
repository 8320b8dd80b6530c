"""Migrations on a database that holds data: for every revision (found through alembic's
ScriptDirectory, so a new migration is covered without editing this file), a database at that
revision filled with a demo round is upgraded to head with every row intact, downgraded back to
the revision with every row intact again, then downgraded to base.

test_migrations.py checks the schema on an empty database; this checks the data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import Engine, MetaData, inspect, select

from survey import ROOT, create_app
from survey.extensions import db
from survey.models import utcnow
from survey.services.demo import build_demo_province, simulate_responses
from tests.test_migrations import empty_database  # noqa: F401 (a fixture)


def _revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


REVISIONS = _revisions()
Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def _normal(value: Any) -> Any:
    # SQLite and PostgreSQL agree on everything but the time zone of naive timestamps.
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _read(engine: Engine, columns: dict[str, set[str]] | None = None) -> Rows:
    """Every row of every table (but alembic's), by primary key; only ``columns`` if given."""
    meta = MetaData()
    meta.reflect(engine)
    found: Rows = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name == "alembic_version" or (columns and table.name not in columns):
                continue
            keep = columns[table.name] if columns else {c.name for c in table.columns}
            key = [c.name for c in table.primary_key.columns]
            found[table.name] = {
                tuple(row[k] for k in key): {c: _normal(row[c]) for c in keep if c in row}
                for row in (r._asdict() for r in conn.execute(select(table)))
            }
    return found


def _copy(rows: Rows, engine: Engine) -> dict[str, set[str]]:
    """Insert ``rows`` into the tables and columns that exist at the target's revision."""
    meta = MetaData()
    meta.reflect(engine)
    copied: dict[str, set[str]] = {}
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            if table.name not in rows or not rows[table.name]:
                continue
            names = {c.name for c in table.columns}
            copied[table.name] = names
            ordered = [rows[table.name][k] for k in sorted(rows[table.name])]
            conn.execute(table.insert(), [{c: r[c] for c in names if c in r} for r in ordered])
    return copied


@pytest.fixture
def demo_rows(app: Flask) -> Rows:
    with app.app_context():
        round_ = build_demo_province(now=utcnow())
        simulate_responses(round_, 40, now=utcnow(), seed=5)
        db.session.commit()
        rows = _read(db.engine)
        db.session.remove()
    assert len(rows["responses"]) == 40 and rows["audit_events"]
    return rows


@pytest.mark.parametrize("revision", REVISIONS[:-1])
def test_data_at_each_revision_survives_upgrade_and_downgrade(
    revision: str,
    demo_rows: Rows,
    empty_database: str,  # noqa: F811 (the fixture imported above)
) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade(revision=revision)
        copied = _copy(demo_rows, db.engine)
        assert "responses" in copied and "answers" in copied
        at_revision = _read(db.engine, copied)

        upgrade()
        assert _read(db.engine, copied) == at_revision, f"data changed by {revision} -> head"

        downgrade(revision=revision)
        assert _read(db.engine, copied) == at_revision, f"data changed by head -> {revision}"

        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_every_revision_is_covered() -> None:
    assert REVISIONS[0] == "0001" and len(REVISIONS) >= 2
