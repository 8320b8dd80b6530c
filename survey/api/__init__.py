"""The JSON API. Errors are JSON ``{code, message}`` (see survey.errors)."""

from flask import Blueprint, Response

bp = Blueprint("api", __name__)


@bp.after_request
def _not_stored(response: Response) -> Response:
    """API answers carry staff-only data: no browser or proxy may keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    return response


from survey.api import auth, views  # noqa: E402,F401  (they register themselves on bp)
