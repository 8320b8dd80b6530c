"""Monitoring a round: progress against targets, responses per area, desk and day, suspicious
bursts, and excluding or restoring responses at a desk (administrators only)."""

from __future__ import annotations

import re
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.rounds import ExclusionForm, parse_window
from survey.admin import bp
from survey.admin.access import admin_only, any_staff
from survey.admin.requests import current_staff, page_arg
from survey.extensions import db
from survey.models import Desk, Round, utcnow
from survey.services.access import visible_unit_ids
from survey.services.paging import paginate_list
from survey.services.responses.abuse import reason_label
from survey.services.responses.exclusions import (
    ResponseSelectionError,
    Window,
    desk_in_round,
    desk_responses,
    exclude_responses,
    restore_responses,
)
from survey.services.rounds.lifecycle import visible_round
from survey.services.rounds.monitoring import (
    BURST_RULE,
    PER_PAGE,
    PLAUSIBILITY_RULE,
    REPEAT_RULE,
    answer_matrix,
    daily_chart,
    daily_tallies,
    desk_totals,
    monitor_round,
)

DIGEST = re.compile(r"[0-9a-f]{16}")

# The chart is an image: its own inline styles are all it needs, and it may run nothing.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
bp.add_app_template_global(reason_label, "exclusion_reason_label")


@bp.get("/rounds/<int:round_id>/monitoring")
@any_staff
def round_monitoring(round_id: int) -> str:
    unit_ids = visible_unit_ids(current_staff())
    round_ = visible_round(round_id, unit_ids)
    monitor = monitor_round(round_, unit_ids, now=utcnow())
    return render_template(
        "admin/rounds/monitoring.html",
        round=round_,
        monitor=monitor,
        unit_ids=unit_ids,
        rule=BURST_RULE,
        plausibility=PLAUSIBILITY_RULE,
        repeat_rule=REPEAT_RULE,
        units=paginate_list(monitor.units, page_arg("unit_page"), PER_PAGE),
        desks=paginate_list(monitor.desks, page_arg("desk_page"), PER_PAGE),
        idle=paginate_list(monitor.idle_desks, page_arg("idle_page"), PER_PAGE),
    )


@bp.get("/rounds/<int:round_id>/monitoring/daily.svg")
@any_staff
def round_daily_chart(round_id: int) -> FlaskResponse:
    unit_ids = visible_unit_ids(current_staff())
    round_ = visible_round(round_id, unit_ids)
    figure = daily_chart(
        daily_tallies(round_, unit_ids, now=utcnow()),
        counted_label=_("Được tính"),
        excluded_label=_("Bị loại"),
        ylabel=_("Số phiếu"),
    )
    answer = FlaskResponse(figure.svg(), mimetype="image/svg+xml")
    answer.headers["Content-Security-Policy"] = SVG_CSP
    answer.headers["Cache-Control"] = "private, max-age=60"
    return answer


def _window_from_args() -> Window | None:
    return parse_window(request.args.get("start"), request.args.get("end"))


def _render_desk(
    round_: Round,
    desk: Desk,
    *,
    form: ExclusionForm | None = None,
    batch: ExclusionForm | None = None,
    window: Window | None = None,
    status: int = 200,
) -> tuple[str, int]:
    shown = request.args.get("status")
    window = window or _window_from_args()
    digest = request.args.get("answers") or None
    if digest is not None and not DIGEST.fullmatch(digest):
        abort(400)
    if batch is None:
        batch = ExclusionForm(prefix="batch", formdata=None)
        if window is not None:
            batch.window_start.data = window.start.isoformat()
            batch.window_end.data = window.end.isoformat()
    page = desk_responses(
        round_, desk, page=page_arg("page"), status=shown, window=window, digest=digest
    )
    tally = desk_totals(round_, desk.id)
    # A flagged batch (a burst's window, or repeated answers): its answers side by side.
    flagged = window is not None or digest is not None
    matrix = answer_matrix([r.id for r in page.items]) if flagged else None
    return render_template(
        "admin/rounds/desk.html",
        round=round_,
        desk=desk,
        tally=tally,
        page=page,
        shown=shown,
        window=window,
        digest=digest,
        matrix=matrix,
        form=form or ExclusionForm(formdata=None),
        batch=batch,
    ), status


@bp.get("/rounds/<int:round_id>/desks/<int:desk_id>")
@any_staff
def round_desk(round_id: int, desk_id: int) -> tuple[str, int]:
    unit_ids = visible_unit_ids(current_staff())
    round_ = visible_round(round_id, unit_ids)
    return _render_desk(round_, desk_in_round(round_, desk_id, unit_ids))


def _change(round_: Round, desk: Desk, form: ExclusionForm, window: Window | None) -> int:
    action = request.form.get("action")
    if action not in ("exclude", "restore"):
        abort(400)
    change = exclude_responses if action == "exclude" else restore_responses
    return change(
        round_,
        desk,
        reason=(form.reason.data or "").strip(),
        now=utcnow(),
        actor=current_staff(),
        response_ids=[] if window else form.response_ids.data or [],
        window=window,
    )


def _done(round_: Round, desk: Desk, changed: int) -> Any:
    db.session.commit()
    if changed:
        flash(_("Đã thay đổi %(n)s phiếu.", n=changed), "success")
    else:
        flash(_("Không có phiếu nào cần thay đổi."), "success")
    # Back to the same view of the desk (filter, window, page), which the form's action kept.
    query = request.query_string.decode()
    target = url_for("admin.round_desk", round_id=round_.id, desk_id=desk.id)
    return redirect(f"{target}?{query}" if query else target, code=303)


@bp.post("/rounds/<int:round_id>/desks/<int:desk_id>/responses")
@admin_only
def round_desk_responses(round_id: int, desk_id: int) -> Any:
    """Exclude or restore the responses ticked in the desk's table."""
    round_ = visible_round(round_id, None, lock=True)
    desk = desk_in_round(round_, desk_id, None)
    form = ExclusionForm()
    if not form.validate_on_submit():
        return _render_desk(round_, desk, form=form, status=422)
    try:
        changed = _change(round_, desk, form, None)
    except ResponseSelectionError as exc:
        db.session.rollback()
        form.response_ids.errors = [exc.message]
        return _render_desk(round_, desk, form=form, status=422)
    return _done(round_, desk, changed)


@bp.post("/rounds/<int:round_id>/desks/<int:desk_id>/batch")
@admin_only
def round_desk_batch(round_id: int, desk_id: int) -> Any:
    """Exclude or restore every response of a burst's window."""
    round_ = visible_round(round_id, None, lock=True)
    desk = desk_in_round(round_, desk_id, None)
    form = ExclusionForm(prefix="batch")
    valid = form.validate_on_submit()
    window = form.window()
    if window is None:
        abort(400)
    if not valid:
        return _render_desk(round_, desk, batch=form, window=window, status=422)
    return _done(round_, desk, _change(round_, desk, form, window))
