"""A sampled round in the console: make a draft round a sampled one, import its frame, draw the
sample behind a confirmation, download the letters and the delivery list, enter paper forms and
interviews (twice, with a third person resolving differences, when the draw says so), and follow
the response rates per stratum (admins only)."""

from __future__ import annotations

import io
import math
from typing import Any

from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from forms.answer import AnswerFormBase, answer_form
from forms.samples import (
    ALLOCATION_CHOICES,
    DrawForm,
    EntryForm,
    FrameUploadForm,
    MakeSampleForm,
    OutcomeForm,
    trim_ratio,
)
from survey.admin import bp
from survey.admin.access import admin_only
from survey.admin.requests import current_staff
from survey.errors import ConflictError, NotFoundError
from survey.extensions import db
from survey.i18n import select_locale
from survey.models import Invitation, Round, RoundKind, SampleDraw, utcnow
from survey.services.responses.abuse import server_key
from survey.services.responses.recording import RoundNotOpenError
from survey.services.rounds.letters import delivery_list_csv, write_letters
from survey.services.rounds.lifecycle import visible_round
from survey.services.rounds.sample_answers import (
    compare_entries,
    conflicts,
    enter_answers,
    entries_of,
    invitation_spec,
    resolve_entries,
)
from survey.services.rounds.sampling import (
    FRAME_COLUMNS,
    draw_sample,
    find_invitation,
    find_invitation_by_reference,
    frame_size,
    import_frame,
    make_sample_round,
    record_invitation_outcome,
    response_rates,
)


@bp.app_template_global()
def response_rate(value: float) -> str:
    """A response rate as a percentage with one decimal in the reader's locale; a dash when
    nothing was sampled."""
    if not math.isfinite(value):
        return "—"
    return f"{format_decimal(100 * value, format='#,##0.0')}\u00a0%"


@bp.app_template_global()
def sample_response_rates(
    round_: Round, unit_ids: set[int] | None = None
) -> tuple[list[Any], Any] | None:
    """A sampled round's response rates per stratum and overall (None for a QR round or before
    the draw), for the sample, monitoring and result pages."""
    if round_.kind != RoundKind.SAMPLE or db.session.get(SampleDraw, round_.id) is None:
        return None
    return response_rates(round_, unit_ids)


def _page(round_id: int, status: int = 200, **forms: Any) -> tuple[str, int]:
    round_ = visible_round(round_id, None)
    return render_template(
        "admin/rounds/sample.html",
        round=round_,
        columns=FRAME_COLUMNS,
        allocation_labels={choice.value: choice.label for choice in ALLOCATION_CHOICES},
        frame_rows=frame_size(round_.id),
        draw=db.session.get(SampleDraw, round_.id),
        conflicts=conflicts(round_) if round_.kind == RoundKind.SAMPLE else [],
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
            double_entry=bool(form.double_entry.data),
            trim_ratio=trim_ratio(form.trim_ratio.data),
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
        record_invitation_outcome(invitation, form.state.data, now=utcnow(), actor=current_staff())
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


# --- Entering paper forms and interviews --------------------------------------------------------


def _entry_page(
    round_: Round,
    invitation: Invitation | None,
    *,
    status: int = 200,
    answers: AnswerFormBase | None = None,
    entry_form: EntryForm | None = None,
    reference: str = "",
    reference_error: str | None = None,
) -> tuple[str, int]:
    entries = entries_of(invitation) if invitation is not None else []
    spec = invitation_spec(round_)
    differences = compare_entries(spec, entries[0], entries[1]) if len(entries) >= 2 else ()
    if answers is None:
        answers = answer_form(spec, select_locale(), False)(formdata=None)
    return render_template(
        "admin/rounds/sample_entry.html",
        round=round_,
        invitation=invitation,
        entries=entries,
        differences=differences,
        answers=answers,
        entry_form=entry_form or EntryForm(),
        me=current_staff(),
        reference=reference,
        reference_error=reference_error,
        draw=db.session.get(SampleDraw, round_.id),
    ), status


def _sample_round(round_id: int, lock: bool = False) -> Round:
    round_ = visible_round(round_id, None, lock=lock)
    if round_.kind != RoundKind.SAMPLE or db.session.get(SampleDraw, round_.id) is None:
        raise ConflictError(_("Đợt này chưa chọn mẫu: chưa có thư mời để nhập phiếu."))
    return round_


def _invitation_of(round_: Round, invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.round_id != round_.id:
        raise NotFoundError(_("Không có thư mời này trong đợt."))
    return invitation


@bp.get("/rounds/<int:round_id>/sample/entry")
@admin_only
def round_sample_entry(round_id: int) -> tuple[str, int]:
    """Find an invitation by its letter's reference (or its one-time code, printed on the
    letter and the paper form) and show its form to enter (or the two entries' differences to
    resolve)."""
    round_ = _sample_round(round_id)
    reference = (request.args.get("reference") or "").strip()[:16]
    if not reference:
        return _entry_page(round_, None)
    invitation = find_invitation_by_reference(round_.id, reference) or find_invitation(
        round_.id, reference, server_key("DOSSIER_CODE_KEY")
    )
    if invitation is None:
        message = _("Không có thư mời số %(ref)s.", ref=reference)
        return _entry_page(round_, None, status=404, reference=reference, reference_error=message)
    return _entry_page(round_, invitation, reference=reference)


def _entered(round_: Round, invitation: Invitation, resolving: bool) -> Any:
    form = EntryForm()
    posted: MultiDict[str, str] = request.form
    if not form.validate_on_submit():
        answers = answer_form(invitation_spec(round_), select_locale(), False)(formdata=posted)
        return _entry_page(round_, invitation, status=422, answers=answers, entry_form=form)
    try:
        if resolving:
            problems = resolve_entries(
                round_,
                invitation,
                posted,
                mode=form.mode.data,
                resolver=current_staff(),
                now=utcnow(),
            )
            recorded = not problems
            outcome = None
        else:
            outcome, problems = enter_answers(
                round_,
                invitation,
                posted,
                mode=form.mode.data,
                clerk=current_staff(),
                now=utcnow(),
            )
            recorded = outcome.recorded
    except (ConflictError, RoundNotOpenError) as exc:
        db.session.rollback()
        flash(str(getattr(exc, "message", exc)), "error")
        return redirect(
            url_for("admin.round_sample_entry", round_id=round_.id, reference=invitation.reference),
            code=303,
        )
    if problems:
        db.session.rollback()
        answers = answer_form(invitation_spec(round_), select_locale(), False)(formdata=posted)
        answers.validate()
        return _entry_page(round_, invitation, status=422, answers=answers, entry_form=form)
    if recorded:
        flash(_("Đã ghi phiếu của thư mời %(ref)s.", ref=invitation.reference), "success")
        return redirect(url_for("admin.round_sample_entry", round_id=round_.id), code=303)
    if outcome is not None and outcome.waiting:
        flash(
            _(
                "Đã lưu lần nhập thứ nhất của thư mời %(ref)s. Phiếu chỉ được tính khi một người "
                "khác nhập lại và hai lần nhập khớp nhau.",
                ref=invitation.reference,
            ),
            "success",
        )
        return redirect(url_for("admin.round_sample_entry", round_id=round_.id), code=303)
    flash(
        _(
            "Hai lần nhập thư mời %(ref)s khác nhau: một người thứ ba cần đối chiếu với phiếu gốc.",
            ref=invitation.reference,
        ),
        "error",
    )
    return redirect(
        url_for("admin.round_sample_entry", round_id=round_.id, reference=invitation.reference),
        code=303,
    )


@bp.post("/rounds/<int:round_id>/sample/entry/<int:invitation_id>")
@admin_only
def round_sample_enter(round_id: int, invitation_id: int) -> Any:
    round_ = _sample_round(round_id, lock=True)
    return _entered(round_, _invitation_of(round_, invitation_id), resolving=False)


@bp.post("/rounds/<int:round_id>/sample/resolve/<int:invitation_id>")
@admin_only
def round_sample_resolve(round_id: int, invitation_id: int) -> Any:
    round_ = _sample_round(round_id, lock=True)
    return _entered(round_, _invitation_of(round_, invitation_id), resolving=True)
