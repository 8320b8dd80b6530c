"""Flask extensions, created unbound and bound in ``create_app``."""

from __future__ import annotations

import time
from typing import Any

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

from survey.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()
login_manager.login_view = "admin.login"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, on every connection.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


# A pooled connection idle for longer than this is pinged before use; one in steady use is not.
PING_AFTER_IDLE_SECONDS = 1.0


@event.listens_for(Pool, "checkin")
def _idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_after_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Instead of ``pool_pre_ping``, which pings before every use: one round trip to the
    database more for every request, a sixth of a citizen's submission. A connection that the
    server closed while it lay idle (a restart, a firewall's idle timeout) is found here and
    replaced, and the request never sees it; one that fails in the middle of busy use is
    invalidated with every other connection of its pool by SQLAlchemy's disconnect handling,
    and that one request answers 503."""
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()  # leave no transaction open behind the ping
    except Exception as exc:  # any failure of this trivial query: the connection is gone
        # The pool discards the connection and checks out another, up to three times.
        raise DisconnectionError(str(exc)) from exc
