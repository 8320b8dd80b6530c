"""Survey rounds in the console: list, create, edit while draft, open/close/reopen/publish behind
a confirmation page, and the dossier counts that weight the round."""

from __future__ import annotations

from typing import Any

from flask import Response as FlaskResponse
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.rounds import (
    ConfirmForm,
    DossierCodeUploadForm,
    DossierUploadForm,
    ResultSettingsForm,
    RoundForm,
)
from survey.admin import bp
from survey.admin.access import admin_only, any_staff
from survey.admin.requests import current_staff, page_arg
from survey.errors import ConflictError, IllegalTransitionError
from survey.extensions import db
from survey.models import Round, utcnow
from survey.services.access import visible_unit_ids
from survey.services.paging import paginate_list
from survey.services.responses.abuse import server_key
from survey.services.rounds.dossier_codes import (
    CODE_COLUMNS,
    import_dossier_codes,
    listed_code_count,
)
from survey.services.rounds.dossier_counts import COLUMNS, frame_csv, import_dossier_counts
from survey.services.rounds.lifecycle import (
    ACTIONS,
    RoundChoices,
    RoundInputError,
    action_warnings,
    apply_round_action,
    create_round_from_draft,
    round_choices,
    rounds_for,
    scope_of,
    update_draft_round,
    visible_round,
)
from survey.services.rounds.monitoring import frame_view, round_rows
from survey.services.rounds.result_settings import (
    RULE_FIELDS,
    SettingsError,
    default_target,
    round_targets,
    unit_levels,
    update_result_settings,
)

ROUNDS_PER_PAGE = 20
SCOPE_PER_PAGE = 50


def _with_choices(form: RoundForm, choices: RoundChoices) -> RoundForm:
    form.version_id.choices = [
        (v.id, f"{v.template.name} – v{v.number}{'' if v.is_frozen else ' (' + _('nháp') + ')'}")
        for v in choices.versions
    ]
    form.levels.choices = [(level.code, level.name) for level in choices.levels]
    form.unit_ids.choices = [(u.id, f"{u.code} – {u.name}") for u in choices.units]
    return form


@bp.get("/rounds")
@any_staff
def rounds() -> str:
    unit_ids = visible_unit_ids(current_staff())
    page = paginate_list(round_rows(rounds_for(unit_ids), unit_ids), page_arg(), ROUNDS_PER_PAGE)
    return render_template("admin/rounds/index.html", page=page)


@bp.route("/rounds/new", methods=["GET", "POST"])
@admin_only
def round_new() -> Any:
    form = _with_choices(RoundForm(), round_choices())
    if form.validate_on_submit():
        try:
            round_ = create_round_from_draft(form.draft(), now=utcnow(), actor=current_staff())
        except RoundInputError as exc:
            db.session.rollback()
            form[exc.field].errors = [*form[exc.field].errors, exc.message]
        else:
            db.session.commit()
            flash(_("Đã tạo đợt khảo sát ở trạng thái nháp."), "success")
            return redirect(url_for("admin.round_detail", round_id=round_.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/rounds/form.html", form=form, round=None), status


@bp.get("/rounds/<int:round_id>")
@any_staff
def round_detail(round_id: int) -> str:
    unit_ids = visible_unit_ids(current_staff())
    round_ = visible_round(round_id, unit_ids)
    problems_only = request.args.get("frame") == "problems"
    summary, frame = frame_view(
        round_, unit_ids, problems_only=problems_only, page=page_arg("frame_page")
    )
    scope = paginate_list(scope_of(round_, unit_ids), page_arg("scope_page"), SCOPE_PER_PAGE)
    return render_template(
        "admin/rounds/detail.html",
        round=round_,
        scope=scope,
        summary=summary,
        frame=frame,
        problems_only=problems_only,
    )


@bp.route("/rounds/<int:round_id>/edit", methods=["GET", "POST"])
@admin_only
def round_edit(round_id: int) -> Any:
    round_ = visible_round(round_id, None)
    if round_.state != "draft":
        return _conflict(round_, _("Chỉ sửa được đợt khảo sát còn ở trạng thái nháp."))
    data = None if request.method == "POST" else RoundForm.data_of(round_)
    form = _with_choices(RoundForm(data=data), round_choices())
    if form.validate_on_submit():
        try:
            update_draft_round(round_, form.draft(), now=utcnow(), actor=current_staff())
        except RoundInputError as exc:
            db.session.rollback()
            form[exc.field].errors = [*form[exc.field].errors, exc.message]
        else:
            db.session.commit()
            flash(_("Đã lưu đợt khảo sát."), "success")
            return redirect(url_for("admin.round_detail", round_id=round_.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/rounds/form.html", form=form, round=round_), status


def _conflict(round_: Round, message: str) -> tuple[str, int]:
    return render_template("admin/rounds/conflict.html", round=round_, message=message), 409


@bp.route("/rounds/<int:round_id>/state/<action>", methods=["GET", "POST"])
@admin_only
def round_action(round_id: int, action: str) -> Any:
    if action not in ACTIONS:
        abort(404)
    round_ = visible_round(round_id, None, lock=request.method == "POST")
    source, _target = ACTIONS[action]
    if round_.state != source:
        return _conflict(
            round_, _("Thao tác này không thực hiện được ở trạng thái hiện tại của đợt khảo sát.")
        )
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            apply_round_action(round_, action, now=utcnow(), actor=current_staff())
        except IllegalTransitionError:
            db.session.rollback()
            return _conflict(
                round_,
                _("Thao tác này không thực hiện được ở trạng thái hiện tại của đợt khảo sát."),
            )
        db.session.commit()
        flash(_("Đã cập nhật trạng thái đợt khảo sát."), "success")
        return redirect(url_for("admin.round_detail", round_id=round_.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/rounds/confirm.html",
        round=round_,
        action=action,
        form=form,
        warnings=action_warnings(round_, action, now=utcnow()),
    ), status


@bp.route("/rounds/<int:round_id>/dossiers", methods=["GET", "POST"])
@admin_only
def round_dossiers(round_id: int) -> Any:
    round_ = visible_round(round_id, None)
    if round_.state == "published":
        return _conflict(round_, _("Đợt khảo sát đã công bố: không thể thay đổi số hồ sơ nữa."))
    form = DossierUploadForm()
    outcome = None
    if form.validate_on_submit():
        outcome = import_dossier_counts(
            round_,
            form.file.data.read(),
            replace=bool(form.replace.data),
            now=utcnow(),
            actor=current_staff(),
        )
        if outcome.ok:
            db.session.commit()
            if outcome.changed:
                flash(
                    _(
                        "Đã nhập %(rows)s dòng: thêm %(added)s ô, cập nhật %(updated)s, "
                        "giữ nguyên %(unchanged)s, xoá %(removed)s.",
                        rows=outcome.rows,
                        added=outcome.added,
                        updated=outcome.updated,
                        unchanged=outcome.unchanged,
                        removed=outcome.removed,
                    ),
                    "success",
                )
            else:
                flash(_("Tệp giống số liệu đang có: không có gì thay đổi."), "success")
            return redirect(url_for("admin.round_detail", round_id=round_.id), code=303)
        db.session.rollback()
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/rounds/dossiers.html", round=round_, form=form, outcome=outcome, columns=COLUMNS
    ), status


@bp.get("/rounds/<int:round_id>/dossiers.csv")
@admin_only
def round_dossiers_csv(round_id: int) -> FlaskResponse:
    """The frame to fill in: every unit x service area of the round, with the counts so far."""
    round_ = visible_round(round_id, None)
    answer = FlaskResponse(frame_csv(round_), mimetype="text/csv")
    answer.headers["Content-Disposition"] = f'attachment; filename="ho-so-dot-{round_.id}.csv"'
    return answer


@bp.route("/rounds/<int:round_id>/dossier-codes", methods=["GET", "POST"])
@admin_only
def round_dossier_codes(round_id: int) -> Any:
    """The dossier codes the round's units handled: with a list, desks that ask for the receipt's
    code accept only listed codes."""
    round_ = visible_round(round_id, None)
    if round_.state == "published":
        return _conflict(
            round_, _("Đợt khảo sát đã công bố: không thể thay đổi danh sách mã hồ sơ nữa.")
        )
    form = DossierCodeUploadForm()
    outcome = None
    if form.validate_on_submit():
        outcome = import_dossier_codes(
            round_,
            form.file.data.read(),
            key=server_key("DOSSIER_CODE_KEY"),
            now=utcnow(),
            actor=current_staff(),
        )
        if outcome.ok:
            db.session.commit()
            flash(
                _(
                    "Đã nhập danh sách %(codes)s mã hồ sơ (thay cho danh sách %(previous)s mã).",
                    codes=outcome.codes,
                    previous=outcome.previous,
                ),
                "success",
            )
            return redirect(url_for("admin.round_detail", round_id=round_.id), code=303)
        db.session.rollback()
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/rounds/dossier_codes.html",
        round=round_,
        form=form,
        outcome=outcome,
        columns=CODE_COLUMNS,
        listed=listed_code_count(round_.id),
    ), status


def number_text(value: float | None) -> str:
    """A stored number as the form shows it: the Vietnamese decimal comma, no trailing zeros."""
    return "" if value is None else f"{value:g}".replace(".", ",")


@bp.route("/rounds/<int:round_id>/result-settings", methods=["GET", "POST"])
@admin_only
def round_result_settings(round_id: int) -> Any:
    """The round's target, the targets of unit levels and the publishing rule."""
    round_ = visible_round(round_id, None)
    levels = unit_levels()
    targets = round_targets(round_)
    if request.method == "POST":
        form = ResultSettingsForm()
        level_texts = {lv.code: request.form.get(f"level-{lv.code}", "") for lv in levels}
    else:
        form = ResultSettingsForm(
            data={"target": number_text(round_.target)}
            | {f"rule_{n}": number_text(getattr(round_, f"rule_{n}")) for n in RULE_FIELDS}
        )
        level_texts = {lv.code: number_text(targets.levels.get(lv.code)) for lv in levels}
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            update_result_settings(
                round_,
                target=form.target.data or "",
                level_targets=level_texts,
                rule={n: form[f"rule_{n}"].data or "" for n in RULE_FIELDS},
                actor=current_staff(),
                now=utcnow(),
            )
        except SettingsError as exc:
            db.session.rollback()
            errors = exc.errors
            for name, message in errors.items():
                if name in form:
                    form[name].errors = [*form[name].errors, message]
        except ConflictError as exc:
            db.session.rollback()
            return _conflict(round_, exc.message)
        else:
            db.session.commit()
            flash(_("Đã lưu mục tiêu và quy tắc công bố của đợt."), "success")
            return redirect(url_for("admin.round_detail", round_id=round_.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/rounds/result_settings.html",
        round=round_,
        form=form,
        levels=levels,
        level_texts=level_texts,
        level_errors={code: errors.get(f"level-{code}") for code in level_texts},
        default_target=number_text(default_target()),
    ), status
