"""A sampled round in the console: make a draft round a sampled one, import its frame, draw the
sample behind a confirmation, and download the letters and the delivery list (admins only)."""

from __future__ import annotations

import io
from typing import Any

from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from forms.samples import DrawForm, FrameUploadForm, MakeSampleForm, OutcomeForm
from survey.admin import bp
from survey.admin.access import admin_only
from survey.admin.requests import current_staff
from survey.errors import ConflictError
from survey.extensions import db
from survey.models import RoundKind, SampleDraw, utcnow
from survey.services.responses.abuse import server_key
from survey.services.rounds.letters import delivery_list_csv, write_letters
from survey.services.rounds.lifecycle import visible_round
from survey.services.rounds.sampling import (
    FRAME_COLUMNS,
    draw_sample,
    find_invitation_by_reference,
    frame_size,
    import_frame,
    make_sample_round,
    record_invitation_outcome,
    sample_progress,
)


def _page(round_id: int, status: int = 200, **forms: Any) -> tuple[str, int]:
    round_ = visible_round(round_id, None)
    return render_template(
        "admin/rounds/sample.html",
        round=round_,
        columns=FRAME_COLUMNS,
        frame_rows=frame_size(round_.id),
        draw=db.session.get(SampleDraw, round_.id),
        progress=sample_progress(round_),
        make_form=forms.get("make_form") or MakeSampleForm(),
        upload_form=forms.get("upload_form") or FrameUploadForm(),
        draw_form=forms.get("draw_form") or DrawForm(),
        outcome_form=forms.get("outcome_form") or OutcomeForm(),
        outcome=forms.get("outcome"),
        draw_error=forms.get("draw_error"),
    ), status


@bp.get("/rounds/<int:round_id>/sample")
@admin_only
def round_sample(round_id: int) -> tuple[str, int]:
    return _page(round_id)


@bp.post("/rounds/<int:round_id>/sample/kind")
@admin_only
def round_sample_kind(round_id: int) -> Any:
    round_ = visible_round(round_id, None, lock=True)
    form = MakeSampleForm()
    if not form.validate_on_submit():
        return _page(round_id, 422, make_form=form)
    try:
        make_sample_round(round_, now=utcnow(), actor=current_staff())
    except ConflictError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("admin.round_sample", round_id=round_id), code=303)
    db.session.commit()
    flash(_("Đợt khảo sát đã chuyển thành đợt chọn mẫu."), "success")
    return redirect(url_for("admin.round_sample", round_id=round_id), code=303)


@bp.post("/rounds/<int:round_id>/sample/frame")
@admin_only
def round_sample_frame(round_id: int) -> Any:
    round_ = visible_round(round_id, None, lock=True)
    form = FrameUploadForm()
    if not form.validate_on_submit():
        return _page(round_id, 422, upload_form=form)
    try:
        outcome = import_frame(
            round_,
            form.file.data.read(),
            key=server_key("DOSSIER_CODE_KEY"),
            now=utcnow(),
            actor=current_staff(),
        )
    except ConflictError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("admin.round_sample", round_id=round_id), code=303)
    if not outcome.ok:
        db.session.rollback()
        return _page(round_id, 422, outcome=outcome)
    db.session.commit()
    flash(_("Đã nhập khung mẫu %(n)s hồ sơ.", n=outcome.rows), "success")
    return redirect(url_for("admin.round_sample", round_id=round_id), code=303)


@bp.post("/rounds/<int:round_id>/sample/draw")
@admin_only
def round_sample_draw(round_id: int) -> Any:
    round_ = visible_round(round_id, None, lock=True)
    form = DrawForm()
    if not form.validate_on_submit():
        return _page(round_id, 422, draw_form=form)
    try:
        draw = draw_sample(
            round_,
            method=form.allocation.data,
            total=int(form.total.data),
            minimum=int(form.minimum.data or 0),
            key=server_key("DOSSIER_CODE_KEY"),
            now=utcnow(),
            actor=current_staff(),
        )
    except ConflictError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("admin.round_sample", round_id=round_id), code=303)
    except ValueError as exc:
        db.session.rollback()
        # analysis.sampling says what is impossible (in English, as a library does); the page
        # says it in Vietnamese and keeps the detail for the administrator.
        message = _("Không chọn được mẫu với các thông số này (%(reason)s).", reason=str(exc))
        return _page(round_id, 422, draw_form=form, draw_error=message)
    db.session.commit()
    flash(
        _("Đã chọn mẫu %(n)s hồ sơ (hạt giống %(seed)s).", n=draw.total, seed=draw.seed), "success"
    )
    return redirect(url_for("admin.round_sample", round_id=round_id), code=303)


@bp.post("/rounds/<int:round_id>/sample/outcome")
@admin_only
def round_sample_outcome(round_id: int) -> Any:
    """Staff record what came of one invitation (an answer and its mode, a refusal, a letter
    returned)."""
    round_ = visible_round(round_id, None, lock=True)
    form = OutcomeForm()
    if not form.validate_on_submit():
        return _page(round_id, 422, outcome_form=form)
    invitation = find_invitation_by_reference(round_.id, form.reference.data or "")
    if invitation is None:
        form.reference.errors = [_("Không có thư mời số %(ref)s.", ref=form.reference.data)]
        return _page(round_id, 422, outcome_form=form)
    try:
        record_invitation_outcome(
            invitation,
            form.state.data,
            mode=form.mode.data,
            now=utcnow(),
            actor=current_staff(),
        )
    except ConflictError as exc:
        db.session.rollback()
        form.reference.errors = [str(exc.message)]
        return _page(round_id, 422, outcome_form=form)
    db.session.commit()
    flash(_("Đã ghi kết quả thư mời %(ref)s.", ref=invitation.reference), "success")
    return redirect(url_for("admin.round_sample", round_id=round_id), code=303)


@bp.get("/rounds/<int:round_id>/sample/letters.pdf")
@admin_only
def round_sample_letters(round_id: int) -> Any:
    round_ = visible_round(round_id, None)
    if round_.kind != RoundKind.SAMPLE or db.session.get(SampleDraw, round_.id) is None:
        return redirect(url_for("admin.round_sample", round_id=round_id), code=303)
    out = io.BytesIO()
    write_letters(round_, server_key("DOSSIER_CODE_KEY"), out)
    answer = FlaskResponse(out.getvalue(), mimetype="application/pdf")
    answer.headers["Content-Disposition"] = f'attachment; filename="thu-moi-dot-{round_.id}.pdf"'
    return answer


@bp.get("/rounds/<int:round_id>/sample/delivery.csv")
@admin_only
def round_sample_delivery(round_id: int) -> FlaskResponse:
    round_ = visible_round(round_id, None)
    answer = FlaskResponse(delivery_list_csv(round_), mimetype="text/csv")
    answer.headers["Content-Disposition"] = (
        f'attachment; filename="danh-sach-gui-thu-dot-{round_.id}.csv"'
    )
    return answer
