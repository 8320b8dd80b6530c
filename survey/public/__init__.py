"""The citizen's side: a desk's QR link, the questionnaire, the thank-you page."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from survey.public import invitations, results, views  # noqa: E402,F401  (views register themselves on bp)
