"""Forms of the comment moderation page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length

from survey.models import CommentState


class ReviewForm(FlaskForm):
    """One comment's new state; the page posts it from the buttons beside the comment."""

    state = SelectField(
        _l("Trạng thái"),
        choices=[SelectChoice(s.value, s.value) for s in CommentState],
        validators=[InputRequired(message=_l("Chọn duyệt hoặc ẩn."))],
    )


class BulkReviewForm(FlaskForm):
    """Several comments' new state at once: the ticked ``answer_id`` boxes of the page."""

    state = SelectField(
        _l("Trạng thái"),
        choices=[SelectChoice(s.value, s.value) for s in CommentState],
        validators=[InputRequired(message=_l("Chọn duyệt hoặc ẩn."))],
    )


class RedactForm(FlaskForm):
    """A part of one comment to hide for good (a name or an address the masking missed)."""

    phrase = StringField(
        _l("Đoạn cần ẩn"),
        validators=[
            InputRequired(message=_l("Hãy nhập đoạn cần ẩn, đúng như trong ý kiến.")),
            Length(max=500, message=_l("Đoạn cần ẩn dài tối đa %(max)d ký tự.")),
        ],
    )
