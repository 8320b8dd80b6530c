"""The JSON API. Errors are JSON ``{code, message}`` (see survey.errors)."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from survey.api import views  # noqa: E402,F401  (views register themselves on bp)
