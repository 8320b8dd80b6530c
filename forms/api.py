"""Forms of the API pages: creating a token for a staff account."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from forms.rounds import WholeNumberField
from survey.services.accounts.api_tokens import DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS


class ApiTokenForm(FlaskForm):
    user_id = SelectField(
        _l("Tài khoản"),
        coerce=int,
        description=_l(
            "Mã truy cập có đúng quyền của tài khoản này (cán bộ đơn vị: chỉ đơn vị của mình)."
        ),
        validators=[InputRequired(message=_l("Chọn tài khoản."))],
    )
    name = StringField(
        _l("Tên gợi nhớ"),
        description=_l("Ví dụ: “Báo cáo R của Viện nghiên cứu”."),
        validators=[
            DataRequired(message=_l("Nhập tên gợi nhớ.")),
            Length(max=200, message=_l("Tên dài tối đa 200 ký tự.")),
        ],
    )
    lifetime_days = WholeNumberField(
        _l("Thời hạn (ngày)"),
        default=DEFAULT_LIFETIME_DAYS,
        description=_l(
            "Mã tự hết hiệu lực sau số ngày này (để trống là %(default)s ngày, tối đa %(max)s); "
            "khi hết hạn, tạo mã mới.",
            default=DEFAULT_LIFETIME_DAYS,
            max=MAX_LIFETIME_DAYS,
        ),
        validators=[
            Optional(),  # left empty: the default
            NumberRange(
                min=1,
                max=MAX_LIFETIME_DAYS,
                message=_l("Thời hạn là một số ngày từ 1 đến %(max)s.", max=MAX_LIFETIME_DAYS),
            ),
        ],
    )
    # A key per form served: sending the same form again (a reload of the answer that shows the
    # secret) must not create a second token.
    once = HiddenField(
        validators=[Length(max=64, message=_l("Biểu mẫu không hợp lệ: tải lại trang."))]
    )
