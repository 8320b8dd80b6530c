"""The audit trail's filter: sent with GET, so it carries no CSRF token and changes nothing."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, SelectChoice, SelectField, StringField
from wtforms.validators import Length, ValidationError
from wtforms.widgets import DateInput

from forms.rounds import to_utc
from survey.services.audit import AuditFacets, AuditFilter, action_label, entity_label

# What an entity type looks like in the trail ("unit", "desk", "api_token", ...).
ENTITY_TYPE = re.compile(r"[a-z][a-z_]{0,39}")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")


class VietnamDateField(Field):
    """A calendar day in Vietnam (``<input type="date">``, or typed as dd/mm/yyyy)."""

    widget = DateInput()

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return self.data.isoformat() if isinstance(self.data, date) else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if not text:
            return
        for fmt in DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt).date()
            except ValueError:
                continue
            if 2000 <= parsed.year <= 2100:
                self.data = parsed
                return
        raise ValueError(_l("Nhập ngày theo dạng ngày/tháng/năm, ví dụ 01/03/2026."))


def _limited(label: Any, limit: int = 64) -> StringField:
    return StringField(
        label,
        validators=[Length(max=limit, message=_l("Dài tối đa %(n)s ký tự.", n=limit))],
    )


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a search: reading, not changing

    action = SelectField(_l("Thao tác"), validate_choice=False)
    entity_type = SelectField(_l("Loại đối tượng"), validate_choice=False)
    entity_id = _limited(_l("Mã đối tượng"))
    actor = _limited(_l("Người thực hiện (tên đăng nhập)"))
    since = VietnamDateField(_l("Từ ngày"))
    until = VietnamDateField(_l("Đến ngày"))

    def with_facets(self, facets: AuditFacets) -> AuditFilterForm:
        anything = SelectChoice("", str(_l("Tất cả")))
        self.action.choices = [
            anything,
            *(SelectChoice(a, action_label(a)) for a in facets.actions),
        ]
        kinds = list(facets.entity_types)
        wanted = self.entity_type.data or ""
        if wanted and wanted not in kinds and ENTITY_TYPE.fullmatch(wanted):
            kinds.append(wanted)  # keep the visitor's choice shown in the list
        self.entity_type.choices = [anything, *(SelectChoice(t, entity_label(t)) for t in kinds)]
        return self

    def _offered(self, field: SelectField) -> bool:
        return not field.data or any(c.value == field.data for c in field.choices or [])

    def validate_action(self, field: SelectField) -> None:
        if not self._offered(field):
            raise ValidationError(_l("Nhật ký không có thao tác này."))

    def validate_entity_type(self, field: SelectField) -> None:
        # A kind the trail has no event of yet (say, the history link of a unit created before
        # anyone changed it) is a filter that finds nothing, not a mistake.
        if not self._offered(field) and not ENTITY_TYPE.fullmatch(field.data or ""):
            raise ValidationError(_l("Nhật ký không có loại đối tượng này."))

    def validate_until(self, field: VietnamDateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("Ngày kết thúc phải từ ngày bắt đầu trở đi."))

    def audit_filter(self) -> AuditFilter:
        """The filter in UTC: from the start of ``since`` to the end of ``until``, Vietnam time."""
        since, until = self.since.data, self.until.data
        return AuditFilter(
            action=self.action.data or "",
            entity_type=self.entity_type.data or "",
            entity_id=(self.entity_id.data or "").strip(),
            actor=(self.actor.data or "").strip(),
            since=to_utc(datetime.combine(since, time())) if since else None,
            until=to_utc(datetime.combine(until + timedelta(days=1), time())) if until else None,
        )
