"""Console views."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from forms.auth import LoginForm
from survey.admin import bp
from survey.admin.access import any_staff
from survey.services.access import visible_unit_ids
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
            session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Sai tên đăng nhập hoặc mật khẩu."), "error")
    status = 200 if request.method == "GET" else 422
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    return redirect(url_for("admin.login"))


@bp.get("/")
@any_staff
def dashboard() -> str:
    summaries = round_summaries(visible_unit_ids(current_user))
    return render_template("admin/dashboard.html", summaries=summaries)
