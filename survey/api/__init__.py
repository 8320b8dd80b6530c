"""The JSON API. Errors are JSON ``{code, message}`` (see survey.errors)."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from survey.api import auth, views  # noqa: E402,F401  (they register themselves on bp)
