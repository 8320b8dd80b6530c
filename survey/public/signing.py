"""Signed values the citizen's browser carries for us: when the form was served, and which desks
this device has already answered. Signed with the app's secret, so they cannot be forged."""

from __future__ import annotations

import time
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


def sign_started(now: float | None = None) -> str:
    return _serializer("form-started").dumps(round(now if now is not None else time.time(), 1))


def seconds_since_started(token: str | None, now: float | None = None) -> float | None:
    """Seconds since the form was served, or None when the token is missing or forged."""
    if not token:
        return None
    try:
        started = float(_serializer("form-started").loads(token))
    except (BadSignature, TypeError, ValueError):
        return None
    return (now if now is not None else time.time()) - started


def _answered(request: Request) -> dict[str, float]:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return {}
    try:
        value = _serializer("device").loads(raw)
    except BadSignature:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float)}


def answered_recently(request: Request, slot: str, period_hours: int, now: float) -> bool:
    """Whether this device answered ``slot`` (round and desk) within the period."""
    if period_hours <= 0:
        return False
    when = _answered(request).get(slot)
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
