"""The organisation pages: who may do what, units, service areas and desks through the browser
routes, a desk's new link, the CSV import and export, and merging units."""

from __future__ import annotations

import html
import io
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from survey.extensions import db
from survey.models import (
    AuditEvent,
    Desk,
    Response,
    RoundState,
    RoundUnit,
    ServiceArea,
    Unit,
    utcnow,
)
from tests.admin.conftest import Staff, csrf_token, login
from tests.factories import make_area, make_level, make_round, make_unit

UNITS_HEADER = "code,name,level_code,parent_code,active\n"
DESKS_HEADER = "unit_code,code,name,areas,active\n"


# --- reading pages -----------------------------------------------------------------------------


def text_of(answer: Any) -> str:
    """A page's visible text on one line."""
    body = answer.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def rows_of(answer: Any) -> list[list[str]]:
    """The cell texts of every table row of a page."""
    found = []
    for row in re.findall(r"<tr\b.*?</tr>", answer.get_data(as_text=True), flags=re.S):
        cells = re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, flags=re.S)
        found.append(
            [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", c))).strip() for c in cells]
        )
    return found


def post(client: FlaskClient, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **(data or {})}, **kwargs)


def events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def org_snapshot() -> list[tuple[object, ...]]:
    """Everything a forbidden or refused request must leave as it was."""
    db.session.expire_all()
    units = [
        (u.code, u.name, u.is_active, u.parent_id, u.successor_id, [a.id for a in u.service_areas])
        for u in db.session.scalars(select(Unit).order_by(Unit.id))
    ]
    desks = [
        (d.code, d.name, d.unit_id, d.token, d.is_active, [a.id for a in d.service_areas])
        for d in db.session.scalars(select(Desk).order_by(Desk.id))
    ]
    areas = [
        (a.code, a.name, a.is_active)
        for a in db.session.scalars(select(ServiceArea).order_by(ServiceArea.id))
    ]
    return [*units, *desks, *areas]


def get_unit(code: str) -> Unit:
    db.session.expire_all()
    unit = db.session.scalar(select(Unit).where(Unit.code == code))
    assert unit is not None, code
    return unit


def get_desk(desk_id: int) -> Desk:
    db.session.expire_all()
    desk = db.session.get(Desk, desk_id)
    assert desk is not None
    return desk


# --- who may do what ---------------------------------------------------------------------------

# Expected status for admin, analyst, officer. The officer's unit is U01 with sub-unit U01A;
# U02 is another branch. Every POST here is refused one way or another, so nothing may change.
ROUTES = [
    ("GET", "/admin/units", (200, 403, 200)),
    ("GET", "/admin/units?under={other}", (200, 403, 403)),
    ("GET", "/admin/units/new", (200, 403, 403)),
    ("POST", "/admin/units/new", (422, 403, 403)),
    ("GET", "/admin/units/{unit}", (200, 403, 200)),
    ("GET", "/admin/units/{sub}", (200, 403, 200)),
    ("GET", "/admin/units/{other}", (200, 403, 403)),
    ("GET", "/admin/units/999999", (404, 403, 404)),
    ("GET", "/admin/units/{unit}/edit", (200, 403, 403)),
    ("POST", "/admin/units/{unit}/edit", (422, 403, 403)),
    ("GET", "/admin/units/{unit}/deactivate", (200, 403, 403)),
    ("POST", "/admin/units/{unit}/deactivate", (422, 403, 403)),
    ("POST", "/admin/units/{unit}/reactivate", (422, 403, 403)),
    ("GET", "/admin/units/merge", (200, 403, 403)),
    ("POST", "/admin/units/merge", (422, 403, 403)),
    ("GET", "/admin/units/import", (200, 403, 403)),
    ("POST", "/admin/units/import", (422, 403, 403)),
    ("GET", "/admin/units/export/units.csv", (200, 403, 403)),
    ("GET", "/admin/units/export/passwords.csv", (404, 403, 403)),
    ("GET", "/admin/service-areas", (200, 403, 403)),
    ("GET", "/admin/service-areas/new", (200, 403, 403)),
    ("POST", "/admin/service-areas/new", (422, 403, 403)),
    ("GET", "/admin/service-areas/{area}/edit", (200, 403, 403)),
    ("POST", "/admin/service-areas/{area}/edit", (422, 403, 403)),
    ("POST", "/admin/service-areas/{area}/deactivate", (422, 403, 403)),
    ("GET", "/admin/units/{sub}/desks/new", (200, 403, 200)),
    ("POST", "/admin/units/{sub}/desks/new", (422, 403, 422)),
    ("GET", "/admin/units/{other}/desks/new", (200, 403, 403)),
    ("POST", "/admin/units/{other}/desks/new", (422, 403, 403)),
    ("GET", "/admin/desks/{desk}", (200, 403, 200)),
    ("GET", "/admin/desks/{other_desk}", (200, 403, 403)),
    ("GET", "/admin/desks/999999", (404, 403, 404)),
    ("GET", "/admin/desks/{desk}/edit", (200, 403, 200)),
    ("GET", "/admin/desks/{other_desk}/edit", (200, 403, 403)),
    ("POST", "/admin/desks/{other_desk}/edit", (422, 403, 403)),
    ("POST", "/admin/desks/{desk}/token", (422, 403, 422)),
    ("POST", "/admin/desks/{other_desk}/token", (422, 403, 403)),
    ("POST", "/admin/desks/{other_desk}/deactivate", (422, 403, 403)),
    ("POST", "/admin/desks/{other_desk}/reactivate", (422, 403, 403)),
]


@pytest.mark.parametrize("role", ["admin", "analyst", "officer"])
def test_org_routes_by_role(app: Flask, client: FlaskClient, staff: Staff, role: str) -> None:
    with app.app_context():
        area_id = db.session.scalar(select(ServiceArea.id))
        before = org_snapshot()
    ids = {
        "unit": staff.unit_id,
        "sub": staff.sub_unit_id,
        "other": staff.other_unit_id,
        "desk": staff.desk_id,
        "other_desk": staff.other_desk_id,
        "area": area_id,
    }
    column = ("admin", "analyst", "officer").index(role)
    login(client, role)
    token = csrf_token(client)
    for method, pattern, expected in ROUTES:
        url = pattern.format(**ids)
        data = {"csrf_token": token} if method == "POST" else None
        answer = client.open(url, method=method, data=data)
        assert answer.status_code == expected[column], f"{role} {method} {url}"
        assert answer.status_code != 500
    with app.app_context():
        assert org_snapshot() == before


def test_anonymous_visitors_are_sent_to_login_and_posts_without_csrf_refused(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        before = org_snapshot()
    for method, pattern, _expected in ROUTES:
        url = pattern.format(
            unit=staff.unit_id,
            sub=staff.sub_unit_id,
            other=staff.other_unit_id,
            desk=staff.desk_id,
            other_desk=staff.other_desk_id,
            area=1,
        )
        answer = client.open(url, method=method)
        if method == "POST":
            assert answer.status_code == 400, url  # no CSRF token
        else:
            assert answer.status_code == 302, url
            assert "/admin/login" in answer.headers["Location"]
    # Signed in, a change without its CSRF token is refused too.
    login(client, "admin")
    answer = client.post(f"/admin/desks/{staff.desk_id}/token", data={"confirm": "y"})
    assert answer.status_code == 400
    with app.app_context():
        assert org_snapshot() == before


def test_the_menu_shows_units_to_officers_and_areas_only_to_admins(
    client: FlaskClient, staff: Staff
) -> None:
    login(client, "officer")
    menu = client.get("/admin/units").get_data(as_text=True)
    assert 'href="/admin/units"' in menu and 'href="/admin/service-areas"' not in menu
    assert "Thêm đơn vị" not in menu and "Sáp nhập đơn vị" not in menu


# --- the unit tree -----------------------------------------------------------------------------


def test_officer_sees_only_their_branch(client: FlaskClient, staff: Staff) -> None:
    login(client, "officer")
    codes = [row[0] for row in rows_of(client.get("/admin/units"))[1:]]
    assert codes == ["U01", "U01A"]
    page = text_of(client.get(f"/admin/units/{staff.unit_id}"))
    assert "U01A" in page and "U02" not in page


def test_the_tree_pages_700_units_and_collapses(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        level = make_level("commune").code
        top = make_unit("TINH", "Tỉnh mẫu")
        db.session.execute(
            insert(Unit),
            [
                {
                    "code": f"X{i:03d}",
                    "name": f"UBND xã Số {i}",
                    "level_code": level,
                    "parent_id": top.id,
                    "is_active": True,
                }
                for i in range(700)
            ],
        )
        db.session.commit()
    login(client, "admin")
    first = client.get("/admin/units")
    assert first.status_code == 200
    body = rows_of(first)
    assert len(body) == 1 + 100  # the header and one page
    assert "Trang 1 / 8" in text_of(first)
    last = rows_of(client.get("/admin/units?page=8"))
    assert len(last) == 1 + 704 - 700  # 704 units: TINH, its 700 communes, U01, U01A, U02
    # Children follow their parent, indented.
    codes = [row[0] for row in body[1:]]
    assert codes[:3] == ["TINH", "X000", "X001"]
    assert 'class="depth depth-1">UBND xã Số 0<' in first.get_data(as_text=True)
    # Only the top units: four rows, the province's 700 behind one link.
    top_only = client.get("/admin/units?depth=1")
    assert [row[0] for row in rows_of(top_only)[1:]] == ["TINH", "U01", "U02"]
    assert "Xem nhánh (700 đơn vị)" in text_of(top_only)
    # Search ignores diacritics and case.
    found = rows_of(client.get("/admin/units?q=ubnd+xa+so+69"))
    assert [row[0] for row in found[1:]] == ["X069", *[f"X{i}" for i in range(690, 700)]]
    assert "Không có đơn vị nào khớp" in text_of(client.get("/admin/units?q=zzz"))


# --- units -------------------------------------------------------------------------------------


def test_admin_creates_edits_and_deactivates_a_unit(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        area_id = db.session.scalar(select(ServiceArea.id))
    login(client, "admin")
    answer = post(
        client,
        "/admin/units/new",
        {
            "code": "U01B",
            "name": "  Trường tiểu học Bình Minh ",
            "level_code": "department",
            "parent_code": "U01",
            "area_ids": [str(area_id)],
        },
    )
    assert answer.status_code == 303
    with app.app_context():
        unit = get_unit("U01B")
        assert unit.name == "Trường tiểu học Bình Minh"
        assert unit.parent_id == staff.unit_id
        assert [a.id for a in unit.service_areas] == [area_id]
        [created] = events("unit.create")
        assert created.after is not None and created.after["parent_code"] == "U01"
        unit_id = unit.id
    page = text_of(client.get(answer.headers["Location"]))
    assert "U01B – Trường tiểu học Bình Minh" in page
    # The officer of U01 now sees it in their branch.
    answer = post(
        client,
        f"/admin/units/{unit_id}/edit",
        {
            "code": "U01B",
            "name": "Trường TH Bình Minh",
            "level_code": "department",
            "parent_code": "U01",
        },
    )
    assert answer.status_code == 303
    with app.app_context():
        assert get_unit("U01B").service_areas == []
        [updated] = events("unit.update")
        assert updated.before == {"name": "Trường tiểu học Bình Minh", "service_areas": ["HT"]}
    # Deactivation asks first.
    assert "xác nhận" in text_of(client.get(f"/admin/units/{unit_id}/deactivate"))
    refused = post(client, f"/admin/units/{unit_id}/deactivate")
    assert refused.status_code == 422
    assert "Đánh dấu ô xác nhận để tiếp tục." in text_of(refused)
    with app.app_context():
        assert get_unit("U01B").is_active
    done = post(client, f"/admin/units/{unit_id}/deactivate", {"confirm": "y"})
    assert done.status_code == 303
    with app.app_context():
        assert not get_unit("U01B").is_active
        assert len(events("unit.deactivate")) == 1
    done = post(client, f"/admin/units/{unit_id}/reactivate", {"confirm": "y"})
    assert done.status_code == 303
    with app.app_context():
        assert get_unit("U01B").is_active


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": "U02"}, "Mã đơn vị U02 đã có."),
        ({"code": "có dấu cách"}, "không có dấu cách"),
        ({"code": "=cmd|' /C calc'!A0"}, "bắt đầu bằng chữ hoặc số"),
        ({"code": "A" * 65}, "Mã dài tối đa 64 ký tự."),
        ({"name": ""}, "Nhập tên đơn vị."),
        ({"name": "Đ" * 301}, "Tên dài tối đa 300 ký tự."),
        ({"name": "@SUM(1+1)"}, "không được bắt đầu bằng dấu bằng, dấu cộng"),
        ({"name": "Tên\x01ẩn"}, "ký tự điều khiển"),  # a NUL is refused before any form
        ({"level_code": "province"}, "Chọn một cấp đơn vị."),
        ({"parent_code": "KHONGCO"}, "Không có đơn vị mã KHONGCO."),
        ({"parent_code": "U01A"}, "một đơn vị trực thuộc nó"),  # a cycle U01 → U01A → U01
        ({"parent_code": "U01"}, "chính đơn vị này"),
        ({"area_ids": ["999999"]}, "Có lĩnh vực không tồn tại"),
        ({"area_ids": ["abc"]}, "Có lĩnh vực không tồn tại"),
    ],
)
def test_bad_unit_input_is_shown_beside_the_field(
    app: Flask, client: FlaskClient, staff: Staff, fields: dict[str, Any], message: str
) -> None:
    with app.app_context():
        before = org_snapshot()
    login(client, "admin")
    data = {"code": "U01", "name": "UBND phường Bình Minh", "level_code": "department", **fields}
    answer = post(client, f"/admin/units/{staff.unit_id}/edit", data)
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert message in html.unescape(page)
    assert "has-error" in page  # the message sits beside its field
    with app.app_context():
        assert org_snapshot() == before
        assert events("unit.update") == []


def test_renamed_unit_keeps_its_name_in_old_rounds(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        unit = db.session.get(Unit, staff.unit_id)
        assert unit is not None
        make_round([unit], state=RoundState.CLOSED, name="Đợt 2025")
        db.session.commit()
    login(client, "admin")
    post(
        client,
        f"/admin/units/{staff.unit_id}/edit",
        {"code": "U01", "name": "UBND phường Bình Minh mới", "level_code": "department"},
    )
    page = text_of(client.get(f"/admin/units/{staff.unit_id}"))
    assert "U01 – UBND phường Bình Minh mới" in page
    assert ["Đợt 2025", "Đã đóng", "UBND phường Bình Minh"] in rows_of(
        client.get(f"/admin/units/{staff.unit_id}")
    )


def test_removing_an_area_a_desk_still_serves_is_refused(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        desk = get_desk(staff.desk_id)
        desk.service_areas = list(desk.unit.service_areas)
        db.session.commit()
    login(client, "admin")
    answer = post(
        client,
        f"/admin/units/{staff.unit_id}/edit",
        {"code": "U01", "name": "UBND phường Bình Minh", "level_code": "department"},
    )
    assert answer.status_code == 422
    assert "Quầy U01-Q1 vẫn phục vụ lĩnh vực HT" in text_of(answer)


# --- service areas -----------------------------------------------------------------------------


def test_admin_manages_service_areas(app: Flask, client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    assert "HT Hộ tịch Civil status 3 0" in text_of(client.get("/admin/service-areas"))
    answer = post(
        client, "/admin/service-areas/new", {"code": "DD", "name": "Đất đai", "name_en": "Land"}
    )
    assert answer.status_code == 303
    duplicate = post(client, "/admin/service-areas/new", {"code": "DD", "name": "Đất đai 2"})
    assert duplicate.status_code == 422
    assert "Mã lĩnh vực DD đã có." in text_of(duplicate)
    with app.app_context():
        area = db.session.scalar(select(ServiceArea).where(ServiceArea.code == "DD"))
        assert area is not None
        area_id = area.id
    answer = post(
        client,
        f"/admin/service-areas/{area_id}/edit",
        {"code": "DD", "name": "Đất đai, nhà ở", "name_en": "Land and housing"},
    )
    assert answer.status_code == 303
    assert post(client, f"/admin/service-areas/{area_id}/deactivate").status_code == 422
    assert (
        post(client, f"/admin/service-areas/{area_id}/deactivate", {"confirm": "y"}).status_code
        == 303
    )
    with app.app_context():
        db.session.expire_all()
        area = db.session.get(ServiceArea, area_id)
        assert area is not None and area.name == "Đất đai, nhà ở" and not area.is_active
        assert [e.action for e in events("service_area.update")] == ["service_area.update"]
        assert len(events("service_area.deactivate")) == 1


def test_no_areas_yet_says_so(client: FlaskClient, app: Flask) -> None:
    from survey.models import Role
    from survey.services.accounts.users import create_user

    with app.app_context():
        create_user(username="admin", password="ao-dai-xanh-2026", role=Role.ADMIN, now=utcnow())
        db.session.commit()
    login(client, "admin")
    assert "Chưa có lĩnh vực nào." in text_of(client.get("/admin/service-areas"))
    assert "Chưa có đơn vị nào." in text_of(client.get("/admin/units"))


# --- desks -------------------------------------------------------------------------------------


def test_officer_adds_and_edits_a_desk_in_their_branch(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        area_id = db.session.scalar(select(ServiceArea.id))
    login(client, "officer")
    form = client.get(f"/admin/units/{staff.sub_unit_id}/desks/new").get_data(as_text=True)
    assert 'value="U01A-Q1"' in form  # a suggested code
    answer = post(
        client,
        f"/admin/units/{staff.sub_unit_id}/desks/new",
        {"code": "U01A-Q1", "name": "Quầy tiếp đón", "area_ids": [str(area_id)]},
    )
    assert answer.status_code == 303
    with app.app_context():
        desk = db.session.scalar(select(Desk).where(Desk.code == "U01A-Q1"))
        assert desk is not None and desk.unit_id == staff.sub_unit_id
        desk_id = desk.id
        [created] = events("desk.create")
        assert created.after is not None and created.after["service_areas"] == ["HT"]
        assert desk.token not in str(created.after)
    answer = post(
        client,
        f"/admin/desks/{desk_id}/edit",
        {"code": "U01A-Q1", "name": "Quầy số 1", "requires_dossier_code": "y"},
    )
    assert answer.status_code == 303
    with app.app_context():
        desk = get_desk(desk_id)
        assert desk.name == "Quầy số 1" and desk.requires_dossier_code and desk.service_areas == []


def test_officer_cannot_reach_another_branch_through_form_fields(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        other_area = make_area("DD", "Đất đai", "Land")
        other = db.session.get(Unit, staff.other_unit_id)
        assert other is not None
        other.service_areas.append(other_area)
        db.session.commit()
        other_area_id = other_area.id
        other_desk_code = get_desk(staff.other_desk_id).code
        before = org_snapshot()
    login(client, "officer")
    # An area the officer's unit does not serve, smuggled into the form.
    answer = post(
        client,
        f"/admin/desks/{staff.desk_id}/edit",
        {"code": "U01-Q1", "name": "Quầy số 1", "area_ids": [str(other_area_id)]},
    )
    assert answer.status_code == 422
    assert "Đơn vị không phục vụ lĩnh vực DD" in text_of(answer)
    # Taking another branch's desk code.
    answer = post(
        client, f"/admin/desks/{staff.desk_id}/edit", {"code": other_desk_code, "name": "Quầy"}
    )
    assert answer.status_code == 422
    assert f"Mã quầy {other_desk_code} đã có." in text_of(answer)
    # A unit_id or desk_id in the form is ignored: the desk comes from the URL.
    answer = post(
        client,
        f"/admin/units/{staff.unit_id}/desks/new",
        {"code": "U01-Q9", "name": "Quầy 9", "unit_id": str(staff.other_unit_id)},
    )
    assert answer.status_code == 303
    with app.app_context():
        desk = db.session.scalar(select(Desk).where(Desk.code == "U01-Q9"))
        assert desk is not None and desk.unit_id == staff.unit_id
        assert [row for row in org_snapshot() if row not in before] == [
            ("U01-Q9", "Quầy 9", staff.unit_id, desk.token, True, [])
        ]


def test_a_new_token_retires_the_old_poster(app: Flask, client: FlaskClient, staff: Staff) -> None:
    with app.app_context():
        old_token = get_desk(staff.desk_id).token
    assert client.get(f"/r/{old_token}").status_code == 200  # no open round: the closed page
    login(client, "officer")
    page = text_of(client.get(f"/admin/desks/{staff.desk_id}"))
    assert f"/r/{old_token}" in page
    assert post(client, f"/admin/desks/{staff.desk_id}/token").status_code == 422
    assert get_token_unchanged(app, staff.desk_id, old_token)
    answer = post(client, f"/admin/desks/{staff.desk_id}/token", {"confirm": "y"})
    assert answer.status_code == 303
    with app.app_context():
        new_token = get_desk(staff.desk_id).token
        [event] = events("desk.token")
        assert old_token not in str(event.before) and new_token not in str(event.after)
    assert new_token != old_token
    gone = client.get(f"/r/{old_token}")
    assert gone.status_code == 404
    assert "Không tìm thấy" in text_of(gone)
    assert client.get(f"/r/{new_token}").status_code == 200
    assert f"/r/{new_token}" in text_of(client.get(f"/admin/desks/{staff.desk_id}"))


def get_token_unchanged(app: Flask, desk_id: int, token: str) -> bool:
    with app.app_context():
        return get_desk(desk_id).token == token


def test_a_deactivated_desk_shows_the_not_valid_page_until_reopened(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        token = get_desk(staff.desk_id).token
    login(client, "officer")
    assert (
        post(client, f"/admin/desks/{staff.desk_id}/deactivate", {"confirm": "y"}).status_code
        == 303
    )
    assert client.get(f"/r/{token}").status_code == 404
    assert (
        post(client, f"/admin/desks/{staff.desk_id}/reactivate", {"confirm": "y"}).status_code
        == 303
    )
    assert client.get(f"/r/{token}").status_code == 200
    with app.app_context():
        assert [e.action for e in events("desk.deactivate") + events("desk.reactivate")] == [
            "desk.deactivate",
            "desk.reactivate",
        ]


# --- CSV import and export through the pages ---------------------------------------------------


def upload(client: FlaskClient, suffix: str = ".csv", **files: bytes) -> Any:
    data: dict[str, Any] = {"csrf_token": csrf_token(client, "/admin/units/import")}
    for kind, content in files.items():
        data[f"{kind}_file"] = FileStorage(io.BytesIO(content), f"{kind}{suffix}")
    # Encoded in memory: the test client would otherwise spool a large body to a temporary file
    # that it never closes.
    boundary, body = encode_multipart(MultiDict(data))
    return client.post(
        "/admin/units/import",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


BROKEN = {
    "latin-1": UNITS_HEADER.encode()
    + b"XA,Xa A,department,,1\n"
    + "XB,Café Phú,department,,1\n".encode("latin-1"),
    "missing-columns": b"code,name\nXA,Xa A\n",
    "duplicate-codes": (UNITS_HEADER + "XA,Xã A,department,,1\nXA,Xã A2,department,,1\n").encode(),
    "unknown-parent": (UNITS_HEADER + "XA,Xã A,department,KHONGCO,1\n").encode(),
    "cycle": (UNITS_HEADER + "XA,Xã A,department,XB,1\nXB,Xã B,department,XA,1\n").encode(),
    "empty": b"",
    "binary": bytes(range(256)) * 8,
    "ten-megabytes": UNITS_HEADER.encode() + b"XA,Xa,department,,1\n" * 560_000,
}
REASONS = {
    "latin-1": ["units.csv 3 — Tệp không phải UTF-8"],
    "missing-columns": ["units.csv 1 level_code Thiếu cột level_code trong dòng tiêu đề."],
    "duplicate-codes": ["units.csv 3 code Mã đơn vị XA trùng với dòng 2."],
    "unknown-parent": ["units.csv 2 parent_code Không có đơn vị cấp trên mã KHONGCO."],
    "cycle": [
        "units.csv 2 parent_code Cây đơn vị có vòng lặp: XA → XB → XA.",
        "units.csv 3 parent_code Cây đơn vị có vòng lặp: XB → XA → XB.",
    ],
    "empty": ["units.csv — — Tệp trống."],
    "binary": ["units.csv — — Tệp không phải tệp CSV dạng văn bản."],
    "ten-megabytes": ["units.csv — — Tệp quá lớn: tối đa 5 MB."],
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_files_give_a_report_and_import_nothing(
    app: Flask, client: FlaskClient, staff: Staff, name: str
) -> None:
    with app.app_context():
        before = org_snapshot()
        audit_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    login(client, "admin")
    good_desks = (DESKS_HEADER + "U01,U01-Q7,Quầy 7,,1\n").encode()
    answer = upload(client, units=BROKEN[name], desks=good_desks)
    assert answer.status_code == 422
    page = text_of(answer)
    assert "chưa nhập dòng nào" in page
    report = [" ".join(row) for row in rows_of(answer)[1:]]
    for reason in REASONS[name]:
        assert any(line.startswith(reason) for line in report), (reason, report)
    with app.app_context():
        assert org_snapshot() == before
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before


def test_a_file_of_another_type_is_refused(client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    answer = upload(client, ".xlsx", units=b"code,name,level_code\n")
    assert answer.status_code == 422
    assert "Chỉ nhận tệp .csv" in text_of(answer)


def test_no_file_chosen(client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    answer = upload(client)
    assert answer.status_code == 422
    assert "Chọn ít nhất một tệp CSV để tải lên." in text_of(answer)


def test_import_reimport_update_and_round_trip_through_the_pages(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    login(client, "admin")
    units = (
        UNITS_HEADER
        + "HPD,UBND huyện Phong Điền,department,,1\nXTT,UBND xã Tân Thành,department,HPD,1\n"
    ).encode("utf-8-sig")
    areas = b"unit_code;area_code\r\nXTT;HT\r\n"
    desks = (DESKS_HEADER + "XTT,XTT-Q1,Quầy số 1,HT,1\n").encode()
    answer = upload(client, units=units, unit_areas=areas, desks=desks)
    assert answer.status_code == 303
    flashed = text_of(client.get(answer.headers["Location"]))
    assert "3 mục tạo mới, 0 mục cập nhật" in flashed
    # The same files again: nothing changes, and the page says so.
    answer = upload(client, units=units, unit_areas=areas, desks=desks)
    flashed = text_of(client.get(answer.headers["Location"]))
    assert "0 mục tạo mới, 0 mục cập nhật" in flashed
    assert "không có gì thay đổi" in flashed
    # A new version: a renamed unit and a new desk.
    units = units.replace("UBND xã Tân Thành".encode(), "UBND xã Tân Thành (mới)".encode())
    desks += b"XTT,XTT-Q2,Quay 2,,1\n"
    answer = upload(client, units=units, desks=desks)
    assert "1 mục tạo mới, 1 mục cập nhật" in text_of(client.get(answer.headers["Location"]))
    with app.app_context():
        assert get_unit("XTT").name == "UBND xã Tân Thành (mới)"
        before = org_snapshot()
    # What the export writes imports back to no change.
    exported = {
        kind: client.get(f"/admin/units/export/{kind}.csv")
        for kind in ("units", "unit_areas", "desks")
    }
    for kind, answer in exported.items():
        assert answer.status_code == 200
        assert answer.mimetype == "text/csv"
        assert f'filename="{kind}.csv"' in answer.headers["Content-Disposition"]
        assert answer.data.startswith("\ufeff".encode())
    assert "XTT,XTT-Q1,Quầy số 1,HT,1" in exported["desks"].get_data(as_text=True)
    answer = upload(client, **{kind: a.data for kind, a in exported.items()})
    flashed = text_of(client.get(answer.headers["Location"]))
    assert "0 mục tạo mới, 0 mục cập nhật" in flashed
    with app.app_context():
        assert org_snapshot() == before


# --- merging units -----------------------------------------------------------------------------


def _merge(client: FlaskClient, **fields: Any) -> Any:
    return post(client, "/admin/units/merge", fields)


def test_merge_keeps_history_and_moves_desks_when_asked(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        absorbed = db.session.get(Unit, staff.other_unit_id)
        successor = make_unit(
            "U03", "UBND phường Phú Lộc mới", [make_area("DD", "Đất đai", "Land")]
        )
        assert absorbed is not None
        old_round = make_round([absorbed, successor], state=RoundState.OPEN, name="Đợt 2026")
        desk = get_desk(staff.other_desk_id)
        response = Response(
            round_id=old_round.id,
            desk_id=desk.id,
            unit_id=absorbed.id,
            service_area_id=absorbed.service_areas[0].id,
            received_at=utcnow() - timedelta(hours=1),
            idempotency_key=uuid.uuid4().hex,
        )
        db.session.add(response)
        db.session.commit()
        token, response_id, round_id = desk.token, response.id, old_round.id
    login(client, "admin")
    check = _merge(client, successor_code="U03", absorbed_codes="U02", move_desks="y")
    assert check.status_code == 200
    summary = text_of(check)
    assert "1 quầy chuyển sang U03" in summary
    assert "Đợt 2026" in summary  # an open round is named
    with app.app_context():
        assert db.session.get(Unit, staff.other_unit_id).is_active  # type: ignore[union-attr]
    unconfirmed = _merge(
        client, step="apply", successor_code="U03", absorbed_codes="U02", move_desks="y"
    )
    assert unconfirmed.status_code == 422
    assert "Đánh dấu ô xác nhận để tiếp tục." in text_of(unconfirmed)
    done = _merge(
        client,
        step="apply",
        successor_code="U03",
        absorbed_codes="U02",
        move_desks="y",
        confirm="y",
    )
    assert done.status_code == 303
    with app.app_context():
        old, new = get_unit("U02"), get_unit("U03")
        assert not old.is_active and old.successor_id == new.id
        desk = get_desk(staff.other_desk_id)
        assert desk.unit_id == new.id and desk.token == token
        # The desk served every area of U02 (HT); it still serves exactly that, and U03 took it on.
        assert [a.code for a in desk.service_areas] == ["HT"]
        assert [a.code for a in new.service_areas] == ["DD", "HT"]
        # History: the response stays with U02, the round keeps U02's name.
        assert db.session.get(Response, response_id).unit_id == old.id  # type: ignore[union-attr]
        scoped = db.session.get(RoundUnit, (round_id, old.id))
        assert scoped is not None and scoped.unit_name == "UBND xã Phú Lộc"
        assert [e.after for e in events("unit.merge")] == [
            {"code": "U02", "active": False, "successor_code": "U03"}
        ]
        assert [e.before for e in events("desk.move")] == [
            {"unit_code": "U02", "service_areas": []}
        ]
        assert len(events("unit.absorb")) == 1
    # The printed poster still works, now under the successor.
    poster = client.get(f"/r/{token}")
    assert poster.status_code == 200
    assert "UBND phường Phú Lộc mới" in text_of(poster)
    page = text_of(client.get(f"/admin/units/{staff.other_unit_id}"))
    assert "Đã sáp nhập vào U03" in page


def test_merge_without_moving_desks_retires_their_links(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        token = get_desk(staff.other_desk_id).token
    login(client, "admin")
    check = _merge(client, successor_code="U01", absorbed_codes="U02")
    assert "mã QR của 1 quầy đang hoạt động sẽ hiện trang “không hợp lệ”" in text_of(check)
    done = _merge(client, step="apply", successor_code="U01", absorbed_codes="U02", confirm="y")
    assert done.status_code == 303
    with app.app_context():
        assert get_desk(staff.other_desk_id).unit_id == staff.other_unit_id
        assert get_unit("U02").successor_id == staff.unit_id
    assert client.get(f"/r/{token}").status_code == 404


def test_merge_moves_sub_units_when_asked(app: Flask, client: FlaskClient, staff: Staff) -> None:
    with app.app_context():
        make_unit("U02A", "Trạm y tế xã Phú Lộc", parent=db.session.get(Unit, staff.other_unit_id))
        db.session.commit()
    login(client, "admin")
    done = _merge(
        client,
        step="apply",
        successor_code="U01",
        absorbed_codes="U02",
        move_children="y",
        confirm="y",
    )
    assert done.status_code == 303
    with app.app_context():
        assert get_unit("U02A").parent_id == staff.unit_id
    # ... so the officer of U01 now sees it.
    client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
    login(client, "officer")
    assert "U02A" in [row[0] for row in rows_of(client.get("/admin/units"))[1:]]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"successor_code": "U01", "absorbed_codes": "U01 U02"}, "không thể đồng thời bị sáp nhập"),
        (
            {"successor_code": "U01", "absorbed_codes": "U02, KHONGCO"},
            "Không có đơn vị mã KHONGCO.",
        ),
        ({"successor_code": "KHONGCO", "absorbed_codes": "U02"}, "Không có đơn vị mã KHONGCO."),
        ({"successor_code": "U01", "absorbed_codes": " , ; "}, "Nhập mã ít nhất một đơn vị"),
        ({"successor_code": "", "absorbed_codes": "U02"}, "Nhập mã đơn vị kế thừa."),
        (
            {"successor_code": "U01A", "absorbed_codes": "U01", "move_children": "y"},
            "Đơn vị kế thừa trực thuộc U01",
        ),
    ],
)
def test_bad_merges_are_explained_and_change_nothing(
    app: Flask, client: FlaskClient, staff: Staff, fields: dict[str, str], message: str
) -> None:
    with app.app_context():
        before = org_snapshot()
    login(client, "admin")
    for step in ("check", "apply"):
        answer = _merge(client, step=step, confirm="y", **fields)
        assert answer.status_code == 422
        assert message in text_of(answer)
        assert 'list="unit-codes"' in answer.get_data(as_text=True)  # the editable form again
    with app.app_context():
        assert org_snapshot() == before
        assert events("unit.merge") == []


def test_an_already_merged_unit_cannot_be_merged_again(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    login(client, "admin")
    _merge(client, step="apply", successor_code="U01", absorbed_codes="U02", confirm="y")
    again = _merge(client, step="apply", successor_code="U01A", absorbed_codes="U02", confirm="y")
    assert again.status_code == 422
    assert "đã sáp nhập trước đó" in text_of(again)
    with app.app_context():
        assert get_unit("U02").successor_id == staff.unit_id


def test_adding_a_desk_to_an_inactive_unit_is_refused(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        get_unit("U01A").is_active = False
        db.session.commit()
    login(client, "officer")
    answer = client.get(f"/admin/units/{staff.sub_unit_id}/desks/new")
    assert answer.status_code == 409
    assert "không thêm quầy được" in text_of(answer)
