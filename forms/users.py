"""Forms of the account pages: creating a user, resetting and changing passwords."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, ValidationError

from forms.rounds import whole_number_or_zero
from survey.models import Role
from survey.services.accounts.users import (
    MAX_PASSWORD_LENGTH,
    USERNAME,
    USERNAME_RULE,
    UserInputError,
    check_password_policy,
)

ROLE_LABELS = {
    Role.ADMIN.value: _l("Quản trị (Sở Nội vụ)"),
    Role.UNIT_OFFICER.value: _l("Cán bộ đơn vị"),
    Role.ANALYST.value: _l("Chuyên viên phân tích"),
}


def _new_password() -> PasswordField:
    return PasswordField(
        _l("Mật khẩu mới"),
        description=_l(
            "Ít nhất 10 ký tự; nên là một câu ngắn dễ nhớ. Không dùng mật khẩu phổ biến, ký tự "
            "lặp lại hay theo thứ tự, tên đăng nhập."
        ),
        validators=[
            InputRequired(message=_l("Nhập mật khẩu mới.")),
            Length(
                max=MAX_PASSWORD_LENGTH,
                message=_l("Mật khẩu dài tối đa %(n)s ký tự.", n=MAX_PASSWORD_LENGTH),
            ),
        ],
    )


def _repeat() -> PasswordField:
    return PasswordField(
        _l("Nhập lại mật khẩu mới"),
        validators=[
            InputRequired(message=_l("Nhập lại mật khẩu mới.")),
            EqualTo("password", message=_l("Hai lần nhập mật khẩu không khớp.")),
        ],
    )


def _check_policy(field: PasswordField, username: str) -> None:
    """The service's password policy, shown beside the field with the form's other errors."""
    try:
        check_password_policy(field.data or "", username=username)
    except UserInputError as exc:
        raise ValidationError(exc.message) from None


class UserForm(FlaskForm):
    username = StringField(
        _l("Tên đăng nhập"),
        description=_l("Chữ thường không dấu, chữ số, dấu chấm, gạch ngang; ví dụ nguyen.van.a"),
        validators=[
            InputRequired(message=_l("Nhập tên đăng nhập.")),
            Length(max=64, message=_l("Tên đăng nhập dài tối đa 64 ký tự.")),
        ],
    )
    display_name = StringField(
        _l("Họ và tên"),
        validators=[Length(max=200, message=_l("Họ và tên dài tối đa 200 ký tự."))],
    )
    role = SelectField(
        _l("Vai trò"),
        choices=[SelectChoice(value, label) for value, label in ROLE_LABELS.items()],
        validate_choice=False,  # checked below, with a message in the interface language
    )
    unit_id = SelectField(
        _l("Đơn vị (chỉ với cán bộ đơn vị)"),
        coerce=whole_number_or_zero,
        validate_choice=False,  # the service says which unit is wrong
    )
    password = _new_password()
    password_repeat = _repeat()

    def validate_username(self, field: StringField) -> None:
        if not USERNAME.match((field.data or "").strip().lower()):
            raise ValidationError(USERNAME_RULE)

    def validate_role(self, field: SelectField) -> None:
        if field.data not in ROLE_LABELS:
            raise ValidationError(_l("Chọn một vai trò trong danh sách."))

    def validate_password(self, field: PasswordField) -> None:
        _check_policy(field, self.username.data or "")


class PasswordResetForm(FlaskForm):
    password = _new_password()
    password_repeat = _repeat()

    def __init__(self, username: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.account_name = username

    def validate_password(self, field: PasswordField) -> None:
        _check_policy(field, self.account_name)


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Mật khẩu hiện tại"),
        validators=[
            InputRequired(message=_l("Nhập mật khẩu hiện tại.")),
            Length(max=MAX_PASSWORD_LENGTH, message=_l("Mật khẩu hiện tại không đúng.")),
        ],
    )
    password = _new_password()
    password_repeat = _repeat()

    def __init__(self, username: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.account_name = username

    def validate_password(self, field: PasswordField) -> None:
        _check_policy(field, self.account_name)
