"""The audit trail in the console: newest first, paginated, filtered, each event's before and
after shown readably; bad filters give a message, never an error page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEvent, User
from survey.services.audit import changes, record_event
from tests.admin.conftest import Staff, csrf_token, login

# 2 March 2026, 00:30 in Vietnam (UTC+7) is still 1 March in UTC.
LATE_EVENING_UTC = datetime(2026, 3, 1, 17, 30)


def _user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


def _record(
    action: str,
    at: datetime,
    *,
    actor: str | None = "admin",
    entity_type: str = "unit",
    entity_id: object = 1,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
    note: str | None = None,
) -> int:
    event = record_event(
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        now=at,
        actor=_user(actor) if actor else None,
        before=before,
        after=after,
        note=note,
    )
    return event.id


def _shown_ids(html: str) -> list[int]:
    """The events listed, in the order shown."""
    return [int(n) for n in re.findall(r'href="/admin/audit/(\d+)"', html)]


def _errors(html: str, field: str) -> list[str]:
    found = re.search(rf'<ul class="field-errors" id="{field}-error">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1), re.S) if found else []


@pytest.fixture
def trail(app: Flask, staff: Staff) -> dict[str, int]:
    """A few events on a clean trail (the staff fixture's own account events are removed from
    the count by filtering on what these record)."""
    with app.app_context():
        ids = {
            "rename": _record(
                "unit.update",
                LATE_EVENING_UTC,
                entity_id=staff.unit_id,
                before={"name": "UBND phường Bình Minh", "code": "U01"},
                after={"name": "UBND phường Bình Minh mới", "code": "U01"},
            ),
            "close": _record(
                "round.close",
                LATE_EVENING_UTC - timedelta(days=2),
                entity_type="round",
                entity_id=7,
                before={"state": "open"},
                after={"state": "closed"},
            ),
            "failed_login": _record(
                "login.failed",
                LATE_EVENING_UTC + timedelta(days=3),
                actor=None,
                entity_type="login",
                entity_id="admin",
            ),
            "by_analyst": _record(
                "unit.update",
                LATE_EVENING_UTC + timedelta(days=1),
                actor="analyst",
                entity_id=staff.other_unit_id,
                before={"settings": {"target": 100, "levels": ["xa"]}, "note": "cũ"},
                after={"settings": {"target": 120, "levels": ["xa"]}, "active": True},
            ),
        }
        db.session.commit()
        return ids


def test_events_are_listed_newest_first_with_who_what_before_and_after(
    client: FlaskClient, trail: dict[str, int]
) -> None:
    login(client, "admin")
    answer = client.get("/admin/audit")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    shown = _shown_ids(html)
    mine = [trail[k] for k in ("failed_login", "by_analyst", "rename", "close")]
    assert [n for n in shown if n in mine] == mine
    # When, in Vietnam time; who; what; before -> after.
    assert "02/03/2026 00:30:00" in html
    assert "<code>unit.update</code>" in html
    assert "không có (hệ thống hoặc người chưa đăng nhập)" in html
    assert "<del>UBND phường Bình Minh</del> → <ins>UBND phường Bình Minh mới</ins>" in html
    assert "<del>đang mở</del> → <ins>đã đóng</ins>" in html
    # Unchanged fields are left out of the list.
    assert '<code class="change-field">code</code>' not in html


def test_one_event_shows_every_field_before_and_after(
    client: FlaskClient, staff: Staff, trail: dict[str, int]
) -> None:
    login(client, "admin")
    html = client.get(f"/admin/audit/{trail['by_analyst']}").get_data(as_text=True)
    assert "analyst" in html
    rows = re.findall(
        r'<tr class="change-(\w+)">\s*<th scope="row"><code>([^<]+)</code></th>', html
    )
    assert rows == [
        ("changed", "settings.target"),
        ("same", "settings.levels"),
        ("added", "active"),
        ("removed", "note"),
    ]
    assert '<span class="value">100</span>' in html and '<span class="value">120</span>' in html
    assert '<span class="value">có</span>' in html  # true, in words
    # A link to the same entity's other events.
    assert f"/admin/audit?entity_type=unit&amp;entity_id={staff.other_unit_id}" in html


def test_values_are_escaped(app: Flask, client: FlaskClient, staff: Staff) -> None:
    with app.app_context():
        event_id = _record(
            "unit.update",
            LATE_EVENING_UTC,
            before={"name": "<script>alert(1)</script>"},
            after={"name": "<b>x</b>"},
            note="<img src=x onerror=alert(1)>",
        )
        db.session.commit()
    login(client, "admin")
    for url in ("/admin/audit", f"/admin/audit/{event_id}"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html and "<b>x</b>" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "unit.update"}, ["by_analyst", "rename"]),
        ({"entity_type": "round"}, ["close"]),
        ({"entity_type": "unit", "entity_id": "{other_unit}"}, ["by_analyst"]),
        ({"actor": "Analyst"}, ["by_analyst"]),
        # Vietnam calendar days: 00:30 on 2 March local is 1 March in UTC.
        ({"since": "2026-03-02", "until": "2026-03-02"}, ["rename"]),
        ({"since": "02/03/2026", "until": "02/03/2026"}, ["rename"]),
        ({"until": "2026-03-01"}, ["close"]),
        ({"since": "2026-03-03", "until": "2026-03-31"}, ["failed_login", "by_analyst"]),
        ({"action": "unit.update", "since": "2026-03-03", "actor": "analyst"}, ["by_analyst"]),
        ({"actor": "ai-do"}, []),
    ],
)
def test_filters_narrow_the_trail(
    client: FlaskClient,
    staff: Staff,
    trail: dict[str, int],
    query: dict[str, str],
    expected: list[str],
) -> None:
    login(client, "admin")
    query = {k: v.format(other_unit=staff.other_unit_id) for k, v in query.items()}
    answer = client.get("/admin/audit", query_string=query)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert _shown_ids(html) == [trail[name] for name in expected]
    if not expected:
        assert "Không có sự kiện nào khớp với bộ lọc." in html


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"since": "2026-13-45"}, "since", "Nhập ngày theo dạng ngày/tháng/năm"),
        ({"since": "31/02/2026"}, "since", "Nhập ngày theo dạng ngày/tháng/năm"),
        ({"until": "hôm qua"}, "until", "Nhập ngày theo dạng ngày/tháng/năm"),
        ({"until": "9999-12-31"}, "until", "Nhập ngày theo dạng ngày/tháng/năm"),
        ({"since": "0001-01-01"}, "since", "Nhập ngày theo dạng ngày/tháng/năm"),
        ({"since": "2026-01-01'; DROP TABLE audit_events; --"}, "since", "Nhập ngày"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "until", "Ngày kết thúc phải"),
        ({"action": "' OR 1=1 --"}, "action", "Nhật ký không có thao tác này."),
        ({"entity_type": "users; DELETE"}, "entity_type", "không có loại đối tượng này"),
        ({"entity_id": "x" * 65}, "entity_id", "Dài tối đa 64 ký tự."),
        ({"actor": "a" * 1000}, "actor", "Dài tối đa 64 ký tự."),
    ],
)
def test_bad_filters_give_a_message_and_list_nothing(
    app: Flask,
    client: FlaskClient,
    trail: dict[str, int],
    query: dict[str, str],
    field: str,
    message: str,
) -> None:
    login(client, "admin")
    answer = client.get("/admin/audit", query_string=query)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert any(message in shown for shown in _errors(html, field)), _errors(html, field)
    assert "Bộ lọc chưa hợp lệ" in html
    assert _shown_ids(html) == []
    with app.app_context():
        assert db.session.get(AuditEvent, trail["rename"]) is not None


@pytest.mark.parametrize(
    "hostile",
    # A NUL is refused before any view runs (tests/test_ops.py).
    ["' OR '1'='1", "1; DROP TABLE audit_events", "%", "_", "\\", "<script>"],
)
def test_injection_in_free_text_filters_matches_nothing(
    client: FlaskClient, trail: dict[str, int], hostile: str
) -> None:
    login(client, "admin")
    for name in ("entity_id", "actor"):
        answer = client.get("/admin/audit", query_string={name: hostile})
        assert answer.status_code == 200, name
        html = answer.get_data(as_text=True)
        assert _shown_ids(html) == []
        assert "<script>" not in html.split("<main", 1)[1]


def test_the_trail_is_paginated(app: Flask, client: FlaskClient, staff: Staff) -> None:
    with app.app_context():
        for n in range(120):
            _record("unit.update", LATE_EVENING_UTC + timedelta(minutes=n), entity_id=n)
        db.session.commit()
    login(client, "admin")
    query = {"action": "unit.update"}
    first = client.get("/admin/audit", query_string=query).get_data(as_text=True)
    assert len(_shown_ids(first)) == 50
    assert "Trang 1 / 3" in first and "120 dòng" in first
    # The next page keeps the filter.
    assert "action=unit.update" in re.search(r'href="([^"]+)" rel="next"', first).group(1)  # type: ignore[union-attr]
    third = client.get("/admin/audit", query_string=query | {"page": "3"}).get_data(as_text=True)
    assert len(_shown_ids(third)) == 20
    # The oldest event is the last one shown on the last page.
    with app.app_context():
        oldest = db.session.scalar(
            select(AuditEvent.id).where(
                AuditEvent.entity_id == "0", AuditEvent.action == "unit.update"
            )
        )
    assert _shown_ids(third)[-1] == oldest
    for odd in ("abc", "-1", "0", "99999999999999999999", "2.5"):
        answer = client.get("/admin/audit", query_string=query | {"page": odd})
        assert answer.status_code == 200, odd
        assert len(_shown_ids(answer.get_data(as_text=True))) in (50, 20), odd


def test_an_empty_trail_says_so(app: Flask, client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    html = client.get("/admin/audit", query_string={"entity_type": "user", "entity_id": "x"})
    assert "Không có sự kiện nào khớp với bộ lọc." in html.get_data(as_text=True)


def test_unknown_event_gives_not_found(client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    assert client.get("/admin/audit/999999").status_code == 404
    assert client.get("/admin/audit/abc").status_code == 404


@pytest.mark.parametrize("role", ["analyst", "officer"])
def test_only_administrators_read_the_trail(
    client: FlaskClient, trail: dict[str, int], role: str
) -> None:
    login(client, role)
    assert client.get("/admin/audit").status_code == 403
    assert client.get(f"/admin/audit/{trail['rename']}").status_code == 403
    assert "/admin/audit" not in client.get("/admin/").get_data(as_text=True)


def test_the_trail_page_has_no_form_that_changes_it(
    client: FlaskClient, trail: dict[str, int]
) -> None:
    """Append-only: browsing offers no way to edit or delete an event."""
    login(client, "admin")
    for url in ("/admin/audit", f"/admin/audit/{trail['rename']}"):
        html = client.get(url).get_data(as_text=True).split("<main", 1)[1]
        assert 'method="post"' not in html
    token = csrf_token(client)
    answer = client.post(f"/admin/audit/{trail['rename']}", data={"csrf_token": token})
    assert answer.status_code == 405


def test_changes_flatten_nested_values_and_mark_each_field(app: Flask) -> None:
    with app.test_request_context():
        event = AuditEvent(
            action="x",
            entity_type="x",
            entity_id="1",
            before={"a": 1, "b": {"c": None, "d": [1, 2]}, "gone": "", "same": False},
            after={"a": 2, "b": {"c": "có", "d": [1, 2]}, "new": {}, "same": False},
        )
        found = [(c.field, c.before, c.after, c.kind) for c in changes(event)]
    assert found == [
        ("a", "1", "2", "changed"),
        ("b.c", "(trống)", "có", "changed"),
        ("b.d", "[1, 2]", "[1, 2]", "same"),
        ("new", None, "{}", "added"),
        ("same", "không", "không", "same"),
        ("gone", "(trống)", None, "removed"),
    ]


def test_history_link_of_a_desk_nobody_has_changed_shows_an_empty_trail(
    client: FlaskClient, staff: Staff
) -> None:
    """Desks made by the demo or an import have no event yet; their page still links to their
    history, which must say "nothing" rather than call the link a bad filter."""
    login(client, "admin")
    desk_page = client.get(f"/admin/desks/{staff.desk_id}").get_data(as_text=True)
    link = f"/admin/audit?entity_type=desk&amp;entity_id={staff.desk_id}"
    assert link in desk_page
    answer = client.get(link.replace("&amp;", "&"))
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert _shown_ids(html) == []
    assert "Bộ lọc chưa hợp lệ" not in html
