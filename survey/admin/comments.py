"""Free-text comments of a round in the console. Administrators and analysts moderate (approve,
hide, or put back in the queue) every comment, masked; unit officers read the approved comments
of their own units and nothing else."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.comments import BulkReviewForm, RedactForm, ReviewForm
from survey.admin import bp
from survey.admin.access import results_readers, roles_required
from survey.admin.requests import current_staff, page_arg
from survey.extensions import db
from survey.models import CommentState, Role, utcnow
from survey.services.access import visible_unit_ids
from survey.services.responses.comments import (
    NothingToRedactError,
    can_moderate,
    comment_counts,
    comments_page,
    redact_comment,
    review_comment,
    review_comments,
)
from survey.services.rounds.lifecycle import visible_round

COMMENTS_PER_PAGE = 30
moderators = roles_required(Role.ADMIN, Role.ANALYST)


def _wanted_state(raw: str | None, moderator: bool) -> CommentState | None:
    if not moderator:
        return CommentState.APPROVED
    if raw == "all":
        return None
    try:
        return CommentState(raw or CommentState.PENDING.value)
    except ValueError:
        return CommentState.PENDING


@bp.get("/rounds/<int:round_id>/comments")
@results_readers
def round_comments(round_id: int) -> str:
    viewer = current_staff()
    unit_ids = visible_unit_ids(viewer)
    round_ = visible_round(round_id, unit_ids)
    moderator = can_moderate(viewer)
    state = _wanted_state(request.args.get("state"), moderator)
    page = comments_page(
        round_,
        viewer,
        unit_ids,
        state=state,
        page=page_arg(),
        per_page=COMMENTS_PER_PAGE,
    )
    return render_template(
        "admin/comments/index.html",
        round=round_,
        page=page,
        state=state.value if state is not None else "all",
        counts=comment_counts(round_) if moderator else None,
        moderator=moderator,
    )


def _back(round_id: int) -> str:
    """The list the moderator posted from: same filter, same page."""
    return url_for(
        "admin.round_comments",
        round_id=round_id,
        state=request.args.get("state", "pending"),
        page=page_arg(),
    )


@bp.post("/rounds/<int:round_id>/comments/<int(max=9223372036854775807):answer_id>")
@moderators
def round_comment_review(round_id: int, answer_id: int) -> Any:
    round_ = visible_round(round_id, None)
    form = ReviewForm()
    back = _back(round_.id)
    if not form.validate_on_submit():
        flash(_("Chưa lưu được: hãy chọn duyệt hoặc ẩn."), "error")
        return redirect(back, code=303)
    review_comment(
        round_, answer_id, CommentState(form.state.data), actor=current_staff(), now=utcnow()
    )
    db.session.commit()
    flash(_("Đã lưu kết quả kiểm duyệt."), "success")
    return redirect(back, code=303)


@bp.post("/rounds/<int:round_id>/comments/bulk")
@moderators
def round_comments_bulk(round_id: int) -> Any:
    """Approve or hide the ticked comments of a page in one go: all of them or none."""
    round_ = visible_round(round_id, None)
    form = BulkReviewForm()
    wanted = [int(v) for v in request.form.getlist("answer_id") if v.isdigit() and len(v) <= 19]
    if not form.validate_on_submit() or not wanted:
        flash(_("Chưa lưu được: hãy chọn ít nhất một ý kiến, rồi duyệt hoặc ẩn."), "error")
        return redirect(_back(round_.id), code=303)
    changed = review_comments(
        round_, wanted, CommentState(form.state.data), actor=current_staff(), now=utcnow()
    )
    db.session.commit()
    flash(_("Đã lưu kết quả kiểm duyệt cho %(n)s ý kiến.", n=changed), "success")
    return redirect(_back(round_.id), code=303)


@bp.post("/rounds/<int:round_id>/comments/<int(max=9223372036854775807):answer_id>/redact")
@moderators
def round_comment_redact(round_id: int, answer_id: int) -> Any:
    """Hide part of one comment for good (audited without the text)."""
    round_ = visible_round(round_id, None)
    form = RedactForm()
    if not form.validate_on_submit():
        flash(_("Chưa ẩn được: hãy nhập đoạn cần ẩn, đúng như trong ý kiến."), "error")
        return redirect(_back(round_.id), code=303)
    try:
        count = redact_comment(
            round_, answer_id, form.phrase.data or "", actor=current_staff(), now=utcnow()
        )
    except NothingToRedactError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(_back(round_.id), code=303)
    db.session.commit()
    flash(_("Đã ẩn %(n)s chỗ trong ý kiến.", n=count), "success")
    return redirect(_back(round_.id), code=303)
