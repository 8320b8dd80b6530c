"""The staff console (Sở Nội vụ, unit officers, analysts)."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

from survey.admin import views  # noqa: E402,F401  (views register themselves on bp)
