"""Hài lòng: citizen satisfaction surveys for Vietnamese public administration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_login import current_user

from survey import assets, cli, errors, i18n, ops, routing
from survey.config import default_database_url, load_config
from survey.extensions import babel, csrf, db, login_manager, migrate
from survey.services import ratelimits
from survey.signing_keys import SessionInterface, accept_earlier_secrets_for_csrf

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application. No I/O here: no schema creation, no migrations, no network."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_relative_config=True,
    )
    app.config.from_mapping(load_config(config, os.environ, app.instance_path))
    if app.config["SQLALCHEMY_DATABASE_URI"] == default_database_url(app.instance_path):
        # The embedded database lives in the instance folder, which a fresh checkout lacks
        # (as flaskr's factory, the one folder made here; no database is touched).
        os.makedirs(app.instance_path, exist_ok=True)
    app.session_interface = SessionInterface()
    accept_earlier_secrets_for_csrf(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    ratelimits.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    assets.init_app(app)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.globals["config_languages"] = app.config["LANGUAGES"]
    # Also in macros imported without the page's context (Flask-Login's context processor
    # reaches only the page itself).
    app.jinja_env.globals["current_user"] = current_user

    routing.init_app(app)
    from survey.admin import bp as admin_bp
    from survey.api import bp as api_bp
    from survey.api.openapi import API_PREFIX
    from survey.public import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix=API_PREFIX)
    csrf.exempt(api_bp)

    ops.init_app(app)
    errors.register_error_handlers(app)
    cli.register(app)
    return app
