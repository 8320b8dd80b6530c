"""The answer form, built from a questionnaire version.

Every item becomes one field named ``q_<item code>``. Checks that depend on other answers
(required items, conditions) run in :meth:`AnswerFormBase.validate`, so that an item hidden by
its condition is neither required nor stored. Messages are in the visitor's language,
Vietnamese by default.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    Field,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from survey.models import Item, Scale, TemplateVersion
from survey.services.abuse import normalise_dossier_code
from survey.services.questionnaire import ItemSpec, QuestionnaireSpec, questionnaire_spec
from survey.services.responses import AnswerValue

NOT_APPLICABLE = "na"
MAX_TEXT = 2000
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def field_name(item: ItemSpec | Item) -> str:
    return f"q_{item.code}"


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AnswerFormBase(FlaskForm):
    idempotency_key = HiddenField(
        validators=[
            InputRequired(message=_l("Thiếu mã gửi phiếu.")),
            Regexp(KEY_PATTERN, message=_l("Mã gửi phiếu không hợp lệ.")),
        ]
    )
    area = HiddenField()
    # Signed moment the form was served: answers faster than the round's minimum are automated.
    started = HiddenField()
    # A honeypot: hidden from people (and from screen readers), filled in by form-filling bots.
    website = StringField()

    items: tuple[ItemSpec, ...] = ()
    asks_dossier_code = False

    def item_field(self, item: ItemSpec | Item) -> Field:
        return self[field_name(item)]

    def _raw(self, item: ItemSpec) -> Any:
        return self.item_field(item).data

    def _condition_met(self, item: ItemSpec, parsed: dict[int, list[int]]) -> bool:
        if item.condition_item_id is None:
            return True
        answered = parsed.get(item.condition_item_id, [])
        return any(v in (item.condition_values or []) for v in answered)

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        self.parsed_answers: list[AnswerValue] = []
        self.parsed_dossier_code: str | None = None
        if self.asks_dossier_code:
            field = self["dossier_code"]
            self.parsed_dossier_code = normalise_dossier_code(field.data or "")
            if self.parsed_dossier_code is None:
                field.errors = [
                    *field.errors,
                    _("Vui lòng nhập đúng mã hồ sơ in trên giấy tiếp nhận (4 đến 40 ký tự)."),
                ]
                ok = False
        parsed: dict[int, list[int]] = {}
        # Items are in display order and conditions point backwards, so one pass suffices.
        for item in self.items:
            field = self.item_field(item)
            errors = list(field.errors)
            if not self._condition_met(item, parsed):
                field.errors = errors
                continue
            values, problems = self._parse(item, field.data)
            errors.extend(problems)
            if not values and not problems and item.required:
                errors.append(_("Vui lòng trả lời câu hỏi này."))
            field.errors = errors
            if errors:
                ok = False
                continue
            parsed[item.id] = [v.value for v in values if v.value is not None]
            self.parsed_answers.extend(values)
        return ok

    def _parse(self, item: ItemSpec, data: Any) -> tuple[list[AnswerValue], list[str]]:
        scale = Scale(item.scale)
        if scale == Scale.TEXT:
            text = (data or "").strip()
            if len(text) > MAX_TEXT:
                return [], [_("Ý kiến dài tối đa %(n)d ký tự.", n=MAX_TEXT)]
            return ([AnswerValue(item.id, text=text)] if text else []), []
        allowed = {value for value, _vi, _en in item.points()}
        if scale == Scale.CHOICE:
            chosen = data or []
            try:
                values = sorted({int(v) for v in chosen})
            except (TypeError, ValueError):
                return [], [_("Lựa chọn không hợp lệ.")]
            if any(v not in allowed for v in values):
                return [], [_("Lựa chọn không hợp lệ.")]
            if item.max_choices is not None and len(values) > item.max_choices:
                return [], [_("Chọn tối đa %(n)d nội dung.", n=item.max_choices)]
            return [AnswerValue(item.id, value=v) for v in values], []
        if data in (None, ""):
            return [], []
        if data == NOT_APPLICABLE:
            if not item.allow_na:
                return [], [_("Câu hỏi này không có lựa chọn “Không áp dụng”.")]
            return [AnswerValue(item.id, not_applicable=True)], []
        if not str(data).isdigit() or int(data) not in allowed:
            return [], [_("Giá trị không hợp lệ. Vui lòng chọn một mức trong danh sách.")]
        return [AnswerValue(item.id, value=int(data))], []


def _label(vi: str, en: str, locale: str) -> str:
    return en if locale == "en" and en else vi


def build_answer_form(
    version: TemplateVersion, locale: str, *, dossier_code: bool = False
) -> type[AnswerFormBase]:
    """A form class for this version; labels in ``locale`` (falling back to Vietnamese).
    ``dossier_code`` adds the receipt's dossier code as a required first field."""
    return _answer_form(questionnaire_spec(version), locale, dossier_code)


@lru_cache(maxsize=256)
def _answer_form(spec: QuestionnaireSpec, locale: str, dossier_code: bool) -> type[AnswerFormBase]:
    # Cached per frozen questionnaire and language: building ~30 fields per request was a
    # measurable share of the submit path. Labels are plain strings in ``locale``.
    attrs: dict[str, Any] = {"items": spec.items, "asks_dossier_code": dossier_code}
    if dossier_code:
        attrs["dossier_code"] = StringField(_l("Mã hồ sơ (in trên giấy tiếp nhận)"))
    for item in spec.items:
        label = _label(item.text, item.text_en, locale)
        scale = Scale(item.scale)
        if scale == Scale.TEXT:
            attrs[field_name(item)] = TextAreaField(label)
            continue
        choices = [SelectChoice(str(v), _label(vi, en, locale)) for v, vi, en in item.points()]
        if scale == Scale.CHOICE:
            attrs[field_name(item)] = MultiCheckboxField(
                label, choices=choices, validate_choice=False
            )
            continue
        if item.allow_na:
            choices.append(SelectChoice(NOT_APPLICABLE, _("Không áp dụng")))
        attrs[field_name(item)] = RadioField(label, choices=choices, validate_choice=False)
    return type("AnswerForm", (AnswerFormBase,), attrs)


def allowed_field_names(version: TemplateVersion, *, dossier_code: bool = False) -> set[str]:
    fixed = {"csrf_token", "idempotency_key", "area", "started", "website"}
    if dossier_code:
        fixed.add("dossier_code")
    return fixed | {field_name(i) for i in questionnaire_spec(version).items}
