"""A published round's public result page, switched on or off by an administrator behind a
confirmation."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.rounds import ConfirmForm
from survey.admin import bp
from survey.admin.access import admin_only
from survey.admin.requests import current_staff
from survey.extensions import db
from survey.models import Round, RoundState, utcnow
from survey.services.results.publication import set_round_public
from survey.services.rounds.lifecycle import visible_round


def _confirm(round_: Round, public: bool) -> Any:
    if round_.state != RoundState.PUBLISHED:
        message = _("Chỉ đợt khảo sát đã công bố mới có trang kết quả công khai.")
        return render_template("admin/rounds/conflict.html", round=round_, message=message), 409
    form = ConfirmForm()
    if round_.is_public != public and form.validate_on_submit():
        set_round_public(round_, public, actor=current_staff(), now=utcnow())
        db.session.commit()
        flash(
            _("Trang kết quả công khai đã bật.")
            if public
            else _("Trang kết quả công khai đã tắt."),
            "success",
        )
        return redirect(url_for("admin.round_detail", round_id=round_.id), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template(
        "admin/rounds/public.html", round=round_, form=form, public=public
    ), status


@bp.route("/rounds/<int:round_id>/public/on", methods=["GET", "POST"])
@admin_only
def round_make_public(round_id: int) -> Any:
    return _confirm(visible_round(round_id, None, lock=request.method == "POST"), True)


@bp.route("/rounds/<int:round_id>/public/off", methods=["GET", "POST"])
@admin_only
def round_make_private(round_id: int) -> Any:
    return _confirm(visible_round(round_id, None, lock=request.method == "POST"), False)
