"""Configuration, parsed once and checked.

Defaults suit a developer machine (SQLite in the instance folder). Production is selected by
``HAILONG_ENV=production`` and then refuses to start without a real secret key and a real database.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from limits import parse as parse_limit
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from survey.local_time import LOCAL_TZ

PUBLIC_BODY_LIMIT = 64 * 1024


class ConfigError(RuntimeError):
    """The environment does not describe a runnable application; the message says what to set."""


DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "dev-only-not-secret",
    "SQLALCHEMY_DATABASE_URI": None,  # filled from DATABASE_URL or the instance folder
    # Connections are pinged after lying idle (survey/extensions.py), not before every use.
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    # Citizens may leave a form open for a long time at a queue; the token is still tied to
    # their session cookie, so an unlimited age only removes a pointless failure.
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    "PUBLIC_MAX_BODY": PUBLIC_BODY_LIMIT,
    "BABEL_DEFAULT_LOCALE": "vi",
    "BABEL_DEFAULT_TIMEZONE": LOCAL_TZ.key,
    "LANGUAGES": ("vi", "en"),
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "SESSION_COOKIE_HTTPONLY": True,
    # Staff sessions end after a working day; citizens' sessions only carry a CSRF token.
    "PERMANENT_SESSION_LIFETIME": 8 * 3600,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "ENV_NAME": "development",
    "API_RATE_LIMIT": "300 per minute",  # per API token (and per network without one)
    # The province's satisfaction target in percent, for rounds that set none (2021-2025 plans).
    "TARGET_DEFAULT": 90.0,
    # Werkzeug's scrypt (N=2^15): about 0.1 s a hash here. Not read from the environment; the
    # test suite lowers it in its own configuration, and production refuses anything else.
    "PASSWORD_HASH_METHOD": "scrypt",
    "RATELIMIT_STORAGE_URI": "memory://",
    # Redis must answer quickly or be counted as down (survey/services/ratelimits.py).
    "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
    # How many reverse proxies (nginx) stand in front; their X-Forwarded-* headers are trusted.
    "PROXY_FIX_X_FOR": 0,
    # WTForms ships no Vietnamese catalogue, and its English one is its own English messages:
    # every message a person sees comes from our catalogue, given to each validator. With this
    # on, Flask-WTF would read WTForms' catalogue from disk again for every request with a form.
    "WTF_I18N_ENABLED": False,
    # Key for hashing dossier codes; derived from SECRET_KEY unless set on its own.
    "DOSSIER_CODE_KEY": None,
    # Key the province gives its one-stop software to sign receipt links (docs/receipt-links.md);
    # derived from SECRET_KEY unless set on its own.
    "RECEIPT_KEY": None,
}

# Production is served over HTTPS only (deploy/nginx): cookies never travel in clear.
PRODUCTION_COOKIES: dict[str, Any] = {
    "SESSION_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "PREFERRED_URL_SCHEME": "https",
}

WEAK_SECRETS = {"", "dev-only-not-secret", "changeme", "secret"}


def _database_url(raw: str) -> str:
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ConfigError(
            f"DATABASE_URL is malformed ({exc}); expected e.g. "
            "postgresql+psycopg://user@host/dbname or sqlite:///path/to/file.sqlite3"
        ) from exc
    # The psycopg 3 driver is the one installed; a bare postgresql:// would look for psycopg2.
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _fallbacks(raw: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Earlier secret keys, oldest first, that signed values are still accepted under (SECRET_KEY
    signs everything new): from the environment, separated by spaces."""
    if raw is None:
        return []
    keys = raw.split() if isinstance(raw, str) else [str(key) for key in raw]
    return [key for key in keys if key]


def load_config(
    overrides: Mapping[str, Any] | None, environ: Mapping[str, str], instance_path: str
) -> dict[str, Any]:
    """Merge defaults, the environment and explicit overrides, and check the result."""
    config = dict(DEFAULTS)
    env_name = environ.get("HAILONG_ENV", "development")
    config["ENV_NAME"] = env_name
    if "SECRET_KEY" in environ:
        config["SECRET_KEY"] = environ["SECRET_KEY"]
    if "SECRET_KEY_FALLBACKS" in environ:
        config["SECRET_KEY_FALLBACKS"] = environ["SECRET_KEY_FALLBACKS"]
    if "DATABASE_URL" in environ:
        config["SQLALCHEMY_DATABASE_URI"] = _database_url(environ["DATABASE_URL"])
    for name in (
        "RATELIMIT_STORAGE_URI",
        "RATELIMIT_KEY_PREFIX",
        "DOSSIER_CODE_KEY",
        "RECEIPT_KEY",
    ):
        if name in environ:
            config[name] = environ[name]
    if "API_RATE_LIMIT" in environ:
        try:
            parse_limit(environ["API_RATE_LIMIT"])
        except ValueError as exc:
            raise ConfigError(
                "API_RATE_LIMIT must read like '300 per minute' or '10/second'"
            ) from exc
        config["API_RATE_LIMIT"] = environ["API_RATE_LIMIT"]
    if "PROXY_FIX_X_FOR" in environ:
        try:
            config["PROXY_FIX_X_FOR"] = int(environ["PROXY_FIX_X_FOR"])
        except ValueError as exc:
            raise ConfigError("PROXY_FIX_X_FOR must be a whole number of proxies") from exc
    if "TARGET_DEFAULT" in environ:
        raw = environ["TARGET_DEFAULT"].strip().replace(",", ".")
        try:
            target = float(raw)
        except ValueError:
            target = math.nan
        if not 0 <= target <= 100:
            raise ConfigError("TARGET_DEFAULT must be a percentage from 0 to 100, e.g. 90 or 95,5")
        config["TARGET_DEFAULT"] = target
    if "PUBLIC_BASE_URL" in environ:
        config["PUBLIC_BASE_URL"] = environ["PUBLIC_BASE_URL"].rstrip("/")
    if overrides:
        config.update(overrides)
    config["SECRET_KEY_FALLBACKS"] = _fallbacks(config.get("SECRET_KEY_FALLBACKS"))
    if config["SQLALCHEMY_DATABASE_URI"] is None:
        config["SQLALCHEMY_DATABASE_URI"] = default_database_url(instance_path)
    else:
        config["SQLALCHEMY_DATABASE_URI"] = _database_url(config["SQLALCHEMY_DATABASE_URI"])
    if env_name == "production":
        _check_production(config)
        config.update(PRODUCTION_COOKIES)
    return config


def default_database_url(instance_path: str) -> str:
    """The embedded SQLite database, in the instance folder."""
    return "sqlite:///" + os.path.join(instance_path, "hailong.sqlite3")


def _check_production(config: Mapping[str, Any]) -> None:
    if config.get("PASSWORD_HASH_METHOD") != "scrypt":
        raise ConfigError("PASSWORD_HASH_METHOD must be scrypt in production")
    secret = str(config.get("SECRET_KEY") or "")
    # "replace-with-..." is deploy/.env.example's placeholder, copied but not filled in.
    if secret in WEAK_SECRETS or len(secret) < 32 or secret.startswith("replace-with"):
        raise ConfigError(
            "SECRET_KEY must be set to a random string of at least 32 characters in production "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    for old in config.get("SECRET_KEY_FALLBACKS") or ():
        if old in WEAK_SECRETS or len(old) < 32 or old.startswith("replace-with"):
            raise ConfigError(
                "SECRET_KEY_FALLBACKS must hold only earlier secret keys (each a random string "
                "of at least 32 characters), separated by spaces"
            )
    for name in ("DOSSIER_CODE_KEY", "RECEIPT_KEY"):
        if str(config.get(name) or "").startswith("replace-with"):
            raise ConfigError(f"{name} still holds the example's placeholder: set a random key")
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        raise ConfigError(
            "DATABASE_URL must point to PostgreSQL in production "
            "(postgresql+psycopg://user:password@host/dbname)"
        )
    if config.get("DEBUG"):
        raise ConfigError("DEBUG must be off in production")
    if str(config.get("RATELIMIT_STORAGE_URI", "")).startswith("memory"):
        raise ConfigError(
            "RATELIMIT_STORAGE_URI must point to Redis in production (redis://host:6379/0): "
            "memory:// counts in each gunicorn worker on its own, so every limit would be "
            "multiplied by the number of workers and servers"
        )
    if not str(config.get("PUBLIC_BASE_URL", "")).startswith("https://"):
        raise ConfigError(
            "PUBLIC_BASE_URL must be the https:// address citizens reach in production "
            "(e.g. https://hailong.example.gov.vn): it is printed on every QR poster"
        )
