"""Bearer-token authentication and per-token rate limiting for the API.

Every route needs ``Authorization: Bearer <token>`` except those declared public
(``Operation.public``: the status, the document and published rounds' public results). A request
with no token, an unknown one, a revoked one or one whose account is deactivated gets 401. Each
token has its own budget (``API_RATE_LIMIT``, e.g. ``"300 per minute"``) in the shared
rate-limit storage; requests without a valid token share one budget per client network, so
guessing tokens is throttled too. Over budget: 429 with ``Retry-After``.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _
from limits import RateLimitItem, parse

from survey.api import bp
from survey.api.shapes import OPERATIONS
from survey.extensions import db
from survey.models import ApiToken, User, utcnow
from survey.services.accounts.api_tokens import authenticate_token
from survey.services.ratelimits import counter
from survey.services.responses.abuse import client_network

DEFAULT_RATE_LIMIT = "300 per minute"


def _limit() -> RateLimitItem:
    return parse(str(current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)))


def _over_budget(*key: str) -> Any | None:
    """None while ``key`` is within its budget; else the 429 answer."""
    item = _limit()
    namespace = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    budget = counter()
    if budget.hit(item, namespace, *key):
        return None
    reset, _remaining = budget.get_window_stats(item, namespace, *key)
    answer = jsonify(
        code="too_many_requests", message=_("Quá nhiều yêu cầu. Vui lòng thử lại sau ít phút.")
    )
    answer.status_code = 429
    answer.headers["Retry-After"] = str(max(1, int(reset - time.time())))
    return answer


def _unauthorized(message: str) -> Any:
    answer = jsonify(code="unauthorized", message=message)
    answer.status_code = 401
    answer.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return answer


@bp.before_request
def authenticate() -> Any | None:
    network = client_network(request.remote_addr)
    declared = OPERATIONS.get(request.endpoint or "")
    if declared is not None and declared.public:
        return _over_budget("api-net", network)
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    token = None
    if scheme.lower() == "bearer" and secret.strip():
        token = authenticate_token(secret.strip(), now=utcnow())
    if token is None:
        refused = _over_budget("api-net", network)
        if refused is not None:
            return refused
        if not scheme:
            return _unauthorized(_("Cần mã truy cập: gửi tiêu đề Authorization: Bearer <mã>."))
        return _unauthorized(
            _("Mã truy cập không hợp lệ, đã bị thu hồi hoặc tài khoản đã bị khoá.")
        )
    # The request boundary: keep the token's last use (the views only read).
    db.session.commit()
    g.api_token = token
    return _over_budget("api-token", str(token.id))


def api_user() -> User:
    """The account the request's token acts for."""
    token: ApiToken = g.api_token
    return token.user
