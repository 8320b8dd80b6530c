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


TRIM_CHOICES = [
    SelectChoice("3.5", _l("3,5 lần trung vị (mặc định)")),
    SelectChoice("5", _l("5 lần trung vị")),
    SelectChoice("10", _l("10 lần trung vị")),
    SelectChoice("none", _l("Không cắt trọng số")),
]
MODE_CHOICES = [
    SelectChoice("paper", _l("Phiếu giấy")),
    SelectChoice("phone", _l("Phỏng vấn qua điện thoại")),
    SelectChoice("face_to_face", _l("Phỏng vấn trực tiếp")),
]


def trim_ratio(choice: str | None) -> float | None:
    """The trimming ratio a DrawForm's choice stands for (None: no trimming)."""
    return None if choice in (None, "", "none") else float(choice)


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
    double_entry = BooleanField(
        _l("Nhập hai lần: mỗi phiếu giấy hoặc phỏng vấn do hai người nhập, người thứ ba đối chiếu")
    )
    trim_ratio = SelectField(
        _l("Cắt trọng số"),
        choices=TRIM_CHOICES,
        default="3.5",
        description=_l(
            "Trọng số lớn hơn bội số này của trung vị được cắt về mức đó; quy tắc được ghi cùng "
            "lần chọn mẫu và không đổi sau khi có câu trả lời."
        ),
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
            SelectChoice("refused", _l("Từ chối")),
            SelectChoice("undeliverable", _l("Không chuyển được thư")),
            SelectChoice("issued", _l("Chưa có kết quả (huỷ kết quả đã ghi nhầm)")),
        ],
    )


class EntryForm(FlaskForm):
    """A paper form or an interview entered by staff: how it came (its answers are the
    questionnaire's fields, read by ``survey.services.rounds.sample_answers``)."""

    mode = SelectField(_l("Cách trả lời"), choices=MODE_CHOICES)
