"""Forms of a sampled round: the frame upload and the draw."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

ALLOCATION_CHOICES = [
    SelectChoice("proportional", _l("Tỷ lệ với số hồ sơ")),
    SelectChoice("equal", _l("Bằng nhau giữa các tầng")),
    SelectChoice("minimum", _l("Tối thiểu mỗi đơn vị, phần còn lại theo tỷ lệ")),
]


class FrameUploadForm(FlaskForm):
    file = FileField(
        _l("Tệp CSV khung mẫu"), validators=[FileRequired(message=_l("Chọn tệp CSV để tải lên."))]
    )


class DrawForm(FlaskForm):
    allocation = SelectField(_l("Cách phân bổ"), choices=ALLOCATION_CHOICES)
    total = IntegerField(
        _l("Cỡ mẫu"),
        validators=[
            DataRequired(message=_l("Nhập cỡ mẫu.")),
            NumberRange(min=1, message=_l("Cỡ mẫu phải từ 1 trở lên.")),
        ],
    )
    minimum = IntegerField(
        _l("Tối thiểu mỗi đơn vị"),
        default=0,
        validators=[NumberRange(min=0, message=_l("Số tối thiểu không được âm."))],
    )
    confirm = BooleanField(
        _l("Tôi xác nhận chọn mẫu: việc chọn chỉ làm một lần và không thay khung mẫu được nữa"),
        validators=[DataRequired(message=_l("Đánh dấu ô xác nhận để tiếp tục."))],
    )


class MakeSampleForm(FlaskForm):
    confirm = BooleanField(
        _l("Tôi xác nhận chuyển đợt này thành đợt chọn mẫu"),
        validators=[DataRequired(message=_l("Đánh dấu ô xác nhận để tiếp tục."))],
    )


class OutcomeForm(FlaskForm):
    """What came of one invitation, found by the reference number printed on its letter."""

    reference = StringField(
        _l("Số tham chiếu trên thư mời"),
        validators=[DataRequired(message=_l("Nhập số tham chiếu.")), Length(max=16)],
    )
    state = SelectField(
        _l("Kết quả"),
        choices=[
            SelectChoice("answered", _l("Đã trả lời")),
            SelectChoice("refused", _l("Từ chối")),
            SelectChoice("undeliverable", _l("Không chuyển được thư")),
        ],
    )
    mode = SelectField(
        _l("Cách trả lời"),
        choices=[
            SelectChoice("paper", _l("Phiếu giấy")),
            SelectChoice("phone", _l("Phỏng vấn qua điện thoại")),
            SelectChoice("face_to_face", _l("Phỏng vấn trực tiếp")),
            SelectChoice("self_web", _l("Tự trả lời trên mạng")),
        ],
    )
