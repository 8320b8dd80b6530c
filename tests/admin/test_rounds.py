"""Survey rounds in the console: list, create, edit, the state machine through the browser, and
the dossier-count import."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditEvent, DossierCount, Round, RoundState, TemplateVersion, utcnow
from tests.admin.conftest import Staff, csrf_token, login
from tests.factories import make_area, sipas_version
from tests.helpers.rounds import (
    add_responses,
    round_over,
    row_starting,
    state_of,
    tables,
    text_of,
)


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _round_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Round)) or 0


# --- who may do what ---------------------------------------------------------------------------

ROUTES = [
    ("GET", "/admin/rounds", {"admin": 200, "analyst": 200, "officer": 200}),
    ("GET", "/admin/rounds/new", {"admin": 200, "analyst": 403, "officer": 403}),
    ("POST", "/admin/rounds/new", {"admin": 422, "analyst": 403, "officer": 403}),
    ("GET", "/admin/rounds/{rid}", {"admin": 200, "analyst": 200, "officer": 200}),
    ("GET", "/admin/rounds/{rid}/edit", {"admin": 409, "analyst": 403, "officer": 403}),
    ("GET", "/admin/rounds/{rid}/state/close", {"admin": 200, "analyst": 403, "officer": 403}),
    ("POST", "/admin/rounds/{rid}/state/close", {"admin": 422, "analyst": 403, "officer": 403}),
    ("GET", "/admin/rounds/{rid}/dossiers", {"admin": 200, "analyst": 403, "officer": 403}),
    ("POST", "/admin/rounds/{rid}/dossiers", {"admin": 422, "analyst": 403, "officer": 403}),
    ("GET", "/admin/rounds/{rid}/dossier-codes", {"admin": 200, "analyst": 403, "officer": 403}),
    ("POST", "/admin/rounds/{rid}/dossier-codes", {"admin": 422, "analyst": 403, "officer": 403}),
    ("GET", "/admin/rounds/{other}", {"admin": 200, "analyst": 200, "officer": 403}),
]


@pytest.mark.parametrize(("method", "url", "expected"), ROUTES)
@pytest.mark.parametrize("role", ["anonymous", "admin", "analyst", "officer"])
def test_round_routes_by_role(
    app: Flask,
    client: FlaskClient,
    staff: Staff,
    role: str,
    method: str,
    url: str,
    expected: dict[str, int],
) -> None:
    with app.app_context():
        now = utcnow()
        rid = round_over([staff.unit_id, staff.other_unit_id], now=now)
        other = round_over([staff.other_unit_id], now=now, name="Đợt khác")
    url = url.format(rid=rid, other=other)
    if role == "anonymous":
        answer = client.open(url, method=method)
        if method == "POST":
            assert answer.status_code == 400  # no CSRF token: refused before anything else
        else:
            assert answer.status_code == 302
            assert "/admin/login" in answer.headers["Location"]
        return
    login(client, role)
    data = {"csrf_token": csrf_token(client)} if method == "POST" else None
    answer = client.open(url, method=method, data=data)
    assert answer.status_code == expected[role], answer.get_data(as_text=True)[:500]
    with app.app_context():
        assert state_of(rid) == "open"


# --- the list ----------------------------------------------------------------------------------


def test_officer_lists_only_rounds_with_their_units_and_only_their_counts(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        now = utcnow()
        shared = round_over(
            [staff.unit_id, staff.other_unit_id], now=now, name="Đợt chung", targets={}
        )
        round_over([staff.other_unit_id], now=now, name="Đợt của xã khác")
        add_responses(shared, staff.desk_id, [now - timedelta(hours=2)] * 2)
        add_responses(shared, staff.other_desk_id, [now - timedelta(hours=1)] * 3)
        add_responses(shared, staff.desk_id, [now - timedelta(hours=1)], excluded=True)

    login(client, "officer")
    page = text_of(client, "/admin/rounds")
    assert "Đợt của xã khác" not in page
    # target 10 for their one unit; 2 counted, 1 excluded; the other unit's 3 are not theirs
    assert row_starting(page, "Đợt chung")[3:6] == ["10", "2", "1"]

    client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
    login(client, "admin")
    page = text_of(client, "/admin/rounds")
    assert "Đợt của xã khác" in page
    assert row_starting(page, "Đợt chung")[3:6] == ["20", "5", "1"]


def test_empty_list_says_so(client: FlaskClient, staff: Staff) -> None:
    login(client, "analyst")
    assert "Chưa có đợt khảo sát nào." in text_of(client, "/admin/rounds")


def test_officer_sees_only_their_units_on_a_round_page(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        rid = round_over([staff.unit_id, staff.other_unit_id], now=utcnow())
    login(client, "officer")
    page = text_of(client, f"/admin/rounds/{rid}")
    assert "UBND phường Bình Minh" in page
    assert "UBND xã Phú Lộc" not in page
    assert "Đóng đợt khảo sát" not in page  # no configuration for officers


# --- creating and editing ----------------------------------------------------------------------


def _form(staff: Staff, version_id: int, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Khảo sát quý I/2026",
        "version_id": str(version_id),
        "opens_at": "2026-03-01T07:30",
        "closes_at": "2026-03-31T17:00",
        "unit_ids": [str(staff.unit_id), str(staff.sub_unit_id)],
        "default_target": "150",
        "overrides": "U01A: 40",
        "min_answer_seconds": "10",
        "device_period_hours": "12",
        "desk_limit_per_hour": "240",
        "network_limit_per_hour": "240",
    }
    data.update(overrides)
    return data


def _version_id(app: Flask) -> int:
    with app.app_context():
        version = sipas_version()
        db.session.commit()
        return version.id


def test_admin_creates_a_draft_round_in_vietnam_time(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    version_id = _version_id(app)
    login(client, "admin")
    data = _form(staff, version_id, csrf_token=csrf_token(client, "/admin/rounds/new"))
    answer = client.post("/admin/rounds/new", data=data)
    assert answer.status_code == 303
    page = text_of(client, answer.headers["Location"])
    assert "Khảo sát quý I/2026" in page
    assert "01/03/2026 07:30 – 31/03/2026 17:00" in page
    assert row_starting(page, "U01A") == ["U01A", "Trạm y tế phường Bình Minh", "40"]
    assert row_starting(page, "U01")[2] == "150"
    with app.app_context():
        round_ = db.session.scalars(select(Round)).one()
        assert round_.state == "draft"
        assert round_.opens_at == datetime(2026, 3, 1, 0, 30)  # 07:30 in Hà Nội is 00:30 UTC
        assert round_.closes_at == datetime(2026, 3, 31, 10, 0)
        event = _events("round.create")[0]
        assert event.actor_id is not None


def test_scope_by_level_and_all_units(app: Flask, client: FlaskClient, staff: Staff) -> None:
    version_id = _version_id(app)
    login(client, "admin")
    token = csrf_token(client, "/admin/rounds/new")
    data = _form(staff, version_id, csrf_token=token, unit_ids=[], levels=["department"])
    data["overrides"] = ""
    assert client.post("/admin/rounds/new", data=data).status_code == 303
    data.update(levels=[], all_units="y", name="Tất cả")
    assert client.post("/admin/rounds/new", data=data).status_code == 303
    with app.app_context():
        for round_ in db.session.scalars(select(Round)):
            assert {s.unit.code for s in round_.scope} == {"U01", "U01A", "U02"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "Nhập tên đợt khảo sát."),
        ({"closes_at": "2026-02-01T07:00"}, "Thời điểm kết thúc phải sau thời điểm bắt đầu."),
        ({"opens_at": "ngày mai"}, "Nhập ngày giờ theo dạng"),
        ({"opens_at": ""}, "Nhập thời điểm bắt đầu."),
        ({"unit_ids": []}, "Chọn tất cả đơn vị, một cấp đơn vị, hoặc ít nhất một đơn vị."),
        ({"unit_ids": ["999999"]}, "Có đơn vị không tồn tại hoặc đã ngừng hoạt động."),
        ({"unit_ids": ["abc"]}, "Có đơn vị không tồn tại hoặc đã ngừng hoạt động."),
        ({"version_id": "999999"}, "Chọn một phiên bản phiếu khảo sát có trong danh sách."),
        ({"default_target": "-5"}, "Chỉ tiêu từ 0 đến 1.000.000 phiếu."),
        ({"default_target": "nhiều"}, "Nhập một số nguyên."),
        ({"overrides": "U02: 50"}, "Đơn vị U02 không thuộc phạm vi đợt khảo sát."),
        ({"overrides": "U01A hai mươi"}, "Dòng 1: viết theo dạng MÃ_ĐƠN_VỊ: chỉ tiêu"),
        ({"overrides": "U01A: -3"}, "Dòng 1: chỉ tiêu phải là số nguyên từ 0 đến"),
        ({"overrides": "U01: 5\nU01: 6"}, "Dòng 2: đơn vị U01 đã có ở dòng 1."),
        ({"desk_limit_per_hour": "0"}, "Từ 1 đến 100.000."),
    ],
)
def test_bad_round_forms_are_shown_again_with_messages_and_nothing_is_stored(
    app: Flask, client: FlaskClient, staff: Staff, overrides: dict[str, object], message: str
) -> None:
    version_id = _version_id(app)
    login(client, "admin")
    data = _form(staff, version_id, csrf_token=csrf_token(client, "/admin/rounds/new"))
    data.update(overrides)
    answer = client.post("/admin/rounds/new", data=data)
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
    with app.app_context():
        assert _round_count() == 0
        assert _events("round.create") == []


def test_creating_without_csrf_token_is_refused(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    version_id = _version_id(app)
    login(client, "admin")
    assert client.post("/admin/rounds/new", data=_form(staff, version_id)).status_code == 400
    with app.app_context():
        assert _round_count() == 0


def test_edit_a_draft_keeps_its_values_and_audits_the_change(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        rid = round_over(
            [staff.unit_id, staff.sub_unit_id],
            now=utcnow(),
            state=RoundState.DRAFT,
            targets={staff.unit_id: 30, staff.sub_unit_id: 30},
        )
    login(client, "admin")
    form_page = text_of(client, f"/admin/rounds/{rid}/edit")
    assert 'value="Đợt thử"' in form_page
    data = _form(
        staff,
        _version_id(app),
        csrf_token=csrf_token(client, f"/admin/rounds/{rid}/edit"),
        name="Đợt thử (sửa)",
        unit_ids=[str(staff.unit_id)],
        overrides="",
        default_target="75",
    )
    answer = client.post(f"/admin/rounds/{rid}/edit", data=data)
    assert answer.status_code == 303
    with app.app_context():
        round_ = db.session.get(Round, rid)
        assert round_ is not None
        assert round_.name == "Đợt thử (sửa)"
        assert [(s.unit.code, s.target_responses) for s in round_.scope] == [("U01", 75)]
        event = _events("round.update")[0]
        assert event.before is not None and event.after is not None
        assert event.before["targets"] == {"U01": 30, "U01A": 30}
        assert event.after["targets"] == {"U01": 75}


def test_an_open_round_cannot_be_edited(app: Flask, client: FlaskClient, staff: Staff) -> None:
    with app.app_context():
        rid = round_over([staff.unit_id], now=utcnow())
    login(client, "admin")
    data = _form(staff, _version_id(app), csrf_token=csrf_token(client), name="Đổi tên sau khi mở")
    answer = client.post(f"/admin/rounds/{rid}/edit", data=data)
    assert answer.status_code == 409
    assert "Chỉ sửa được đợt khảo sát còn ở trạng thái nháp." in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Round, rid).name == "Đợt thử"  # type: ignore[union-attr]
        assert _events("round.update") == []


# --- the state machine through the browser -----------------------------------------------------


def _act(client: FlaskClient, rid: int, action: str, confirm: bool = True) -> int:
    data = {"csrf_token": csrf_token(client)}
    if confirm:
        data["confirm"] = "y"
    return client.post(f"/admin/rounds/{rid}/state/{action}", data=data).status_code


def test_a_round_goes_through_its_life_with_confirmations_and_audit(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        rid = round_over([staff.unit_id], now=utcnow(), state=RoundState.DRAFT)
    login(client, "admin")

    page = text_of(client, f"/admin/rounds/{rid}/state/open")
    assert "sẽ bị khoá" in page and "Tôi đã đọc và xác nhận thao tác này" in page
    # Without ticking the confirmation nothing happens.
    assert _act(client, rid, "open", confirm=False) == 422
    with app.app_context():
        assert state_of(rid) == "draft"
        assert _events("round.open") == []

    steps = [("open", "open"), ("close", "closed"), ("reopen", "open"), ("close", "closed")]
    steps.append(("publish", "published"))
    for action, state in steps:
        assert _act(client, rid, action) == 303
        with app.app_context():
            assert state_of(rid) == state
    with app.app_context():
        round_ = db.session.get(Round, rid)
        assert round_ is not None
        version = db.session.get(TemplateVersion, round_.template_version_id)
        assert version is not None and version.is_frozen
        opened = _events("round.open")
        assert [(e.before, e.after) for e in opened] == [
            ({"state": "draft"}, {"state": "open"}),
            ({"state": "closed"}, {"state": "open"}),
        ]
        assert all(e.actor_id is not None for e in opened)
        assert len(_events("round.closed")) == 2
        assert len(_events("round.published")) == 1


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (RoundState.DRAFT, "close"),
        (RoundState.DRAFT, "publish"),
        (RoundState.DRAFT, "reopen"),
        (RoundState.OPEN, "open"),
        (RoundState.OPEN, "publish"),
        (RoundState.OPEN, "reopen"),
        (RoundState.CLOSED, "open"),
        (RoundState.CLOSED, "close"),
        (RoundState.PUBLISHED, "reopen"),
        (RoundState.PUBLISHED, "close"),
        (RoundState.PUBLISHED, "publish"),
    ],
)
def test_illegal_transitions_from_crafted_posts_give_a_clear_409_and_change_nothing(
    app: Flask, client: FlaskClient, staff: Staff, state: RoundState, action: str
) -> None:
    with app.app_context():
        rid = round_over([staff.unit_id], now=utcnow(), state=state)
        events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    login(client, "admin")
    answer = client.post(
        f"/admin/rounds/{rid}/state/{action}",
        data={"csrf_token": csrf_token(client), "confirm": "y"},
    )
    assert answer.status_code == 409
    page = answer.get_data(as_text=True)
    assert "Thao tác này không thực hiện được ở trạng thái hiện tại" in page
    assert "Không có gì bị thay đổi." in page
    assert client.get(f"/admin/rounds/{rid}/state/{action}").status_code == 409
    with app.app_context():
        assert state_of(rid) == state.value
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_unknown_action_and_round_are_404(app: Flask, client: FlaskClient, staff: Staff) -> None:
    with app.app_context():
        rid = round_over([staff.unit_id], now=utcnow())
    login(client, "admin")
    token = csrf_token(client)
    data = {"csrf_token": token, "confirm": "y"}
    assert client.post(f"/admin/rounds/{rid}/state/delete", data=data).status_code == 404
    assert client.post("/admin/rounds/99999/state/close", data=data).status_code == 404
    assert client.get("/admin/rounds/99999").status_code == 404


def test_opening_warns_about_an_ended_period_and_units_without_desks(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    now = utcnow()
    with app.app_context():
        rid = round_over(
            [staff.unit_id, staff.sub_unit_id],
            now=now,
            state=RoundState.DRAFT,
            opens_at=now - timedelta(days=10),
            closes_at=now - timedelta(days=1),
        )
    login(client, "admin")
    page = text_of(client, f"/admin/rounds/{rid}/state/open")
    assert "người dân sẽ không trả lời được" in page
    assert "1 đơn vị chưa có quầy nào đang hoạt động: U01A" in page


# --- dossier counts ----------------------------------------------------------------------------


def _upload(
    client: FlaskClient, rid: int, content: bytes, *, replace: bool = False, confirm: bool = False
) -> tuple[int, str]:
    import io

    data: dict[str, object] = {
        "csrf_token": csrf_token(client, f"/admin/rounds/{rid}/dossiers"),
        "file": (io.BytesIO(content), "ho_so.csv"),
    }
    if replace:
        data["replace"] = "y"
    if confirm:
        data["confirm_replace"] = "y"
    answer = client.post(
        f"/admin/rounds/{rid}/dossiers", data=data, content_type="multipart/form-data"
    )
    if answer.status_code == 303:
        return 303, text_of(client, answer.headers["Location"])
    return answer.status_code, answer.get_data(as_text=True)


def _frame(app: Flask, rid: int) -> dict[tuple[str, str], int]:
    with app.app_context():
        return {
            (c.unit.code, c.service_area.code): c.dossiers
            for c in db.session.scalars(select(DossierCount).where(DossierCount.round_id == rid))
        }


@pytest.fixture
def frame_round(app: Flask, staff: Staff) -> int:
    with app.app_context():
        make_area("DD", "Đất đai", "Land")
        db.session.commit()
        return round_over([staff.unit_id, staff.sub_unit_id], now=utcnow())


def test_dossier_import_then_reimport_then_update(
    app: Flask, client: FlaskClient, staff: Staff, frame_round: int
) -> None:
    login(client, "admin")
    first = "\ufeffunit_code,service_area_code,dossiers\r\nU01,HT,1200\r\nU01A,HT,300\r\n"
    status, page = _upload(client, frame_round, first.encode("utf-8"))
    assert status == 303
    assert "thêm 2 ô" in page
    assert row_starting(page, "U01 – UBND")[2] == "1.200"
    assert _frame(app, frame_round) == {("U01", "HT"): 1200, ("U01A", "HT"): 300}
    with app.app_context():
        assert len(_events("round.dossiers_import")) == 1

    # The same file again: nothing changes, nothing to audit.
    status, page = _upload(client, frame_round, first.encode("utf-8"))
    assert status == 303 and "không có gì thay đổi" in page
    with app.app_context():
        assert len(_events("round.dossiers_import")) == 1

    # A new file (semicolons, Vietnamese headers, no BOM) updates and adds; U01A/HT stays.
    second = "ma_don_vi;ma_linh_vuc;so_ho_so;ghi_chu\nU01;HT;1250;sửa\nU01;DD;80;mới\n"
    status, page = _upload(client, frame_round, second.encode("utf-8"))
    assert status == 303 and "thêm 1 ô, cập nhật 1" in page
    assert _frame(app, frame_round) == {("U01", "HT"): 1250, ("U01", "DD"): 80, ("U01A", "HT"): 300}
    with app.app_context():
        event = _events("round.dossiers_import")[-1]
        assert event.before == {"U01/HT": 1200}
        assert event.after == {"U01/HT": 1250, "U01/DD": 80}

    # Replacing needs its own confirmation, then removes the cells the file does not list.
    status, page = _upload(client, frame_round, second.encode("utf-8"), replace=True)
    assert status == 422 and "hãy đánh dấu ô xác nhận xoá" in page
    assert len(_frame(app, frame_round)) == 3
    status, page = _upload(client, frame_round, second.encode("utf-8"), replace=True, confirm=True)
    assert status == 303 and "xoá 1" in page
    assert _frame(app, frame_round) == {("U01", "HT"): 1250, ("U01", "DD"): 80}


HEADER = "unit_code,service_area_code,dossiers\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            (HEADER + "U01,HT,12\nU01A,HT,Ông Bà\n").encode("cp1258"),
            ["3", "Tệp không phải UTF-8"],
        ),
        (
            b"unit_code,dossiers\nU01,12\n",
            ["1", "service_area_code", "Thiếu cột service_area_code"],
        ),
        ((HEADER + "U99,HT,12\n").encode(), ["2", "unit_code", "Không có đơn vị mã U99."]),
        ((HEADER + "U01,XX,12\n").encode(), ["2", "service_area_code", "Không có lĩnh vực mã XX."]),
        (
            (HEADER + "U02,HT,12\n").encode(),
            ["2", "unit_code", "Đơn vị U02 không thuộc phạm vi đợt khảo sát."],
        ),
        ((HEADER + "U01,HT,-4\n").encode(), ["2", "dossiers", "Số hồ sơ không được âm."]),
        ((HEADER + "U01,HT,12.5\n").encode(), ["2", "dossiers", "“12.5” không phải số nguyên."]),
        (
            (HEADER + "U01,HT,\n").encode(),
            ["2", "dossiers", "Thiếu số hồ sơ; nếu ô này không có số liệu, hãy xoá dòng."],
        ),
        (
            (HEADER + "U01,HT\n").encode(),
            ["2", "dossiers", "Thiếu số hồ sơ; nếu ô này không có số liệu, hãy xoá dòng."],
        ),
        (
            (HEADER + "U01,HT,99999999999\n").encode(),
            ["2", "dossiers", "Số hồ sơ quá lớn."],
        ),
        (
            (HEADER + "U01,HT,12\nU01A,HT,3\nU01,HT,14\n").encode(),
            ["4", "service_area_code", "Trùng ô U01 × HT đã có ở dòng 2."],
        ),
        # One reader for every upload (survey/services/csv_upload.py): its words.
        (b"", ["Tệp trống."]),
        (HEADER.encode(), ["Tệp không có dòng dữ liệu nào."]),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U0#\xf4",
            ["Tệp không phải tệp CSV dạng văn bản."],
        ),
        ((HEADER + 'U01,"HT,12\n').encode(), ["Dòng CSV hỏng"]),
    ],
)
def test_broken_dossier_files_are_reported_and_nothing_is_imported(
    app: Flask,
    client: FlaskClient,
    staff: Staff,
    frame_round: int,
    content: bytes,
    expected: list[str],
) -> None:
    login(client, "admin")
    status, page = _upload(client, frame_round, content)
    assert status == 422
    assert "chưa nhập dòng nào" in page
    report = [row for table in tables(page) for row in table]
    assert any(all(part in " ".join(row) for part in expected) for row in report), report
    assert _frame(app, frame_round) == {}
    with app.app_context():
        assert _events("round.dossiers_import") == []


def test_every_bad_row_is_named_and_good_rows_are_not_imported(
    app: Flask, client: FlaskClient, staff: Staff, frame_round: int
) -> None:
    login(client, "admin")
    content = HEADER + "U01,HT,10\nU99,HT,1\nU01A,HT,abc\nU01A,ZZ,-1\n"
    status, page = _upload(client, frame_round, content.encode())
    assert status == 422
    assert "Tệp có 4 lỗi" in page
    for line in ("3", "4", "5"):
        assert f'<td class="num">{line}</td>' in page
    assert _frame(app, frame_round) == {}


def test_no_file_is_a_form_error(client: FlaskClient, staff: Staff, frame_round: int) -> None:
    login(client, "admin")
    answer = client.post(
        f"/admin/rounds/{frame_round}/dossiers",
        data={"csrf_token": csrf_token(client, f"/admin/rounds/{frame_round}/dossiers")},
    )
    assert answer.status_code == 422
    assert "Chọn tệp CSV để tải lên." in answer.get_data(as_text=True)


def test_a_published_round_refuses_new_dossier_counts(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        rid = round_over([staff.unit_id], now=utcnow(), state=RoundState.PUBLISHED)
    login(client, "admin")
    assert client.get(f"/admin/rounds/{rid}/dossiers").status_code == 409
    status, _page = _upload_raw(client, rid)
    assert status == 409
    assert _frame(app, rid) == {}


def _upload_raw(client: FlaskClient, rid: int) -> tuple[int, str]:
    import io

    answer = client.post(
        f"/admin/rounds/{rid}/dossiers",
        data={
            "csrf_token": csrf_token(client),
            "file": (io.BytesIO((HEADER + "U01,HT,5\n").encode()), "a.csv"),
        },
        content_type="multipart/form-data",
    )
    return answer.status_code, answer.get_data(as_text=True)


def test_the_round_page_flags_cells_without_counts_or_without_responses(
    app: Flask, client: FlaskClient, staff: Staff, frame_round: int
) -> None:
    now = utcnow()
    with app.app_context():
        add_responses(frame_round, staff.desk_id, [now - timedelta(hours=1)] * 2)
    login(client, "admin")
    _upload(client, frame_round, (HEADER + "U01A,HT,40\n").encode())
    page = text_of(client, f"/admin/rounds/{frame_round}")
    assert row_starting(page, "U01 – UBND")[2:] == ["—", "2", "Có phiếu, chưa có số hồ sơ"]
    assert row_starting(page, "U01A – Trạm")[2:] == ["40", "0", "Có số hồ sơ, chưa có phiếu"]
    assert "Ô có phiếu nhưng chưa có số hồ sơ: <strong>1</strong>" in page
    assert "Ô có số hồ sơ nhưng chưa có phiếu: <strong>1</strong>" in page


def test_the_frame_template_downloads_and_imports_back_unchanged(
    app: Flask, client: FlaskClient, staff: Staff, frame_round: int
) -> None:
    login(client, "admin")
    _upload(client, frame_round, (HEADER + "U01,HT,1200\nU01A,HT,300\n").encode())
    answer = client.get(f"/admin/rounds/{frame_round}/dossiers.csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    body = answer.get_data()
    assert body.startswith("\ufeff".encode())
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0] == "unit_code,service_area_code,dossiers,unit_name,service_area_name"
    assert "U01,HT,1200,UBND phường Bình Minh,Hộ tịch" in lines
    status, page = _upload(client, frame_round, body)
    assert status == 303 and "không có gì thay đổi" in page
    login_as_officer = client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
    assert login_as_officer.status_code == 302
    login(client, "officer")
    assert client.get(f"/admin/rounds/{frame_round}/dossiers.csv").status_code == 403


# --- the list of dossier codes ----------------------------------------------------------------


def _upload_codes(client: FlaskClient, rid: int, content: bytes) -> tuple[int, str]:
    import io

    answer = client.post(
        f"/admin/rounds/{rid}/dossier-codes",
        data={
            "csrf_token": csrf_token(client, f"/admin/rounds/{rid}/dossier-codes"),
            "file": (io.BytesIO(content), "ma_ho_so.csv"),
        },
        content_type="multipart/form-data",
    )
    if answer.status_code == 303:
        return 303, text_of(client, answer.headers["Location"])
    return answer.status_code, answer.get_data(as_text=True)


def _listed(app: Flask, rid: int) -> int:
    from survey.models import ListedDossierCode

    with app.app_context():
        return db.session.scalar(select(func.count()).where(ListedDossierCode.round_id == rid)) or 0


def test_a_list_of_dossier_codes_is_imported_from_the_round_page_as_hashes_only(
    app: Flask, client: FlaskClient, staff: Staff, frame_round: int
) -> None:
    login(client, "admin")
    assert "Nhập danh sách mã hồ sơ (CSV)" in text_of(client, f"/admin/rounds/{frame_round}")
    content = "\ufeffma_don_vi;ma_quay;ma_ho_so\r\nU01;U01-Q1;H13-0001\r\nU01A;;h13-0002\r\n"
    status, page = _upload_codes(client, frame_round, content.encode())
    assert status == 303
    assert "Đã nhập danh sách 2 mã hồ sơ (thay cho danh sách 0 mã)." in page
    assert _listed(app, frame_round) == 2
    with app.app_context():
        from sqlalchemy import text

        dump = " ".join(
            str(row)
            for table in ("listed_dossier_codes", "audit_events")
            for row in db.session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
        )
        assert "H13-0001" not in dump.upper() and "H13-0002" not in dump.upper()
        assert len(_events("round.dossier_codes_import")) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfeU01", ["UTF-8"]),
        (b"unit_code,desk_code\nU01,U01-Q1\n", ["dossier_code", "Thiếu cột"]),
        (b"unit_code,dossier_code\nU99,H13-0001\n", ["U99"]),
        (b"unit_code,dossier_code\nU01,H13-0001\nU01,h13-0001\n", ["Trùng mã hồ sơ", "2"]),
        (b"unit_code,dossier_code\nU01,12\n", ["Mã hồ sơ không hợp lệ"]),
        (b"unit_code,desk_code,dossier_code\nU01,NO-SUCH,H13-0001\n", ["NO-SUCH"]),
        (b"unit_code,dossier_code\n", ["không có dòng dữ liệu"]),
        (b'unit_code,dossier_code\nU01,"H13\n', ["ngoặc kép"]),
    ],
)
def test_a_bad_list_of_dossier_codes_is_reported_and_the_old_list_kept(
    app: Flask,
    client: FlaskClient,
    staff: Staff,
    frame_round: int,
    content: bytes,
    expected: list[str],
) -> None:
    login(client, "admin")
    assert _upload_codes(client, frame_round, b"unit_code,dossier_code\nU01,H13-0009\n")[0] == 303
    status, page = _upload_codes(client, frame_round, content)
    assert status == 422
    assert "chưa nhập dòng nào" in page
    assert "Traceback" not in page
    report = [row for table in tables(page) for row in table]
    assert any(all(part in " ".join(row) for part in expected) for row in report), report
    assert _listed(app, frame_round) == 1  # nothing half-way: the earlier list stands
