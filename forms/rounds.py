"""Forms of the survey-round pages: a round's settings, state changes, dossier counts, and
excluding or restoring responses. Times are typed in Vietnam time and stored as naive UTC."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, DateTimeLocalInput, ListWidget

from survey.local_time import to_local, to_utc
from survey.models import Round
from survey.services.responses.exclusions import Window
from survey.services.rounds.lifecycle import RoundDraft

LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
MAX_TARGET = 1_000_000


def whole_number_or_zero(value: Any) -> int:
    """Coerce a submitted id; anything that is not one becomes 0, which matches nothing, so a
    crafted value is reported by the service instead of crashing the form."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class VietnamDateTimeField(Field):
    """A date and time typed in Vietnam time (``<input type="datetime-local">``); ``data`` is
    naive UTC."""

    widget = DateTimeLocalInput()

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if isinstance(self.data, datetime):
            return to_local(self.data).strftime("%Y-%m-%dT%H:%M")
        return ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        text = str(valuelist[0]).strip()
        for fmt in LOCAL_FORMATS:
            try:
                self.data = to_utc(datetime.strptime(text, fmt))
                return
            except ValueError:
                continue
        self.data = None
        raise ValueError(
            _l("Nhập ngày giờ theo dạng ngày/tháng/năm giờ:phút, ví dụ 01/03/2026 07:30.")
        )


class WholeNumberField(IntegerField):
    """An integer field whose error for non-numbers is in the interface language."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = int(str(valuelist[0]).strip())
        except ValueError:
            self.data = None
            raise ValueError(_l("Nhập một số nguyên.")) from None

    def pre_validate(self, form: Any) -> None:
        # Not a number: say that alone, not also that "None" is out of range.
        if self.process_errors:
            raise StopValidation()


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


OVERRIDE_LINE = re.compile(r"^\s*([^\s:;,=\t]+)\s*[:;,=\t]\s*(\S+)\s*$")


def parse_overrides(text: str) -> tuple[list[tuple[str, int]], list[str]]:
    """Lines of ``UNIT_CODE: target`` (also ``,`` ``;`` ``=`` or a tab, as pasted from a
    spreadsheet); returns the pairs and one message per bad line."""
    pairs: list[tuple[str, int]] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = OVERRIDE_LINE.match(line)
        if match is None:
            problems.append(
                str(_l("Dòng %(n)s: viết theo dạng MÃ_ĐƠN_VỊ: chỉ tiêu, ví dụ U01: 200.", n=number))
            )
            continue
        code, raw = match.groups()
        if not re.fullmatch(r"\d+", raw) or int(raw) > MAX_TARGET:
            problems.append(
                str(
                    _l(
                        "Dòng %(n)s: chỉ tiêu phải là số nguyên từ 0 đến %(max)s.",
                        n=number,
                        max=MAX_TARGET,
                    )
                )
            )
            continue
        if code in seen:
            problems.append(
                str(
                    _l(
                        "Dòng %(n)s: đơn vị %(code)s đã có ở dòng %(first)s.",
                        n=number,
                        code=code,
                        first=seen[code],
                    )
                )
            )
            continue
        seen[code] = number
        pairs.append((code, int(raw)))
    return pairs, problems


class RoundForm(FlaskForm):
    name = StringField(
        _l("Tên đợt khảo sát"),
        validators=[InputRequired(message=_l("Nhập tên đợt khảo sát.")), Length(max=300)],
    )
    version_id = SelectField(
        _l("Phiếu khảo sát (phiên bản)"), coerce=whole_number_or_zero, validate_choice=False
    )
    opens_at = VietnamDateTimeField(
        _l("Bắt đầu (giờ Việt Nam)"),
        validators=[InputRequired(message=_l("Nhập thời điểm bắt đầu."))],
    )
    closes_at = VietnamDateTimeField(
        _l("Kết thúc (giờ Việt Nam)"),
        validators=[InputRequired(message=_l("Nhập thời điểm kết thúc."))],
    )
    all_units = BooleanField(_l("Tất cả đơn vị đang hoạt động"))
    levels = MultiCheckboxField(_l("Các đơn vị thuộc cấp"), validate_choice=False)
    unit_ids = MultiCheckboxField(
        _l("Từng đơn vị"), coerce=whole_number_or_zero, validate_choice=False
    )
    default_target = WholeNumberField(
        _l("Chỉ tiêu số phiếu mỗi đơn vị"),
        default=100,
        validators=[
            InputRequired(message=_l("Nhập chỉ tiêu số phiếu.")),
            NumberRange(min=0, max=MAX_TARGET, message=_l("Chỉ tiêu từ 0 đến 1.000.000 phiếu.")),
        ],
    )
    overrides = TextAreaField(
        _l("Chỉ tiêu riêng cho một số đơn vị"),
        description=_l("Mỗi dòng một đơn vị: MÃ_ĐƠN_VỊ: chỉ tiêu, ví dụ STP: 300."),
        validators=[Length(max=100_000)],
    )
    min_answer_seconds = WholeNumberField(
        _l("Thời gian trả lời tối thiểu (giây; 0 là tắt)"),
        default=10,
        validators=[
            InputRequired(message=_l("Nhập một số nguyên.")),
            NumberRange(min=0, max=3600, message=_l("Từ 0 đến 3600 giây.")),
        ],
    )
    device_period_hours = WholeNumberField(
        _l("Mỗi thiết bị trả lời một quầy một lần trong (giờ; 0 là tắt)"),
        default=12,
        validators=[
            InputRequired(message=_l("Nhập một số nguyên.")),
            NumberRange(min=0, max=24 * 365, message=_l("Từ 0 đến 8760 giờ.")),
        ],
    )
    desk_limit_per_hour = WholeNumberField(
        _l("Số phiếu tối đa mỗi quầy trong một giờ"),
        default=240,
        validators=[
            InputRequired(message=_l("Nhập một số nguyên.")),
            NumberRange(min=1, max=100_000, message=_l("Từ 1 đến 100.000.")),
        ],
    )
    network_limit_per_hour = WholeNumberField(
        _l("Số phiếu tối đa từ một mạng trong một giờ"),
        default=240,
        validators=[
            InputRequired(message=_l("Nhập một số nguyên.")),
            NumberRange(min=1, max=100_000, message=_l("Từ 1 đến 100.000.")),
        ],
    )

    def validate_closes_at(self, field: Field) -> None:
        if self.opens_at.data and field.data and field.data <= self.opens_at.data:
            raise ValidationError(_l("Thời điểm kết thúc phải sau thời điểm bắt đầu."))

    def validate_overrides(self, field: Field) -> None:
        _pairs, problems = parse_overrides(field.data or "")
        if problems:
            raise ValidationError(" ".join(problems))

    def validate_unit_ids(self, field: Field) -> None:
        if not (self.all_units.data or self.levels.data or field.data):
            raise ValidationError(
                _l("Chọn tất cả đơn vị, một cấp đơn vị, hoặc ít nhất một đơn vị.")
            )

    def draft(self) -> RoundDraft:
        """The validated form as a draft for the services (call after ``validate``)."""
        opens_at, closes_at = self.opens_at.data, self.closes_at.data
        if opens_at is None or closes_at is None:
            raise ValueError("draft() needs a validated form")
        pairs, _problems = parse_overrides(self.overrides.data or "")
        return RoundDraft(
            name=(self.name.data or "").strip(),
            version_id=self.version_id.data or 0,
            opens_at=opens_at,
            closes_at=closes_at,
            all_units=bool(self.all_units.data),
            level_codes=tuple(self.levels.data or ()),
            unit_ids=tuple(self.unit_ids.data or ()),
            default_target=self.default_target.data or 0,
            overrides=tuple(pairs),
            min_answer_seconds=self.min_answer_seconds.data or 0,
            device_period_hours=self.device_period_hours.data or 0,
            desk_limit_per_hour=self.desk_limit_per_hour.data or 1,
            network_limit_per_hour=self.network_limit_per_hour.data or 1,
        )

    @staticmethod
    def data_of(round_: Round) -> dict[str, Any]:
        """The form's values for an existing round: the most common target is the default,
        the others are listed as overrides."""
        targets = {s.unit.code: s.target_responses for s in round_.scope}
        default = Counter(targets.values()).most_common(1)[0][0] if targets else 0
        return {
            "name": round_.name,
            "version_id": round_.template_version_id,
            "opens_at": round_.opens_at,
            "closes_at": round_.closes_at,
            "unit_ids": [s.unit_id for s in round_.scope],
            "default_target": default,
            "overrides": "\n".join(
                f"{code}: {target}" for code, target in sorted(targets.items()) if target != default
            ),
            "min_answer_seconds": round_.min_answer_seconds,
            "device_period_hours": round_.device_period_hours,
            "desk_limit_per_hour": round_.desk_limit_per_hour,
            "network_limit_per_hour": round_.network_limit_per_hour,
        }


class ConfirmForm(FlaskForm):
    confirm = BooleanField(
        _l("Tôi đã đọc và xác nhận thao tác này"),
        validators=[DataRequired(message=_l("Đánh dấu ô xác nhận để tiếp tục."))],
    )


class DossierUploadForm(FlaskForm):
    file = FileField(
        _l("Tệp CSV số hồ sơ"), validators=[FileRequired(message=_l("Chọn tệp CSV để tải lên."))]
    )
    replace = BooleanField(_l("Thay thế toàn bộ: xoá các ô không có trong tệp"))
    confirm_replace = BooleanField(_l("Tôi xác nhận xoá số hồ sơ của các ô không có trong tệp"))

    def validate_confirm_replace(self, field: Field) -> None:
        if self.replace.data and not field.data:
            raise ValidationError(_l("Khi thay thế toàn bộ, hãy đánh dấu ô xác nhận xoá."))


class DossierCodeUploadForm(FlaskForm):
    file = FileField(
        _l("Tệp CSV mã hồ sơ"), validators=[FileRequired(message=_l("Chọn tệp CSV để tải lên."))]
    )


class ExclusionForm(FlaskForm):
    """Exclude or restore responses: the chosen ones, or every one in a burst's window."""

    response_ids = SelectMultipleField(coerce=whole_number_or_zero, validate_choice=False)
    window_start = StringField()
    window_end = StringField()
    reason = TextAreaField(
        _l("Lý do"),
        validators=[
            InputRequired(message=_l("Nhập lý do.")),
            Length(min=5, max=1000, message=_l("Lý do dài từ 5 đến 1000 ký tự.")),
        ],
    )
    confirm = BooleanField(
        _l("Tôi xác nhận thao tác này"),
        validators=[DataRequired(message=_l("Đánh dấu ô xác nhận để tiếp tục."))],
    )

    def window(self) -> Window | None:
        """The burst window carried by the form, or None when it carries none or a bad one."""
        return parse_window(self.window_start.data, self.window_end.data)


def parse_window(start_text: str | None, end_text: str | None) -> Window | None:
    """A window from two naive UTC ISO timestamps; None when either is missing or malformed."""
    try:
        start = datetime.fromisoformat(start_text or "")
        end = datetime.fromisoformat(end_text or "")
    except ValueError:
        return None
    if start.tzinfo is not None or end.tzinfo is not None or end < start:
        return None
    return Window(start, end)


class ResultSettingsForm(FlaskForm):
    """A round's target and publishing rule. Plain text fields: a target is typed "95,5" as
    readily as "95.5", and the service says what is wrong with anything else. The targets of
    unit levels are fields named ``level-<code>``, one per level (read by the view)."""

    target = StringField(
        _l("Mục tiêu của đợt (%%)"),
        description=_l("Để trống là mục tiêu chung của tỉnh."),
        validators=[Length(max=40)],
    )
    rule_min_n_eff = StringField(_l("Cỡ mẫu hiệu dụng tối thiểu"), validators=[Length(max=40)])
    rule_max_ci_width = StringField(
        _l("Độ rộng tối đa của khoảng tin cậy (điểm phần trăm)"), validators=[Length(max=40)]
    )
    rule_relative_width_above = StringField(
        _l("Xét độ rộng tương đối khi khoảng tin cậy rộng hơn (điểm phần trăm)"),
        validators=[Length(max=40)],
    )
    rule_max_relative_width = StringField(
        _l("Độ rộng tương đối tối đa (1,3 là 130%% của con số)"), validators=[Length(max=40)]
    )
    rule_df_review = StringField(
        _l("Bậc tự do dưới mức này thì cần xem lại"), validators=[Length(max=40)]
    )
