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
    # Citizens' words stay out of the browser's and proxies' caches (issue 19, finding 10).
    assert analyst.get(url).headers["Cache-Control"] == "no-store"
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


# --- issue 19, finding 11: masking at storage, redaction, a page at once, publishing ----------


def test_dossier_codes_and_names_are_masked_before_storage(app: Flask, staff: Staff) -> None:
    from survey.services.responses.comments import DOSSIER_MASK, NAME_MASK

    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id], now=now)
        answer_id = add_comment(
            round_id,
            staff.desk_id,
            "Hồ sơ H33.25-241205-0001 do anh Nguyễn Văn An nhận, rất nhanh",
            now=now,
        )
        stored = db.session.get(Answer, answer_id)
        assert stored is not None
        assert stored.text == f"Hồ sơ {DOSSIER_MASK} do anh {NAME_MASK} nhận, rất nhanh"


def test_a_moderator_redacts_part_of_a_comment_audited_without_the_text(
    app: Flask, staff: Staff
) -> None:
    from tests.admin.conftest import csrf_token, login

    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id], now=now)
        answer_id = add_comment(
            round_id, staff.desk_id, "Chị Hoa ở số 12 ngõ Chùa rất tận tình", now=now
        )
    admin = app.test_client()
    login(admin, "admin")
    url = f"/admin/rounds/{round_id}/comments"
    page = _page(admin, url)
    assert f'action="{url}/{answer_id}/redact' in page  # the form is on the page
    token = csrf_token(admin, url)
    answer = admin.post(
        f"{url}/{answer_id}/redact?state=pending",
        data={"csrf_token": token, "phrase": "số 12 ngõ chùa"},
    )
    assert answer.status_code == 303
    page = _page(admin, url)
    assert "Chị Hoa ở [đã ẩn] rất tận tình" in page and "ngõ Chùa" not in page
    # Nothing to hide, or no phrase: refused, nothing changed.
    for phrase in ("không có trong ý kiến", ""):
        answer = admin.post(
            f"{url}/{answer_id}/redact", data={"csrf_token": token, "phrase": phrase}
        )
        assert answer.status_code == 303
    assert (
        admin.post(f"{url}/999999/redact", data={"csrf_token": token, "phrase": "x"}).status_code
        == 404
    )
    with app.app_context():
        stored = db.session.get(Answer, answer_id)
        assert stored is not None and stored.text == "Chị Hoa ở [đã ẩn] rất tận tình"
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "comment.redacted")
        ).all()
        assert [(e.entity_id, e.after["places"]) for e in events] == [(str(answer_id), 1)]
        assert "ngõ" not in str(events[0].before) + str(events[0].after)
    # Shown in the audit trail, under its own name.
    trail = _page(admin, "/admin/audit?action=comment.redacted")
    assert f"comment/{answer_id}" in trail or str(answer_id) in trail
    officer = app.test_client()
    login(officer, "officer")
    answer = officer.post(
        f"{url}/{answer_id}/redact",
        data={"csrf_token": csrf_token(officer, url), "phrase": "Hoa"},
    )
    assert answer.status_code == 403


def test_a_page_of_comments_is_moderated_in_one_post(app: Flask, staff: Staff) -> None:
    from tests.admin.conftest import csrf_token, login

    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id, staff.other_unit_id], now=now)
        first = add_comment(round_id, staff.desk_id, "Nhanh", now=now)
        second = add_comment(round_id, staff.desk_id, "Sạch sẽ", now=now)
        third = add_comment(round_id, staff.other_desk_id, "Chậm quá", now=now)
        elsewhere = round_over([staff.other_unit_id], now=now, name="Khác")
        foreign = add_comment(elsewhere, staff.other_desk_id, "Đợt khác", now=now)
    analyst = app.test_client()
    login(analyst, "analyst")
    url = f"/admin/rounds/{round_id}/comments"
    page = _page(analyst, url)
    assert f'value="{first}" form="bulk"' in page
    token = csrf_token(analyst, url)
    # Without the CSRF token: refused, nothing changed.
    answer = analyst.post(f"{url}/bulk", data={"state": "approved", "answer_id": [first]})
    assert answer.status_code == 400
    answer = analyst.post(
        f"{url}/bulk",
        data={"csrf_token": token, "state": "approved", "answer_id": [str(first), str(second)]},
    )
    assert answer.status_code == 303
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        assert comment_counts(round_) == {
            CommentState.PENDING: 1,
            CommentState.APPROVED: 2,
            CommentState.HIDDEN: 0,
        }
    # One comment of another round among them: nothing is stored, not even the others.
    answer = analyst.post(
        f"{url}/bulk",
        data={"csrf_token": token, "state": "hidden", "answer_id": [str(third), str(foreign)]},
    )
    assert answer.status_code == 404
    # Nothing ticked, or a state that does not exist: a message, no change.
    for data in ({"state": "hidden"}, {"state": "deleted", "answer_id": [str(third)]}):
        assert analyst.post(f"{url}/bulk", data={"csrf_token": token, **data}).status_code == 303
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        assert comment_counts(round_)[CommentState.PENDING] == 1
        actions = db.session.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.entity_type == "comment")
        ).all()
        assert sorted(actions) == sorted([str(first), str(second)])


def test_publishing_with_pending_comments_says_so_before_confirming(
    app: Flask, staff: Staff
) -> None:
    from survey.models import RoundState
    from survey.services.rounds.lifecycle import transition_round
    from tests.admin.conftest import csrf_token, login

    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id], now=now)
        add_comment(round_id, staff.desk_id, "Chưa ai đọc", now=now)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        transition_round(round_, RoundState.CLOSED, now=now)
        db.session.commit()
    admin = app.test_client()
    login(admin, "admin")
    url = f"/admin/rounds/{round_id}/state/publish"
    page = _page(admin, url)
    assert "1 ý kiến của người dân còn chờ kiểm duyệt" in page
    assert f"/admin/rounds/{round_id}/comments?state=pending" in page
    # Not ticked: not published.
    answer = admin.post(url, data={"csrf_token": csrf_token(admin, url)})
    assert answer.status_code == 422
    answer = admin.post(url, data={"csrf_token": csrf_token(admin, url), "confirm": "y"})
    assert answer.status_code == 303
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None and round_.state == RoundState.PUBLISHED.value
