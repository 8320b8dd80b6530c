"""Moderation of free-text comments: the service rules, and the console page per round."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from survey.errors import DomainError, NotFoundError
from survey.extensions import db
from survey.models import Answer, AuditEvent, CommentState, Round, User, utcnow
from survey.services.access import visible_unit_ids
from survey.services.responses.comments import (
    EMAIL_MASK,
    PHONE_MASK,
    comment_counts,
    comments_page,
    review_comment,
)
from tests.admin.conftest import Staff
from tests.helpers.comments import add_comment
from tests.helpers.rounds import round_over


def _users(app: Flask) -> dict[str, User]:
    users = db.session.scalars(select(User)).all()
    return {u.username: u for u in users}


def test_comments_are_stored_masked(app: Flask, staff: Staff) -> None:
    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id, staff.other_unit_id], now=now)
        answer_id = add_comment(round_id, staff.desk_id, "Gọi tôi: 0912 345 678", now=now)
        stored = db.session.get(Answer, answer_id)
        assert stored is not None
        assert stored.text == f"Gọi tôi: {PHONE_MASK}"


def test_moderators_see_pending_officers_only_approved_of_their_units(
    app: Flask, staff: Staff
) -> None:
    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id, staff.other_unit_id], now=now)
        mine = add_comment(round_id, staff.desk_id, "Tốt", now=now)
        mine_hidden = add_comment(round_id, staff.desk_id, "Chửi bới", now=now)
        other = add_comment(round_id, staff.other_desk_id, "Chậm", now=now)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        users = _users(app)
        analyst, officer = users["analyst"], users["officer"]

        pending = comments_page(
            round_, analyst, None, state=CommentState.PENDING, page=1, per_page=50
        )
        assert {c.answer_id for c in pending.items} == {mine, mine_hidden, other}
        # Until a moderator approves, an officer sees nothing, even when asking for pending.
        officer_view = comments_page(
            round_,
            officer,
            visible_unit_ids(officer),
            state=CommentState.PENDING,
            page=1,
            per_page=50,
        )
        assert officer_view.items == []

        review_comment(round_, mine, CommentState.APPROVED, actor=analyst, now=now)
        review_comment(round_, mine_hidden, CommentState.HIDDEN, actor=analyst, now=now)
        review_comment(round_, other, CommentState.APPROVED, actor=users["admin"], now=now)
        db.session.commit()
        officer_view = comments_page(
            round_, officer, visible_unit_ids(officer), state=None, page=1, per_page=50
        )
        assert [c.answer_id for c in officer_view.items] == [mine]
        assert comment_counts(round_) == {
            CommentState.PENDING: 0,
            CommentState.APPROVED: 2,
            CommentState.HIDDEN: 1,
        }
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "comment")
        ).all()
        assert [(e.action, e.entity_id) for e in events] == [
            ("comment.approved", str(mine)),
            ("comment.hidden", str(mine_hidden)),
            ("comment.approved", str(other)),
        ]
        # The trail records states, never what the citizen wrote.
        assert all("Tốt" not in str(e.after) for e in events)

        # Back to the queue.
        review_comment(round_, mine, CommentState.PENDING, actor=analyst, now=now)
        db.session.commit()
        assert comment_counts(round_)[CommentState.PENDING] == 1


def test_officers_cannot_moderate_and_other_rounds_comments_are_not_found(
    app: Flask, staff: Staff
) -> None:
    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id], now=now)
        other_round = round_over([staff.other_unit_id], now=now, name="Khác")
        answer = add_comment(other_round, staff.other_desk_id, "x", now=now)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        users = _users(app)
        with pytest.raises(DomainError):
            review_comment(round_, answer, CommentState.APPROVED, actor=users["officer"], now=now)
        with pytest.raises(NotFoundError):
            review_comment(round_, answer, CommentState.APPROVED, actor=users["admin"], now=now)


def test_display_masks_comments_stored_before_masking(app: Flask, staff: Staff) -> None:
    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id], now=now)
        answer_id = add_comment(round_id, staff.desk_id, "placeholder", now=now)
        stored = db.session.get(Answer, answer_id)
        assert stored is not None
        stored.text = "email me: dan@example.com"  # as an older version stored it
        db.session.commit()
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        page = comments_page(round_, _users(app)["admin"], None, state=None, page=1, per_page=10)
        assert page.items[0].text == f"email me: {EMAIL_MASK}"


# --- the console page -----------------------------------------------------------------------


def _page(client, url: str, status: int = 200) -> str:  # type: ignore[no-untyped-def]
    answer = client.get(url)
    assert answer.status_code == status, (url, answer.status_code)
    return answer.get_data(as_text=True)


def test_moderation_page_escapes_masks_and_moderates(app: Flask, staff: Staff) -> None:
    from tests.admin.conftest import csrf_token, login

    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id, staff.other_unit_id], now=now)
        hostile = add_comment(
            round_id,
            staff.desk_id,
            '<script>alert("x")</script> gọi 0912 345 678, email a@b.vn',
            now=now,
        )
        other = add_comment(round_id, staff.other_desk_id, "Đơn vị khác, chậm", now=now)
    analyst = app.test_client()
    login(analyst, "analyst")
    url = f"/admin/rounds/{round_id}/comments"
    page = _page(analyst, url)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert PHONE_MASK in page and EMAIL_MASK in page
    assert "0912" not in page and "a@b.vn" not in page
    assert "Đơn vị khác, chậm" in page

    token = csrf_token(analyst, url)
    answer = analyst.post(
        f"{url}/{hostile}?state=pending", data={"csrf_token": token, "state": "approved"}
    )
    assert answer.status_code == 303
    analyst.post(f"{url}/{other}", data={"csrf_token": token, "state": "hidden"})
    assert "Đơn vị khác" not in _page(analyst, url)  # no longer pending
    assert "Đơn vị khác" in _page(analyst, url + "?state=hidden")
    # A state that does not exist is refused without a change.
    answer = analyst.post(f"{url}/{other}", data={"csrf_token": token, "state": "deleted"})
    assert answer.status_code == 303
    assert "Đơn vị khác" in _page(analyst, url + "?state=hidden")
    # Unknown comment, or an id no database column holds: 404.
    for huge in ("99999999999999999999", "9223372036854775807"):
        answer = analyst.post(f"{url}/{huge}", data={"csrf_token": token, "state": "hidden"})
        assert answer.status_code == 404
    assert (
        analyst.post(f"{url}/999999", data={"csrf_token": token, "state": "hidden"}).status_code
        == 404
    )

    officer = app.test_client()
    login(officer, "officer")
    page = _page(officer, url + "?state=hidden")  # the filter is not theirs to choose
    assert PHONE_MASK in page and "Đơn vị khác" not in page
    assert "<button" not in page.split("<main", 1)[1]
    answer = officer.post(
        f"{url}/{other}", data={"csrf_token": csrf_token(officer, url), "state": "approved"}
    )
    assert answer.status_code == 403
