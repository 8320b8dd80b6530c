"""Configuration fails loudly and says what to set."""

from __future__ import annotations

import pytest

from survey import create_app
from survey.config import ConfigError, load_config


def test_production_without_secret_key_refuses_to_start() -> None:
    env = {"HAILONG_ENV": "production", "DATABASE_URL": "postgresql://u@h/db"}
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(None, env, "instance")


def test_production_with_sqlite_refuses_to_start() -> None:
    env = {"HAILONG_ENV": "production", "SECRET_KEY": "x" * 40}
    with pytest.raises(ConfigError, match="PostgreSQL"):
        load_config(None, env, "instance")


def test_malformed_database_url_is_named() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is malformed"):
        load_config(None, {"DATABASE_URL": "not a url"}, "instance")


def test_plain_postgresql_url_uses_the_installed_driver() -> None:
    config = load_config(None, {"DATABASE_URL": "postgresql://u@h/db"}, "instance")
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_development_default_is_sqlite_in_the_instance_folder() -> None:
    app = create_app({"TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("hailong.sqlite3")


PRODUCTION = {
    "HAILONG_ENV": "production",
    "SECRET_KEY": "s" * 48,
    "DATABASE_URL": "postgresql://u@h/db",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
    "PUBLIC_BASE_URL": "https://hailong.example.gov.vn",
}


def test_a_complete_production_environment_starts_with_https_only_cookies() -> None:
    config = load_config(None, PRODUCTION, "instance")
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["REMEMBER_COOKIE_SECURE"] is True


def test_development_cookies_work_over_plain_http() -> None:
    assert not load_config(None, {}, "instance").get("SESSION_COOKIE_SECURE")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "RATELIMIT_STORAGE_URI"),
        ({"PUBLIC_BASE_URL": "http://127.0.0.1:5000"}, "PUBLIC_BASE_URL"),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY"),
        ({"PROXY_FIX_X_FOR": "one"}, "PROXY_FIX_X_FOR"),
    ],
)
def test_each_production_mistake_is_named(change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(None, PRODUCTION | change, "instance")


def test_missing_limit_storage_is_refused_in_production() -> None:
    env = dict(PRODUCTION)
    del env["RATELIMIT_STORAGE_URI"]
    with pytest.raises(ConfigError, match="memory:// counts in each gunicorn worker"):
        load_config(None, env, "instance")


def test_session_cookie_of_a_production_app_is_secure_httponly_and_lax(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    app = create_app({"TESTING": True})  # create_app does no I/O: the database is not reached
    answer = app.test_client().get("/admin/login", base_url="https://hailong.example.gov.vn")
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "max-age=31536000" in answer.headers["Strict-Transport-Security"]


def test_passwords_are_hashed_with_scrypt_and_production_refuses_weaker() -> None:
    # The suite signs in thousands of times with one PBKDF2 round (tests/conftest.py);
    # a real deployment always uses scrypt, whatever a configuration object says.
    assert load_config(None, PRODUCTION, "instance")["PASSWORD_HASH_METHOD"] == "scrypt"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        from survey.services.accounts.users import hash_password

        assert hash_password("ao-dai-xanh-2026").startswith("scrypt:32768:8:1$")
    with pytest.raises(ConfigError, match="PASSWORD_HASH_METHOD must be scrypt"):
        load_config({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"}, PRODUCTION, "instance")


def test_api_rate_limit_comes_from_the_environment_and_a_malformed_one_is_named() -> None:
    assert load_config(None, {}, "instance")["API_RATE_LIMIT"] == "300 per minute"
    config = load_config(None, {"API_RATE_LIMIT": "20/second"}, "instance")
    assert config["API_RATE_LIMIT"] == "20/second"
    with pytest.raises(ConfigError, match="API_RATE_LIMIT"):
        load_config(None, {"API_RATE_LIMIT": "lots"}, "instance")


def test_earlier_secret_keys_are_read_from_the_environment_oldest_first() -> None:
    env = PRODUCTION | {"SECRET_KEY_FALLBACKS": f" {'a' * 40}  {'b' * 40}\n"}
    assert load_config(None, env, "instance")["SECRET_KEY_FALLBACKS"] == ["a" * 40, "b" * 40]
    assert load_config(None, PRODUCTION, "instance")["SECRET_KEY_FALLBACKS"] == []


@pytest.mark.parametrize("old", ["short", "changeme", "replace-with-" + "x" * 40])
def test_production_refuses_a_weak_earlier_secret_key(old: str) -> None:
    env = PRODUCTION | {"SECRET_KEY_FALLBACKS": f"{'a' * 40} {old}"}
    with pytest.raises(ConfigError, match="SECRET_KEY_FALLBACKS must hold only earlier secret"):
        load_config(None, env, "instance")
