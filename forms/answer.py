"""The answer form, built from a questionnaire version.

Every item becomes one field named ``q_<item code>``. Checks that depend on other answers
(required items, conditions) run in :meth:`AnswerFormBase.validate`, so that an item hidden by
its condition is neither required nor stored. Messages are in the visitor's language,
Vietnamese by default.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from wtforms import (
    Field,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from survey.models import Item, Scale, TemplateVersion
from survey.services.questionnaires.frozen import ItemSpec, QuestionnaireSpec, questionnaire_spec
from survey.services.responses.abuse import normalise_dossier_code
from survey.services.responses.comments import normalise_text
from survey.services.responses.recording import AnswerValue

NOT_APPLICABLE = "na"
MAX_TEXT = 2000
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def field_name(item: ItemSpec | Item) -> str:
    return f"q_{item.code}"


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def fixed_field_problems(
    idempotency_key: str | None, dossier_code: str | None, *, asks_dossier_code: bool
) -> tuple[dict[str, list[str]], str | None]:
    """The problems with what every submission carries besides its answers and its CSRF token,
    per field name, and the dossier code as stored (None when not asked or not valid)."""
    problems: dict[str, list[str]] = {}
    if not idempotency_key:
        problems["idempotency_key"] = [_("Thiếu mã gửi phiếu.")]
    elif not KEY_PATTERN.match(idempotency_key):
        problems["idempotency_key"] = [_("Mã gửi phiếu không hợp lệ.")]
    parsed = normalise_dossier_code(dossier_code or "") if asks_dossier_code else None
    if asks_dossier_code and parsed is None:
        problems["dossier_code"] = [
            _("Vui lòng nhập đúng mã hồ sơ in trên giấy tiếp nhận (4 đến 40 ký tự).")
        ]
    return problems, parsed


@dataclass
class Submission:
    """What every submission carries besides its answers, read and checked straight from the
    request (:func:`read_submission`): a valid submission never builds a form. The whole
    :class:`AnswerFormBase` is built only to show a refused page again."""

    idempotency_key: str
    started: str | None
    website: str
    dossier_code: str | None  # as stored: upper-case, no spaces
    problems: dict[str, list[str]]  # per field name

    @property
    def csrf_failed(self) -> bool:
        return "csrf_token" in self.problems


def read_submission(formdata: Any, *, asks_dossier_code: bool) -> Submission:
    """The fixed fields of a submission, checked as :class:`SubmissionForm` checks them."""
    problems: dict[str, list[str]] = {}
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(formdata.get("csrf_token"))
        except ValidationError as exc:
            problems["csrf_token"] = [str(exc.args[0])]
    key = formdata.get("idempotency_key", "")
    fixed, dossier_code = fixed_field_problems(
        key, formdata.get("dossier_code"), asks_dossier_code=asks_dossier_code
    )
    return Submission(
        idempotency_key=key,
        started=formdata.get("started"),
        website=formdata.get("website", ""),
        dossier_code=dossier_code,
        problems=problems | fixed,
    )


class SubmissionForm(FlaskForm):
    """The fixed fields of the questionnaire page, for showing it; checked by
    :func:`fixed_field_problems` (and Flask-WTF for the CSRF token)."""

    idempotency_key = HiddenField()
    area = HiddenField()
    # Signed moment the form was served: answers faster than the round's minimum are automated.
    started = HiddenField()
    # A honeypot: hidden from people (and from screen readers), filled in by form-filling bots.
    website = StringField()

    asks_dossier_code = False

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        dossier_code = self["dossier_code"].data if self.asks_dossier_code else None
        problems, _code = fixed_field_problems(
            self.idempotency_key.data, dossier_code, asks_dossier_code=self.asks_dossier_code
        )
        for name, messages in problems.items():
            self[name].errors = [*self[name].errors, *messages]
        return ok and not problems


_DOSSIER_CODE = StringField(_l("Mã hồ sơ (in trên giấy tiếp nhận)"))


def parse_answers(
    items: tuple[ItemSpec, ...], raw: Callable[[ItemSpec], Any]
) -> tuple[list[AnswerValue], dict[int, list[str]]]:
    """The answers to store and the problems per item id. ``raw(item)`` is what was sent: one
    string (or None) for a scale or a text, a list of strings for a multiple choice. An item
    whose condition is not met is neither required nor stored."""
    answers: list[AnswerValue] = []
    problems: dict[int, list[str]] = {}
    parsed: dict[int, list[int]] = {}
    # Items are in display order and conditions point backwards, so one pass suffices.
    for item in items:
        if not _condition_met(item, parsed):
            continue
        values, errors = _parse(item, raw(item))
        if not values and not errors and item.required:
            errors = [_("Vui lòng trả lời câu hỏi này.")]
        if errors:
            problems[item.id] = errors
            continue
        parsed[item.id] = [v.value for v in values if v.value is not None]
        answers.extend(values)
    return answers, problems


def raw_answer(formdata: Any) -> Callable[[ItemSpec], Any]:
    """``raw`` for :func:`parse_answers` straight from a request's form, read as the answer
    form's fields would read it."""

    def raw(item: ItemSpec) -> Any:
        name = field_name(item)
        if item.scale == Scale.CHOICE:
            return formdata.getlist(name)
        return formdata.get(name)

    return raw


def _condition_met(item: ItemSpec, parsed: dict[int, list[int]]) -> bool:
    if item.condition_item_id is None:
        return True
    answered = parsed.get(item.condition_item_id, [])
    return any(v in (item.condition_values or []) for v in answered)


def _parse(item: ItemSpec, data: Any) -> tuple[list[AnswerValue], list[str]]:
    scale = Scale(item.scale)
    if scale == Scale.TEXT:
        # As it will be stored: only invisible characters (a direction mark) is no answer.
        text = normalise_text(data or "").strip()
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
    # ASCII digits only: "²" passes str.isdigit() but not int() (found by the form fuzzer).
    if not (str(data).isascii() and str(data).isdigit()) or int(data) not in allowed:
        return [], [_("Giá trị không hợp lệ. Vui lòng chọn một mức trong danh sách.")]
    return [AnswerValue(item.id, value=int(data))], []


class AnswerFormBase(SubmissionForm):
    """The whole questionnaire as a form: one field per item, for showing it (again)."""

    items: tuple[ItemSpec, ...] = ()

    def item_field(self, item: ItemSpec | Item) -> Field:
        return self[field_name(item)]

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        self.parsed_answers, problems = parse_answers(
            self.items, lambda item: self.item_field(item).data
        )
        for item in self.items:
            if item.id in problems:
                field = self.item_field(item)
                field.errors = [*field.errors, *problems[item.id]]
        return ok and not problems


def _label(vi: str, en: str, locale: str) -> str:
    return en if locale == "en" and en else vi


def build_answer_form(
    version: TemplateVersion, locale: str, *, dossier_code: bool = False
) -> type[AnswerFormBase]:
    """A form class for this version; labels in ``locale`` (falling back to Vietnamese).
    ``dossier_code`` adds the receipt's dossier code as a required first field."""
    return answer_form(questionnaire_spec(version), locale, dossier_code)


@lru_cache(maxsize=256)
def answer_form(spec: QuestionnaireSpec, locale: str, dossier_code: bool) -> type[AnswerFormBase]:
    # Cached per frozen questionnaire and language: building ~30 fields per request was a
    # measurable share of the submit path. Labels are plain strings in ``locale``.
    attrs: dict[str, Any] = {"items": spec.items, "asks_dossier_code": dossier_code}
    if dossier_code:
        attrs["dossier_code"] = _DOSSIER_CODE
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


@lru_cache(maxsize=256)
def allowed_field_names(spec: QuestionnaireSpec, *, dossier_code: bool = False) -> frozenset[str]:
    fixed = {"csrf_token", "idempotency_key", "area", "started", "website"}
    if dossier_code:
        fixed.add("dossier_code")
    return frozenset(fixed | {field_name(i) for i in spec.items})
