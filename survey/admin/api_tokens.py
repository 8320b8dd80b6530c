"""API tokens in the console (administrators only): the list, creating one (its secret shown
once, on the answer to the form, never again) and revoking one behind a confirmation."""

from __future__ import annotations

import secrets
from typing import Any

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from forms.api import ApiTokenForm
from forms.rounds import ConfirmForm
from forms.users import ROLE_LABELS
from survey.admin import bp
from survey.admin.access import admin_only
from survey.admin.requests import current_staff, page_arg
from survey.errors import ConflictError
from survey.extensions import db
from survey.models import utcnow
from survey.services.accounts.api_tokens import (
    DEFAULT_LIFETIME_DAYS,
    active_users,
    create_token,
    get_token,
    revoke_token,
    tokens_page,
)
from survey.services.accounts.users import get_user

TOKENS_PER_PAGE = 30
# The keys of the token forms this browser has sent (ApiTokenForm.once), newest last.
SENT_FORMS = "api_token_forms"


@bp.get("/api-tokens")
@admin_only
def api_tokens() -> str:
    page = tokens_page(page_arg(), TOKENS_PER_PAGE)
    return render_template(
        "admin/api_tokens/index.html", page=page, role_labels=ROLE_LABELS, now=utcnow()
    )


@bp.route("/api-tokens/new", methods=["GET", "POST"])
@admin_only
def api_token_new() -> Any:
    form = ApiTokenForm()
    form.user_id.choices = [(u.id, f"{u.username} – {ROLE_LABELS[u.role]}") for u in active_users()]
    sent = session.get(SENT_FORMS, [])
    if form.validate_on_submit():
        if form.once.data and form.once.data in sent:
            flash(
                _(
                    "Mã truy cập của biểu mẫu này đã được tạo; bí mật chỉ hiện một lần. Nếu chưa "
                    "lưu được, hãy thu hồi mã đó và tạo mã mới."
                ),
                "error",
            )
            return redirect(url_for("admin.api_tokens"), code=303)
        user = get_user(form.user_id.data)
        new = create_token(
            user,
            form.name.data or "",
            actor=current_staff(),
            now=utcnow(),
            lifetime_days=form.lifetime_days.data or DEFAULT_LIFETIME_DAYS,
        )
        db.session.commit()
        if form.once.data:
            session[SENT_FORMS] = [*sent, form.once.data][-20:]
        # The secret is on this answer only: not in a redirect, a flash or any cache.
        answer = make_response(
            render_template("admin/api_tokens/created.html", token=new.token, secret=new.secret)
        )
        answer.headers["Cache-Control"] = "no-store"
        return answer
    if not form.once.data:
        form.once.data = secrets.token_urlsafe(16)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/api_tokens/form.html", form=form), status


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@admin_only
def api_token_revoke(token_id: int) -> Any:
    token = get_token(token_id)
    form = ConfirmForm()
    if token.revoked_at is None and form.validate_on_submit():
        try:
            revoke_token(token, actor=current_staff(), now=utcnow())
        except ConflictError:
            db.session.rollback()
        else:
            db.session.commit()
            flash(_("Đã thu hồi mã truy cập: mọi yêu cầu dùng mã này bị từ chối."), "success")
        return redirect(url_for("admin.api_tokens"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/api_tokens/revoke.html", token=token, form=form), status
