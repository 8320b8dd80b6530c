"""Forms of the questionnaire editor: a new template, a version's settings, aspects, elements,
items, moving things up or down, and importing a version from JSON.

The forms check what can be told from the form alone (filled in, lengths, numbers, code
patterns); ``survey.services.questionnaires.templates`` checks the rest against the scale and the
version.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, Length, Regexp, ValidationError

from forms.rounds import WholeNumberField, whole_number_or_zero
from survey.models import IndexDefinition, ItemRole, Scale
from survey.services.questionnaires.editor import (
    AspectDraft,
    ElementDraft,
    ItemDraft,
    NewTemplateDraft,
    VersionDraft,
)
from survey.services.questionnaires.templates import (
    GROUP_CODE,
    ITEM_CODE,
    MAX_INTRO,
    MAX_ITEM_TEXT,
    MAX_NAME,
    MAX_VALUE,
)
from survey.services.rounds.result_settings import parse_target

SCALE_LABELS = {
    Scale.SAT5: _l("Mức độ hài lòng, 5 mức (1 Rất không hài lòng … 5 Rất hài lòng)"),
    Scale.LEVEL4: _l("4 mức (1 Hoàn toàn không … 4 Rất)"),
    Scale.ONESTOP3: _l("3 mức theo Nghị định 61/2018 (1 Không hài lòng … 3 Rất hài lòng)"),
    Scale.YESNO: _l("Có / Không (1 Có, 0 Không)"),
    Scale.POINTS210: _l("Chỉ số chấm điểm 2 / 1 / 0 (Thông tư 01/2018)"),
    Scale.CHOICE: _l("Chọn trong danh sách (một hoặc nhiều lựa chọn)"),
    Scale.TEXT: _l("Trả lời tự do (văn bản)"),
}

ROLE_LABELS = {
    ItemRole.CRITERION: _l("Tiêu chí (tính vào chỉ số của yếu tố)"),
    ItemRole.OVERALL: _l("Câu hỏi hài lòng chung (báo cáo riêng, không gộp vào chỉ số)"),
    ItemRole.PRIORITIES: _l("Nội dung cần ưu tiên cải thiện"),
    ItemRole.COMMENT: _l("Ý kiến khác (trả lời tự do)"),
    ItemRole.OTHER: _l("Câu hỏi khác (không tính vào chỉ số)"),
}

# Short forms for the tables of the version page.
SCALE_SHORT = {
    Scale.SAT5: _l("5 mức"),
    Scale.LEVEL4: _l("4 mức"),
    Scale.ONESTOP3: _l("3 mức (NĐ 61)"),
    Scale.YESNO: _l("Có/Không"),
    Scale.POINTS210: _l("2/1/0 điểm"),
    Scale.CHOICE: _l("Chọn trong danh sách"),
    Scale.TEXT: _l("Tự do"),
}

ROLE_SHORT = {
    ItemRole.CRITERION: _l("Tiêu chí"),
    ItemRole.OVERALL: _l("Hài lòng chung"),
    ItemRole.PRIORITIES: _l("Ưu tiên cải thiện"),
    ItemRole.COMMENT: _l("Ý kiến khác"),
    ItemRole.OTHER: _l("Khác"),
}

INDEX_LABELS = {
    IndexDefinition.TOP2BOX: _l("Tỷ lệ hài lòng: % người trả lời chọn mức được tính là hài lòng"),
    IndexDefinition.MEAN: _l("Điểm trung bình trên thang đo"),
    IndexDefinition.MEAN_PCT: _l("Điểm trung bình quy ra %: trung bình / điểm tối đa × 100"),
}

VALUE = re.compile(r"-?\d{1,4}")
SEPARATORS = re.compile(r"[\s,;]+")


class TrimmedStringField(StringField):
    """Text without the spaces around it, so that blanks count as empty."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if valuelist and isinstance(valuelist[0], str):
            self.data = valuelist[0].strip()


class TrimmedTextAreaField(TextAreaField):
    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if valuelist and isinstance(valuelist[0], str):
            self.data = valuelist[0].strip()


code_required = DataRequired(message=_l("Nhập mã."))
name_required = DataRequired(message=_l("Nhập tên tiếng Việt."))
name_length = Length(max=MAX_NAME, message=_l("Dài tối đa %(max)d ký tự."))
group_code = Regexp(
    f"^{GROUP_CODE.pattern}$",
    message=_l("Mã gồm chữ không dấu, chữ số, dấu gạch, dấu chấm; tối đa 64 ký tự; ví dụ HC, A."),
)


def parse_values(text: str | None) -> tuple[list[int], bool]:
    """Whole numbers separated by commas, semicolons or spaces; the flag is False when some
    part is not one."""
    parts = [p for p in SEPARATORS.split(text or "") if p]
    if not all(VALUE.fullmatch(p) for p in parts):
        return [], False
    return sorted({int(p) for p in parts}), True


LABEL_EXAMPLE = "4 | Rất quan tâm | Very interested"


def parse_options(
    text: str | None, *, example: str = "1 | Đơn giản hoá thủ tục | Simpler procedures"
) -> tuple[list[tuple[int, str, str]], list[str]]:
    """Lines of ``value | Vietnamese label | English label`` (the English one may be left out);
    returns the options and one message per bad line."""
    options: list[tuple[int, str, str]] = []
    problems: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) not in (2, 3) or not VALUE.fullmatch(parts[0]) or not parts[1]:
            problems.append(
                str(
                    _l(
                        "Dòng %(n)s: viết theo dạng giá trị | nhãn tiếng Việt | nhãn tiếng Anh, "
                        "ví dụ %(example)s.",
                        n=number,
                        example=example,
                    )
                )
            )
            continue
        options.append((int(parts[0]), parts[1], parts[2] if len(parts) == 3 else ""))
    return options, problems


def _values_validator(form: FlaskForm, field: Field) -> None:
    _values, ok = parse_values(field.data)
    if not ok:
        raise ValidationError(
            _l(
                "Nhập các số nguyên từ -%(max)s đến %(max)s, cách nhau bởi dấu phẩy, ví dụ 4, 5.",
                max=MAX_VALUE,
            )
        )


class NewTemplateForm(FlaskForm):
    code = TrimmedStringField(
        _l("Mã phiếu"),
        description=_l("Không đổi được sau này; dùng trong tệp xuất, ví dụ sipas_2026."),
        validators=[code_required, group_code],
    )
    name = TrimmedStringField(_l("Tên phiếu (tiếng Việt)"), validators=[name_required, name_length])
    name_en = TrimmedStringField(_l("Tên phiếu (tiếng Anh)"), validators=[name_length])
    title = TrimmedStringField(
        _l("Tiêu đề người dân thấy (tiếng Việt)"), validators=[name_required, name_length]
    )
    title_en = TrimmedStringField(
        _l("Tiêu đề người dân thấy (tiếng Anh)"), validators=[name_length]
    )

    def draft(self) -> NewTemplateDraft:
        return NewTemplateDraft(
            code=(self.code.data or "").strip(),
            name=(self.name.data or "").strip(),
            name_en=(self.name_en.data or "").strip(),
            title=(self.title.data or "").strip(),
            title_en=(self.title_en.data or "").strip(),
        )


class VersionForm(FlaskForm):
    title = TrimmedStringField(
        _l("Tiêu đề người dân thấy (tiếng Việt)"), validators=[name_required, name_length]
    )
    title_en = TrimmedStringField(
        _l("Tiêu đề người dân thấy (tiếng Anh)"), validators=[name_length]
    )
    intro = TrimmedTextAreaField(
        _l("Lời giới thiệu (tiếng Việt)"),
        validators=[Length(max=MAX_INTRO, message=_l("Dài tối đa %(max)d ký tự."))],
    )
    intro_en = TrimmedTextAreaField(
        _l("Lời giới thiệu (tiếng Anh)"),
        validators=[Length(max=MAX_INTRO, message=_l("Dài tối đa %(max)d ký tự."))],
    )
    index_definition = SelectField(
        _l("Cách tính chỉ số tiêu chí"),
        choices=[SelectChoice(d.value, label) for d, label in INDEX_LABELS.items()],
        validate_choice=False,
    )

    default_target = TrimmedStringField(
        _l("Chỉ tiêu thường áp dụng (%)"),
        description=_l(
            "Đợt khảo sát mới dùng phiên bản này bắt đầu với chỉ tiêu này, ví dụ 70 với y tế, "
            "giáo dục. Để trống để dùng chỉ tiêu chung của tỉnh."
        ),
        validators=[Length(max=40)],
    )

    def validate_default_target(self, field: Field) -> None:
        if field.data:
            try:
                parse_target(field.data)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc

    def draft(self) -> VersionDraft:
        return VersionDraft(
            title=(self.title.data or "").strip(),
            title_en=(self.title_en.data or "").strip(),
            intro=(self.intro.data or "").strip(),
            intro_en=(self.intro_en.data or "").strip(),
            index_definition=self.index_definition.data or "",
            default_target=parse_target(self.default_target.data)
            if self.default_target.data
            else None,
        )


class AspectForm(FlaskForm):
    code = TrimmedStringField(_l("Mã khía cạnh"), validators=[code_required, group_code])
    name = TrimmedStringField(_l("Tên (tiếng Việt)"), validators=[name_required, name_length])
    name_en = TrimmedStringField(_l("Tên (tiếng Anh)"), validators=[name_length])

    def draft(self) -> AspectDraft:
        return AspectDraft(
            code=(self.code.data or "").strip(),
            name=(self.name.data or "").strip(),
            name_en=(self.name_en.data or "").strip(),
        )


class ElementForm(FlaskForm):
    aspect_id = SelectField(
        _l("Thuộc khía cạnh"), coerce=whole_number_or_zero, validate_choice=False
    )
    code = TrimmedStringField(_l("Mã yếu tố"), validators=[code_required, group_code])
    name = TrimmedStringField(_l("Tên (tiếng Việt)"), validators=[name_required, name_length])
    name_en = TrimmedStringField(_l("Tên (tiếng Anh)"), validators=[name_length])

    def draft(self) -> ElementDraft:
        return ElementDraft(
            aspect_id=self.aspect_id.data or 0,
            code=(self.code.data or "").strip(),
            name=(self.name.data or "").strip(),
            name_en=(self.name_en.data or "").strip(),
        )


class ItemForm(FlaskForm):
    code = TrimmedStringField(
        _l("Mã câu hỏi"),
        description=_l("Chữ không dấu, chữ số và dấu gạch dưới, bắt đầu bằng chữ; ví dụ A1."),
        validators=[
            code_required,
            Regexp(
                f"^{ITEM_CODE.pattern}$",
                message=_l(
                    "Mã bắt đầu bằng chữ, gồm chữ không dấu, chữ số và dấu gạch dưới, "
                    "tối đa 32 ký tự."
                ),
            ),
        ],
    )
    text = TrimmedTextAreaField(
        _l("Câu hỏi (tiếng Việt)"),
        validators=[
            DataRequired(message=_l("Nhập câu hỏi.")),
            Length(max=MAX_ITEM_TEXT, message=_l("Dài tối đa %(max)d ký tự.")),
        ],
    )
    text_en = TrimmedTextAreaField(
        _l("Câu hỏi (tiếng Anh)"),
        validators=[Length(max=MAX_ITEM_TEXT, message=_l("Dài tối đa %(max)d ký tự."))],
    )
    scale = SelectField(
        _l("Thang đo"),
        choices=[SelectChoice(s.value, label) for s, label in SCALE_LABELS.items()],
        validate_choice=False,
    )
    role = SelectField(
        _l("Vai trò"),
        choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()],
        validate_choice=False,
    )
    element_id = SelectField(_l("Thuộc yếu tố"), coerce=whole_number_or_zero, validate_choice=False)
    required = BooleanField(_l("Bắt buộc trả lời"))
    allow_na = BooleanField(_l("Có lựa chọn “Không áp dụng” (không tính điểm)"))
    max_choices = WholeNumberField(
        _l("Chọn tối đa (chỉ với thang “Chọn trong danh sách”)"),
        description=_l("Để trống nếu không giới hạn."),
    )
    options = TrimmedTextAreaField(
        _l("Các lựa chọn (chỉ với thang “Chọn trong danh sách”)"),
        description=_l(
            "Mỗi dòng một lựa chọn: giá trị | nhãn tiếng Việt | nhãn tiếng Anh, "
            "ví dụ 1 | Đơn giản hoá thủ tục | Simpler procedures."
        ),
        validators=[Length(max=20_000)],
    )
    scale_labels = TrimmedTextAreaField(
        _l("Nhãn riêng của từng mức (không bắt buộc)"),
        description=_l(
            "Để trống để dùng nhãn chung của thang. Nếu ghi: mỗi dòng một mức, "
            "mức | nhãn tiếng Việt | nhãn tiếng Anh, đủ mọi mức của thang, "
            "ví dụ 4 | Rất quan tâm | Very interested."
        ),
        validators=[Length(max=5_000)],
    )
    satisfied_values = TrimmedStringField(
        _l("Các giá trị được tính là hài lòng"),
        description=_l(
            "Giá trị của thang đo, cách nhau bởi dấu phẩy: thường là 4, 5 với thang 5 mức; "
            "3, 4 với 4 mức; 2, 3 với 3 mức; 1 với Có/Không. Để trống với câu trả lời tự do."
        ),
        validators=[_values_validator],
    )
    condition_item_id = SelectField(
        _l("Chỉ hỏi khi câu trước được trả lời"),
        description=_l("Câu điều kiện phải đứng trước câu này trong phiếu."),
        coerce=whole_number_or_zero,
        validate_choice=False,
    )
    condition_values = TrimmedStringField(
        _l("… bằng một trong các giá trị"),
        description=_l("Ví dụ 1 (Có) với câu Có/Không."),
        validators=[_values_validator],
    )

    def validate_options(self, field: Field) -> None:
        _options, problems = parse_options(field.data)
        if problems:
            raise ValidationError(" ".join(problems))

    def validate_scale_labels(self, field: Field) -> None:
        _labels, problems = parse_options(field.data, example=LABEL_EXAMPLE)
        if problems:
            raise ValidationError(" ".join(problems))

    def draft(self) -> ItemDraft:
        options, _problems = parse_options(self.options.data)
        satisfied, _ok = parse_values(self.satisfied_values.data)
        condition_values, _ok = parse_values(self.condition_values.data)
        scale_labels, _problems = parse_options(self.scale_labels.data, example=LABEL_EXAMPLE)
        return ItemDraft(
            code=(self.code.data or "").strip(),
            text=(self.text.data or "").strip(),
            text_en=(self.text_en.data or "").strip(),
            scale=self.scale.data or "",
            role=self.role.data or "",
            element_id=self.element_id.data or None,
            required=bool(self.required.data),
            allow_na=bool(self.allow_na.data),
            max_choices=self.max_choices.data,
            satisfied_values=tuple(satisfied),
            options=tuple(options),
            condition_item_id=self.condition_item_id.data or None,
            condition_values=tuple(condition_values),
            scale_labels=tuple(scale_labels),
        )

    @staticmethod
    def data_of(item: Any) -> dict[str, Any]:
        """The form's values for an existing item."""
        return {
            "code": item.code,
            "text": item.text,
            "text_en": item.text_en,
            "scale": item.scale,
            "role": item.role,
            "element_id": item.element_id or 0,
            "required": item.required,
            "allow_na": item.allow_na,
            "max_choices": item.max_choices,
            "options": "\n".join(
                " | ".join(
                    [str(o.value), o.label, o.label_en] if o.label_en else [str(o.value), o.label]
                )
                for o in item.options
            ),
            "satisfied_values": ", ".join(str(v) for v in item.satisfied_values or []),
            "scale_labels": "\n".join(
                " | ".join([str(value), vi, en] if en else [str(value), vi])
                for value, vi, en in item.scale_labels or []
            ),
            "condition_item_id": item.condition_item_id or 0,
            "condition_values": ", ".join(str(v) for v in item.condition_values or []),
        }


class MoveForm(FlaskForm):
    direction = HiddenField(validators=[AnyOf(["up", "down"], message=_l("Hướng không hợp lệ."))])


class ImportForm(FlaskForm):
    file = FileField(
        _l("Tệp JSON của phiếu khảo sát"),
        validators=[FileRequired(message=_l("Chọn tệp JSON để tải lên."))],
    )


class ActionForm(FlaskForm):
    """A button that needs nothing but the CSRF token (cloning a version)."""
