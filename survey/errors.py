"""Domain errors and the one place that maps errors to HTTP answers.

Pages get an HTML page in the visitor's language; ``/api/`` gets JSON ``{code, message}``. Nothing
answers with a traceback, and a 500 rolls the session back first.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.response import Response as SansIOResponse

if TYPE_CHECKING:
    from werkzeug.wrappers import Response as WerkzeugResponse

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the product was broken by the request; maps to a 4xx answer."""

    status = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(DomainError):
    status = 404
    code = "not_found"


class ConflictError(DomainError):
    status = 409
    code = "conflict"


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"


class TemplateFrozenError(ConflictError):
    code = "template_frozen"

    def __init__(self, version: Any) -> None:
        super().__init__(
            f"Questionnaire version {getattr(version, 'id', '?')} is used by a round that has "
            "opened and can no longer be changed; clone it into a new draft instead."
        )


def _route() -> str:
    # The route pattern, not the path: paths carry desk tokens.
    return request.url_rule.rule if request.url_rule is not None else "<unmatched>"


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(status: int, code: str, message: str) -> tuple[Any, int]:
    if _wants_json():
        return jsonify(code=code, message=message), status
    return render_template("errors/error.html", status=status, message=message), status


def _http_message(exc: HTTPException) -> str:
    messages = {
        400: _("Yêu cầu không hợp lệ."),
        403: _("Bạn không có quyền xem trang này."),
        404: _("Không tìm thấy trang bạn yêu cầu."),
        405: _("Phương thức không được hỗ trợ."),
        413: _("Dữ liệu gửi lên quá lớn."),
        429: _("Quá nhiều yêu cầu. Vui lòng thử lại sau ít phút."),
        503: _("Hệ thống tạm thời không phục vụ được. Vui lòng thử lại sau."),
    }
    return messages.get(exc.code or 500, _("Đã xảy ra lỗi."))


class _ServiceUnavailable(HTTPException):
    code = 503


def _reset_session() -> None:
    """Roll back; when the connection itself is gone, drop the session (the pool replaces the
    connection on the next checkout). Never raises: an error page must always render."""
    from survey.extensions import db

    try:
        db.session.rollback()
    except SQLAlchemyError:
        try:
            db.session.remove()
        except SQLAlchemyError:
            log.warning("could not close a broken database session", exc_info=True)


def register_error_handlers(app: Flask) -> None:

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> tuple[Any, int]:
        _reset_session()
        return _render(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(
        exc: HTTPException,
    ) -> tuple[Any, int, list[tuple[str, str]]] | WerkzeugResponse | SansIOResponse:
        if exc.response is not None:  # abort(response): the view made the page itself
            return exc.response
        if exc.code is None or exc.code < 400:
            return exc.get_response()
        if exc.code >= 500:
            _reset_session()
        description = exc.description if _wants_json() else None
        message = description if isinstance(description, str) else _http_message(exc)
        body, status = _render(exc.code, exc.name.lower().replace(" ", "_"), message)
        # A 405 says which methods the URL takes; a 429 may say when to come back.
        kept = [(k, v) for k, v in exc.get_headers() if k in ("Allow", "Retry-After")]
        return body, status, kept

    def database_unavailable(exc: Exception) -> tuple[Any, int]:
        _reset_session()
        log.error("database unavailable on %s %s: %s", request.method, _route(), exc)
        return _render(503, "unavailable", _http_message(_ServiceUnavailable()))

    # A lost or refused database connection is an outage, not a bug: 503, and the citizen's
    # client (or the script on the page) tries again.
    for outage in (OperationalError, InterfaceError, PoolTimeoutError, PendingRollbackError):
        app.register_error_handler(outage, database_unavailable)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Any, int]:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return database_unavailable(exc)
        _reset_session()
        log.exception("unhandled error on %s %s", request.method, _route())
        return _render(500, "internal_error", _("Đã xảy ra lỗi. Vui lòng thử lại sau."))
