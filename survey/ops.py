"""What operators and load balancers need: health checks, security headers, request logs.

``/healthz`` says the process is up; ``/readyz`` says it can serve: the database answers, its
schema is at the migrations' head, and Redis answers when rate limits live there.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, current_app, g, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from survey.extensions import db

bp = Blueprint("ops", __name__)
log = logging.getLogger("survey.requests")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


def _migrations_head() -> str | None:
    config = Config()
    config.set_main_option("script_location", current_app.extensions["migrate"].directory)
    return ScriptDirectory.from_config(config).get_current_head()


@bp.get("/readyz")
def readyz() -> Any:
    checks: dict[str, str] = {}
    try:
        version = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        checks["database"] = "ok"
        checks["migrations"] = "ok" if version == _migrations_head() else f"at {version}"
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = f"unavailable: {type(exc).__name__}"
    storage = str(current_app.config.get("RATELIMIT_STORAGE_URI", ""))
    if storage.startswith("redis"):
        import redis

        try:
            redis.Redis.from_url(storage, socket_connect_timeout=1).ping()
            checks["redis"] = "ok"
        except redis.RedisError as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _start_timer() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex


def _finish(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # Desk tokens are in URLs: never hand them to another site as a referrer.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    response.headers["X-Request-Id"] = g.get("request_id", "")
    rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    duration = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
    # The route pattern, never the path: paths carry desk tokens, and no address is logged.
    log.info(
        json.dumps(
            {
                "request_id": g.get("request_id"),
                "method": request.method,
                "route": rule,
                "status": response.status_code,
                "duration_ms": round(duration, 1),
            }
        )
    )
    return response


def init_app(app: Flask) -> None:
    hops = int(app.config.get("PROXY_FIX_X_FOR", 0))
    if hops:
        # Trust X-Forwarded-* only from the configured number of proxies in front of us.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    app.before_request(_start_timer)
    app.after_request(_finish)
    app.register_blueprint(bp)
