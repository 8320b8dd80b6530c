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
