"""Signed values the citizen's browser carries for us: when the form was served (with the served
form's one-time nonce), and which desks this device has already answered. Signed with the app's
secret, so they cannot be forged."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from flask import Request, current_app
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from survey.signing_keys import KeptKeySigner, signing_keys

DEVICE_COOKIE = "hl_answered"
MAX_REMEMBERED = 30


def _serializer(salt: str) -> URLSafeSerializer:
    return _serializer_for(signing_keys(current_app), salt)


@lru_cache(maxsize=16)
def _serializer_for(secrets: tuple[str, ...], salt: str) -> URLSafeSerializer:
    # Made once per set of keys: each citizen's submission signs or checks three values. Signed
    # with the last (SECRET_KEY), checked under each, so a form served before a rotation of the
    # secret keeps its start time and a device its answered desks.
    return URLSafeSerializer(list(secrets), salt=salt, signer=KeptKeySigner)


# Random bytes of a served form's nonce: 128 bits, 22 characters (the column holds 32).
NONCE_BYTES = 16


@dataclass(frozen=True)
class Started:
    """What a served form's signed start says: seconds since it was served, and its nonce, which
    the database records when the form is sent so that it counts once (``FormUse``)."""

    elapsed: float
    nonce: str


def sign_started(now: float | None = None) -> str:
    """The signed start of a newly served form, with a fresh nonce."""
    return sign_started_under(signing_keys(current_app), now)


def sign_started_under(keys: tuple[str, ...], now: float | None = None) -> str:
    """``sign_started`` under the given secret keys (the last signs), outside a request: for
    clients that stand in for many served forms (the load benchmark, the fault tests)."""
    when = round(now if now is not None else time.time(), 1)
    serializer = _serializer_for(keys, "form-started")
    return serializer.dumps([when, secrets.token_urlsafe(NONCE_BYTES)])


def read_started(token: str | None, now: float | None = None) -> Started | None:
    """The form's start, or None when the token is missing, forged, or signed before forms
    carried a nonce (a form served before that change is sent once more)."""
    if not token:
        return None
    try:
        value = _serializer("form-started").loads(token)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)):
        return None
    started, nonce = value
    if not isinstance(started, int | float) or not 0 < len(nonce) <= 32:
        return None
    return Started((now if now is not None else time.time()) - started, nonce)


def seconds_since_started(token: str | None, now: float | None = None) -> float | None:
    """Seconds since the form was served, or None when the token is missing or forged."""
    started = read_started(token, now)
    return None if started is None else started.elapsed


def _answered(request: Request) -> dict[str, float]:
    return _slots(request.cookies.get(DEVICE_COOKIE))


def _slots(raw: str | None) -> dict[str, float]:
    if not raw:
        return {}
    try:
        value = _serializer("device").loads(raw)
    except BadSignature:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float)}


def answered_recently(cookie: str | None, slot: str, period_hours: int, now: float) -> bool:
    """Whether this device (its answered-desks cookie, ``DEVICE_COOKIE``) answered ``slot``
    (round and desk) within the period. The cookie is read only when the rule is on."""
    if period_hours <= 0:
        return False
    when = _slots(cookie).get(slot)
    return when is not None and now - when < period_hours * 3600


def remember_answer(request: Request, response: Response, slot: str, now: float) -> None:
    answered = _answered(request)
    answered[slot] = round(now)
    newest = dict(sorted(answered.items(), key=lambda kv: kv[1])[-MAX_REMEMBERED:])
    response.set_cookie(
        DEVICE_COOKIE,
        _serializer("device").dumps(newest),
        max_age=30 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )
