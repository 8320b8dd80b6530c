"""Forms of the organisation pages: units, service areas, desks, merging units and the CSV
import. The rules on codes and names live in the services (shared with the CSV import); these
forms only check that something usable was sent."""

from __future__ import annotations

from typing import ClassVar

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, Field, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, ValidationError

from forms.rounds import MultiCheckboxField, whole_number_or_zero
from survey.services.organisation.csv_files import MAX_CODE, MAX_NAME
from survey.services.organisation.desks import DeskDraft
from survey.services.organisation.merge import MergeRequest, parse_codes
from survey.services.organisation.service_areas import AreaDraft
from survey.services.organisation.units import UnitDraft


def _code(label: object, message: object) -> StringField:
    return StringField(
        label,
        validators=[
            InputRequired(message=message),
            Length(max=MAX_CODE, message=_l("Mã dài tối đa %(max)d ký tự.")),
        ],
        description=_l("Chữ, chữ số và các dấu _ . - /, không có dấu cách; ví dụ STP hoặc PBM-Q1."),
    )


def _name(label: object, message: object, required: bool = True) -> StringField:
    validators: list[object] = [Length(max=MAX_NAME, message=_l("Tên dài tối đa %(max)d ký tự."))]
    if required:
        validators.insert(0, InputRequired(message=message))
    return StringField(label, validators=validators)


class UnitForm(FlaskForm):
    code = _code(_l("Mã đơn vị"), _l("Nhập mã đơn vị."))
    name = _name(_l("Tên đơn vị"), _l("Nhập tên đơn vị."))
    level_code = SelectField(_l("Cấp đơn vị"), validate_choice=False)
    parent_code = StringField(
        _l("Mã đơn vị cấp trên"),
        validators=[Length(max=MAX_CODE, message=_l("Mã dài tối đa %(max)d ký tự."))],
        description=_l("Để trống nếu đơn vị không trực thuộc đơn vị nào."),
    )
    area_ids = MultiCheckboxField(
        _l("Lĩnh vực đơn vị phục vụ"), coerce=whole_number_or_zero, validate_choice=False
    )

    def draft(self) -> UnitDraft:
        return UnitDraft(
            code=self.code.data or "",
            name=self.name.data or "",
            level_code=self.level_code.data or "",
            parent_code=self.parent_code.data or "",
            area_ids=tuple(self.area_ids.data or ()),
        )


class AreaForm(FlaskForm):
    code = _code(_l("Mã lĩnh vực"), _l("Nhập mã lĩnh vực."))
    name = _name(_l("Tên lĩnh vực"), _l("Nhập tên lĩnh vực."))
    name_en = _name(_l("Tên tiếng Anh (không bắt buộc)"), None, required=False)

    def draft(self) -> AreaDraft:
        return AreaDraft(self.code.data or "", self.name.data or "", self.name_en.data or "")


class DeskForm(FlaskForm):
    code = _code(_l("Mã quầy"), _l("Nhập mã quầy."))
    name = _name(_l("Tên quầy"), _l("Nhập tên quầy."))
    area_ids = MultiCheckboxField(
        _l("Lĩnh vực quầy phục vụ"), coerce=whole_number_or_zero, validate_choice=False
    )
    requires_dossier_code = BooleanField(_l("Người dân phải nhập mã hồ sơ ghi trên phiếu hẹn"))

    def draft(self) -> DeskDraft:
        return DeskDraft(
            code=self.code.data or "",
            name=self.name.data or "",
            area_ids=tuple(self.area_ids.data or ()),
            requires_dossier_code=bool(self.requires_dossier_code.data),
        )


class MergeForm(FlaskForm):
    """Two steps on one form: ``step`` is "check" on the first submission (show what will
    happen) and "apply" on the second, which needs the confirmation box."""

    step = HiddenField(default="check")
    successor_code = StringField(
        _l("Mã đơn vị kế thừa"),
        validators=[
            InputRequired(message=_l("Nhập mã đơn vị kế thừa.")),
            Length(max=MAX_CODE, message=_l("Mã dài tối đa %(max)d ký tự.")),
        ],
    )
    absorbed_codes = TextAreaField(
        _l("Mã các đơn vị bị sáp nhập"),
        description=_l("Cách nhau bằng dấu cách, dấu phẩy hoặc xuống dòng; ví dụ: XPL XTT."),
        validators=[
            InputRequired(message=_l("Nhập mã ít nhất một đơn vị bị sáp nhập.")),
            Length(max=70_000, message=_l("Danh sách quá dài.")),
        ],
    )
    move_desks = BooleanField(
        _l(
            "Đơn vị kế thừa nhận các quầy của đơn vị bị sáp nhập (mã QR đã in vẫn dùng được) "
            "cùng các lĩnh vực của các quầy đó"
        )
    )
    move_children = BooleanField(
        _l("Chuyển các đơn vị trực thuộc đơn vị bị sáp nhập sang đơn vị kế thừa")
    )
    confirm = BooleanField(_l("Tôi đã xem kỹ và xác nhận sáp nhập các đơn vị này"))

    @property
    def applying(self) -> bool:
        return self.step.data == "apply"

    def validate_confirm(self, field: Field) -> None:
        if self.applying and not field.data:
            raise ValidationError(_l("Đánh dấu ô xác nhận để tiếp tục."))

    def request(self) -> MergeRequest:
        return MergeRequest(
            successor_code=self.successor_code.data or "",
            absorbed_codes=tuple(parse_codes(self.absorbed_codes.data or "")),
            move_desks=bool(self.move_desks.data),
            move_children=bool(self.move_children.data),
        )


class OrgImportForm(FlaskForm):
    units_file = FileField(_l("Tệp đơn vị (units.csv)"))
    unit_areas_file = FileField(_l("Tệp lĩnh vực của đơn vị (unit_areas.csv)"))
    desks_file = FileField(_l("Tệp quầy (desks.csv)"))

    FIELDS: ClassVar[dict[str, str]] = {
        "units": "units_file",
        "unit_areas": "unit_areas_file",
        "desks": "desks_file",
    }

    def validate_units_file(self, field: Field) -> None:
        if not any(getattr(self, name).data for name in self.FIELDS.values()):
            raise ValidationError(_l("Chọn ít nhất một tệp CSV để tải lên."))
