"""Console views."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from forms.auth import LoginForm
from survey.admin import bp
from survey.admin.access import any_staff
from survey.admin.requests import current_staff
from survey.extensions import db
from survey.models import utcnow
from survey.services.access import visible_unit_ids
from survey.services.accounts.login_guard import LoginGuard
from survey.services.accounts.users import authenticate, sign_out
from survey.services.ratelimits import counter
from survey.services.responses.abuse import client_network
from survey.services.rounds.monitoring import round_summaries


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
    status = 200 if request.method == "GET" else 422
    if form.validate_on_submit():
        username = form.username.data or ""
        guard = LoginGuard(counter(), current_app.config.get("RATELIMIT_KEY_PREFIX", ""))
        network = client_network(request.remote_addr)
        now = utcnow()
        wait = guard.wait(username, network, now=now)
        if wait:
            minutes = math.ceil(wait / 60)
            flash(
                _(
                    "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau %(minutes)s phút.",
                    minutes=minutes,
                ),
                "error",
            )
            return render_template("admin/login.html", form=form), 429
        user = authenticate(username, form.password.data or "")
        if user is not None:
            guard.succeeded(username, network)
            session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        guard.failed(username, network, now=now)
        db.session.commit()
        flash(_("Sai tên đăng nhập hoặc mật khẩu."), "error")
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    if current_user.is_authenticated:
        # Every session of the account ends, not only this browser's (a copied cookie too).
        sign_out(current_staff())
        db.session.commit()
    logout_user()
    return redirect(url_for("admin.login"))


@bp.get("/")
@any_staff
def dashboard() -> str:
    summaries = round_summaries(visible_unit_ids(current_user))
    return render_template("admin/dashboard.html", summaries=summaries)
