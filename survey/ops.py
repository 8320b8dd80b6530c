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
from flask import Blueprint, Flask, abort, current_app, g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from survey.errors import DomainError
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


class ControlCharacterError(DomainError):
    code = "bad_request"  # as every other malformed request to the API


def _refuse_nul() -> None:
    """No person types a NUL character, and PostgreSQL text cannot hold one: refuse it in any
    query string, form field or JSON string before a view (or a search filter) passes it to the
    database.
    URL-encoded bodies are checked raw (``%00``), so the body stays unread for the views.

    Citizens send a few kilobytes (anything far larger is an attack or a mistake), far less than
    the console's uploads: their pages' limit is set here, before anything reads the body."""
    if request.blueprint == "public":
        request.max_content_length = current_app.config["PUBLIC_MAX_BODY"]
    found = any("\x00" in v for values in request.args.listvalues() for v in values) or any(
        "\x00" in k for k in request.args
    )
    if not found and request.method in ("POST", "PUT", "PATCH"):
        if request.mimetype == "application/x-www-form-urlencoded":
            raw = request.get_data(cache=True)
            found = b"\x00" in raw or b"%00" in raw
        elif request.mimetype == "multipart/form-data":
            found = any("\x00" in k or "\x00" in v for k, vs in request.form.lists() for v in vs)
        elif request.is_json:
            # JSON writes it \u0000: look in the parsed body (cached for the view).
            try:
                body = request.get_json(silent=True, cache=True)
            except RecursionError:  # [[[[...]]]] nested past Python's stack
                abort(400, description=_("Dữ liệu JSON lồng nhau quá sâu."))
            found = _has_nul(body)
    if found:
        raise ControlCharacterError(
            _("Dữ liệu gửi lên có ký tự điều khiển không hợp lệ (NUL). Vui lòng nhập lại.")
        )


def _has_nul(document: object) -> bool:
    """Whether a parsed JSON document holds a NUL character in any key or string (walked with
    a list, not by recursion: a document may be nested as deep as the parser allows)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def init_app(app: Flask) -> None:
    hops = int(app.config.get("PROXY_FIX_X_FOR", 0))
    if hops:
        # Trust X-Forwarded-* only from the configured number of proxies in front of us.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    app.before_request(_start_timer)
    # First of all: before CSRF checks, sign-in or any view reads a field.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_nul)
    app.after_request(_finish)
    app.register_blueprint(bp)
