"""Console views."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from forms.auth import LoginForm
from survey.admin import bp
from survey.models import Role
from survey.services.monitoring import round_summaries
from survey.services.users import authenticate


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.username.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Sai tên đăng nhập hoặc mật khẩu."), "error")
    status = 200 if request.method == "GET" or form.errors == {} else 422
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def dashboard() -> str:
    units = None
    if current_user.role == Role.UNIT_OFFICER:
        units = {current_user.unit_id}
    summaries = round_summaries(units)
    return render_template("admin/dashboard.html", summaries=summaries)
