"""Forms of the comment moderation page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField
from wtforms.validators import InputRequired

from survey.models import CommentState


class ReviewForm(FlaskForm):
    """One comment's new state; the page posts it from the buttons beside the comment."""

    state = SelectField(
        _l("Trạng thái"),
        choices=[SelectChoice(s.value, s.value) for s in CommentState],
        validators=[InputRequired(message=_l("Chọn duyệt hoặc ẩn."))],
    )
