"""Staff accounts in the console: the list, creating an account, deactivating and reactivating
it behind a confirmation, an administrator's password reset, and everyone's own password."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from wtforms import SelectChoice

from forms.rounds import ConfirmForm
from forms.users import ROLE_LABELS, PasswordChangeForm, PasswordResetForm, UserForm
from survey.admin import bp
from survey.admin.access import admin_only, any_staff
from survey.admin.confirm import confirmed_change, form_status, show_field_error
from survey.admin.requests import current_staff, page_arg
from survey.extensions import db
from survey.models import Role, utcnow
from survey.services.accounts.users import (
    UserInputError,
    change_own_password,
    create_account,
    get_user,
    list_users,
    reset_password,
    set_active,
    unit_choices,
)

USERS_PER_PAGE = 30
MAX_SEARCH = 100



@bp.get("/users")
@admin_only
def users() -> str:
    search = request.args.get("q", "")[:MAX_SEARCH]
    page = list_users(search, page_arg(), USERS_PER_PAGE)
    return render_template(
        "admin/users/index.html", page=page, search=search, role_labels=ROLE_LABELS
    )


@bp.route("/users/new", methods=["GET", "POST"])
@admin_only
def user_new() -> Any:
    form = UserForm()
    form.unit_id.choices = [SelectChoice("0", _("— Không thuộc đơn vị —"))] + [
        SelectChoice(str(u.id), f"{u.code} – {u.name}") for u in unit_choices()
    ]
    if form.validate_on_submit():
        try:
            user = create_account(
                username=form.username.data or "",
                password=form.password.data or "",
                role=Role(form.role.data),
                unit_id=form.unit_id.data or 0,
                display_name=form.display_name.data or "",
                now=utcnow(),
                actor=current_staff(),
            )
        except UserInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã tạo tài khoản %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id), code=303)
    page = render_template("admin/users/form.html", form=form)
    return page, form_status(request.method == "POST")


@bp.get("/users/<int:user_id>")
@admin_only
def user_detail(user_id: int) -> str:
    return render_template(
        "admin/users/detail.html", user=get_user(user_id), role_labels=ROLE_LABELS
    )


def _toggle(user_id: int, active: bool) -> Any:
    user = get_user(user_id)
    form = ConfirmForm()
    done = (
        _("Đã mở lại tài khoản %(name)s.", name=user.username)
        if active
        else _("Đã khoá tài khoản %(name)s.", name=user.username)
    )
    answer = confirmed_change(
        form,
        lambda: set_active(user, active, actor=current_staff(), now=utcnow()),
        done=done,
        to=url_for("admin.user_detail", user_id=user.id),
        errors=UserInputError,
    )
    if answer is not None:
        return answer
    return render_template(
        "admin/users/confirm.html", user=user, active=active, form=form
    ), form_status(request.method == "POST")


@bp.route("/users/<int:user_id>/deactivate", methods=["GET", "POST"])
@admin_only
def user_deactivate(user_id: int) -> Any:
    return _toggle(user_id, active=False)


@bp.route("/users/<int:user_id>/reactivate", methods=["GET", "POST"])
@admin_only
def user_reactivate(user_id: int) -> Any:
    return _toggle(user_id, active=True)


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@admin_only
def user_password(user_id: int) -> Any:
    user = get_user(user_id)
    if user.id == current_user.id:
        # Resetting one's own password would skip the current-password check.
        return redirect(url_for("admin.password_change"), code=303)
    form = PasswordResetForm(user.username)
    if form.validate_on_submit():
        try:
            reset_password(user, form.password.data or "", actor=current_staff(), now=utcnow())
        except UserInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã đặt mật khẩu mới cho %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id), code=303)
    return render_template("admin/users/password.html", form=form, user=user), form_status(
        request.method == "POST"
    )


@bp.route("/account/password", methods=["GET", "POST"])
@any_staff
def password_change() -> Any:
    form = PasswordChangeForm(current_user.username)
    if form.validate_on_submit():
        user = current_staff()
        try:
            change_own_password(
                user, form.current_password.data or "", form.password.data or "", now=utcnow()
            )
        except UserInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            # The session id carries the password's fingerprint: renew this session, while
            # sessions elsewhere with the old password end.
            session.permanent = True
            login_user(user)
            flash(_("Đã đổi mật khẩu."), "success")
            return redirect(url_for("admin.dashboard"), code=303)
    return render_template("admin/users/password.html", form=form, user=None), form_status(
        request.method == "POST"
    )
