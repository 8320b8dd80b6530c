"""Staff accounts in the console: the list, creating accounts, deactivating and reactivating
them, password resets and changes, and sessions that end."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditEvent, Role, Unit, User, utcnow
from survey.services.accounts.users import create_user
from tests.admin.conftest import PASSWORD, Staff, csrf_token, login

NEW_PASSWORD = "nang-thu-vang-77"


def _user(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def _user_count() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def _errors(html: str, field: str) -> list[str]:
    """The messages shown beside one field."""
    found = re.search(rf'<ul class="field-errors" id="{field}-error">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1), re.S) if found else []


def _can_login(app: Flask, username: str, password: str) -> bool:
    client = app.test_client()
    token = csrf_token(client, "/admin/login")
    answer = client.post(
        "/admin/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return answer.status_code == 302


def _signed_in(client: FlaskClient) -> bool:
    answer = client.get("/admin/")
    if answer.status_code == 302:
        assert "/admin/login" in answer.headers["Location"]
        return False
    assert answer.status_code == 200
    return True


def _new_user_form(client: FlaskClient, **fields: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf_token(client, "/admin/users/new"),
        "username": "nguyen.van.a",
        "display_name": "Nguyễn Văn A",
        "role": "analyst",
        "unit_id": "0",
        "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD,
    }
    return data | fields


def _officer_id(app: Flask) -> int:
    with app.app_context():
        officer = _user("officer")
        assert officer is not None
        return officer.id


# --- the list ---------------------------------------------------------------------------------


def test_admin_sees_every_account_with_role_unit_and_status(
    client: FlaskClient, staff: Staff
) -> None:
    login(client, "admin")
    page = client.get("/admin/users").get_data(as_text=True)
    for username in ("admin", "analyst", "officer"):
        assert f">{username}</a>" in page
    assert "Cán bộ đơn vị" in page and "Chuyên viên phân tích" in page
    assert "U01 – UBND phường Bình Minh" in page
    assert '<th scope="col">' in page and "<caption>" in page


def test_long_list_is_paginated_and_odd_page_numbers_do_not_fail(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        now = utcnow()
        for n in range(40):
            # A hash per account is slow; the list does not care about the password.
            db.session.add(
                User(username=f"user{n:02d}", password_hash="x", role="analyst", created_at=now)
            )
        db.session.commit()
    login(client, "admin")
    first = client.get("/admin/users").get_data(as_text=True)
    assert "Trang 1 / 2" in first and "43 dòng" in first
    assert ">user00</a>" in first and ">user39</a>" not in first
    second = client.get("/admin/users?page=2").get_data(as_text=True)
    assert ">user39</a>" in second and ">user00</a>" not in second
    for odd in ("abc", "-3", "0", "99999", "1e9", "%27%20OR%201=1"):
        answer = client.get(f"/admin/users?page={odd}")
        assert answer.status_code == 200, odd
        assert "user" in answer.get_data(as_text=True)
    # Past the end: the last page rather than an empty one.
    assert ">user39</a>" in client.get("/admin/users?page=99999").get_data(as_text=True)


def test_search_finds_part_of_a_name_and_wildcards_are_literal(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        create_user(
            username="tran.thi.b",
            password=PASSWORD,
            role=Role.ANALYST,
            display_name="Trần Thị B",
            now=utcnow(),
        )
        db.session.commit()
    login(client, "admin")
    found = client.get("/admin/users?q=TRAN").get_data(as_text=True)
    assert ">tran.thi.b</a>" in found and ">admin</a>" not in found
    assert ">tran.thi.b</a>" in client.get("/admin/users?q=Thị").get_data(as_text=True)
    for hostile in ("%", "_", "' OR '1'='1", "<script>alert(1)</script>", "x" * 5000):
        answer = client.get("/admin/users", query_string={"q": hostile})
        assert answer.status_code == 200
        html = answer.get_data(as_text=True)
        assert ">admin</a>" not in html, hostile  # nothing matches: no wildcard, no injection
        assert "<script>alert(1)</script>" not in html
    assert "Không có tài khoản nào khớp" in client.get("/admin/users?q=%25").get_data(as_text=True)


# --- creating ---------------------------------------------------------------------------------


def test_admin_creates_a_unit_officer_who_can_then_sign_in(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    login(client, "admin")
    data = _new_user_form(
        client, username=" Le.Van.C ", role="unit_officer", unit_id=str(staff.sub_unit_id)
    )
    answer = client.post("/admin/users/new", data=data)
    assert answer.status_code == 303
    detail = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Đã tạo tài khoản le.van.c." in detail
    assert "U01A – Trạm y tế phường Bình Minh" in detail
    with app.app_context():
        user = _user("le.van.c")
        assert user is not None
        assert (user.role, user.unit_id, user.display_name) == (
            "unit_officer",
            staff.sub_unit_id,
            "Nguyễn Văn A",
        )
        assert NEW_PASSWORD not in user.password_hash
        (event,) = _events("user.create")[-1:]
        admin = _user("admin")
        assert admin is not None and event.actor_id == admin.id
        assert event.entity_id == str(user.id)
        assert event.after == {
            "username": "le.van.c",
            "display_name": "Nguyễn Văn A",
            "role": "unit_officer",
            "unit": "U01A",
            "is_active": True,
        }
    assert _can_login(app, "le.van.c", NEW_PASSWORD)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": ""}, "username", "Nhập tên đăng nhập."),
        ({"username": "Cán bộ"}, "username", "Tên đăng nhập gồm 3 đến 64 ký tự"),
        ({"username": "ab"}, "username", "Tên đăng nhập gồm 3 đến 64 ký tự"),
        ({"username": "<script>x</script>"}, "username", "Tên đăng nhập gồm 3 đến 64 ký tự"),
        ({"username": "a" * 65}, "username", "Tên đăng nhập dài tối đa 64 ký tự."),
        ({"username": "ADMIN"}, "username", "Tên đăng nhập admin đã có người dùng."),
        ({"display_name": "x" * 201}, "display_name", "Họ và tên dài tối đa 200 ký tự."),
        ({"role": "superuser"}, "role", "Chọn một vai trò trong danh sách."),
        ({"role": "unit_officer"}, "unit_id", "Cán bộ đơn vị phải thuộc một đơn vị."),
        (
            {"role": "unit_officer", "unit_id": "999999"},
            "unit_id",
            "Chọn một đơn vị đang hoạt động trong danh sách.",
        ),
        (
            {"role": "unit_officer", "unit_id": "1 OR 1=1"},
            "unit_id",
            "Cán bộ đơn vị phải thuộc một đơn vị.",
        ),
        ({"password": "", "password_repeat": ""}, "password", "Nhập mật khẩu mới."),
        ({"password": "ngan-1", "password_repeat": "ngan-1"}, "password", "ít nhất 10 ký tự"),
        # Issue 19, finding 5: each of these was accepted.
        (
            {"password": " " * 10, "password_repeat": " " * 10},
            "password",
            "ít nhất 10 ký tự, không kể khoảng trắng ở đầu và cuối",
        ),
        (
            {"password": "   ab12   ", "password_repeat": "   ab12   "},
            "password",
            "không kể khoảng trắng",
        ),
        (
            {"password": "password12", "password_repeat": "password12"},
            "password",
            "danh sách mật khẩu phổ biến",
        ),
        (
            {"password": "Iloveyou2026!", "password_repeat": "Iloveyou2026!"},
            "password",
            "danh sách mật khẩu phổ biến",
        ),
        (
            {"password": "aaaaaaaaa1", "password_repeat": "aaaaaaaaa1"},
            "password",
            "lặp lại hoặc theo thứ tự",
        ),
        (
            {"password": "12345678901", "password_repeat": "12345678901"},
            "password",
            "lặp lại hoặc theo thứ tự",
        ),
        (
            {"password": "abcdefghijkl", "password_repeat": "abcdefghijkl"},
            "password",
            "lặp lại hoặc theo thứ tự",
        ),
        (
            {"password": "2026-2026-2026", "password_repeat": "2026-2026-2026"},
            "password",
            "lặp lại hoặc theo thứ tự",
        ),
        (
            {"password": "NguyenVanA-2026", "password_repeat": "NguyenVanA-2026"},
            "password",
            "không được chứa tên đăng nhập",
        ),
        (
            {"password": "Hài-Lòng-quá-2026", "password_repeat": "Hài-Lòng-quá-2026"},
            "password",
            "không được chứa “hài lòng”",
        ),
        (
            {"password": "hailong.tinh.2026", "password_repeat": "hailong.tinh.2026"},
            "password",
            "không được chứa “hài lòng”",
        ),
        (
            {"password": "SoNoiVu@quangtri", "password_repeat": "SoNoiVu@quangtri"},
            "password",
            "không được chứa “sở nội vụ”",
        ),
        (
            {"password": "mat-khau-2026", "password_repeat": "mat-khau-2026"},
            "password",
            "không được chứa “mật khẩu”",
        ),
        (
            {"password": "nguyen.van.a-2026", "password_repeat": "nguyen.van.a-2026"},
            "password",
            "không được chứa tên đăng nhập",
        ),
        ({"password": "x1" * 101, "password_repeat": "x1" * 101}, "password", "tối đa 200"),
        ({"password_repeat": "khac-mat-khau-1"}, "password_repeat", "không khớp"),
    ],
)
def test_bad_account_input_is_reported_beside_the_field_and_nothing_is_stored(
    app: Flask,
    client: FlaskClient,
    staff: Staff,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    login(client, "admin")
    with app.app_context():
        before = _user_count()
    answer = client.post("/admin/users/new", data=_new_user_form(client, **fields))
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert any(message in shown for shown in _errors(html, field)), _errors(html, field)
    assert "<script>x</script>" not in html
    with app.app_context():
        assert _user_count() == before


def test_an_officer_cannot_be_put_in_a_unit_that_has_closed(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        unit = db.session.get(Unit, staff.other_unit_id)
        assert unit is not None
        unit.is_active = False
        db.session.commit()
    login(client, "admin")
    page = client.get("/admin/users/new").get_data(as_text=True)
    assert "U02 – UBND xã Phú Lộc" not in page
    data = _new_user_form(client, role="unit_officer", unit_id=str(staff.other_unit_id))
    answer = client.post("/admin/users/new", data=data)
    assert answer.status_code == 422
    assert _errors(answer.get_data(as_text=True), "unit_id") == [
        "Chọn một đơn vị đang hoạt động trong danh sách."
    ]


def test_a_unit_chosen_for_an_analyst_is_not_kept(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    """Only unit officers are scoped to a unit; a leftover choice must not scope an analyst."""
    login(client, "admin")
    data = _new_user_form(client, role="analyst", unit_id=str(staff.unit_id))
    assert client.post("/admin/users/new", data=data).status_code == 303
    with app.app_context():
        user = _user("nguyen.van.a")
        assert user is not None and user.unit_id is None


def test_creating_without_a_csrf_token_is_refused(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    login(client, "admin")
    data = _new_user_form(client)
    del data["csrf_token"]
    assert client.post("/admin/users/new", data=data).status_code == 400
    with app.app_context():
        assert _user("nguyen.van.a") is None


# --- deactivating and reactivating -------------------------------------------------------------


def test_deactivation_asks_for_confirmation_first(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    officer_id = _officer_id(app)
    login(client, "admin")
    page = client.get(f"/admin/users/{officer_id}/deactivate").get_data(as_text=True)
    assert "Khoá tài khoản officer" in page and 'name="confirm"' in page
    answer = client.post(
        f"/admin/users/{officer_id}/deactivate",
        data={"csrf_token": csrf_token(client, f"/admin/users/{officer_id}/deactivate")},
    )
    assert answer.status_code == 422
    assert "Đánh dấu ô xác nhận để tiếp tục." in answer.get_data(as_text=True)
    with app.app_context():
        officer = _user("officer")
        assert officer is not None and officer.is_active


def test_a_deactivated_user_is_signed_out_at_once_and_cannot_sign_in(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    officer_id = _officer_id(app)
    officer_browser = app.test_client()
    login(officer_browser, "officer")
    assert _signed_in(officer_browser)

    login(client, "admin")
    url = f"/admin/users/{officer_id}/deactivate"
    answer = client.post(url, data={"csrf_token": csrf_token(client, url), "confirm": "y"})
    assert answer.status_code == 303
    detail = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Đã khoá tài khoản officer." in detail and "Đã khoá" in detail

    # The officer's open session stops working on its very next request.
    assert not _signed_in(officer_browser)
    assert not _can_login(app, "officer", PASSWORD)
    with app.app_context():
        (event,) = _events("user.deactivate")
        assert event.before is not None and event.before["is_active"] is True
        assert event.after is not None and event.after["is_active"] is False

    url = f"/admin/users/{officer_id}/reactivate"
    answer = client.post(url, data={"csrf_token": csrf_token(client, url), "confirm": "y"})
    assert answer.status_code == 303
    assert _can_login(app, "officer", PASSWORD)
    with app.app_context():
        assert len(_events("user.reactivate")) == 1


def test_an_administrator_cannot_deactivate_themself(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        admin = _user("admin")
        assert admin is not None
        admin_id = admin.id
    login(client, "admin")
    url = f"/admin/users/{admin_id}/deactivate"
    answer = client.post(url, data={"csrf_token": csrf_token(client, url), "confirm": "y"})
    assert answer.status_code == 422
    assert "Bạn không thể tự khoá tài khoản của mình." in answer.get_data(as_text=True)
    assert _signed_in(client)
    with app.app_context():
        assert _events("user.deactivate") == []
    detail = client.get(f"/admin/users/{admin_id}").get_data(as_text=True)
    assert f"/admin/users/{admin_id}/deactivate" not in detail  # not even offered


def test_reactivating_an_active_account_changes_nothing(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    officer_id = _officer_id(app)
    login(client, "admin")
    url = f"/admin/users/{officer_id}/reactivate"
    assert "Tài khoản này đang hoạt động." in client.get(url).get_data(as_text=True)
    answer = client.post(url, data={"csrf_token": csrf_token(client, url), "confirm": "y"})
    assert answer.status_code == 303
    with app.app_context():
        assert _events("user.reactivate") == []


def test_unknown_account_ids_give_not_found(client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    for url in ("/admin/users/999999", "/admin/users/999999/deactivate"):
        assert client.get(url).status_code == 404
    assert client.get("/admin/users/abc").status_code == 404
    assert client.get("/admin/users/-1").status_code == 404


# --- passwords --------------------------------------------------------------------------------


def test_reset_password_ends_the_users_sessions_and_is_audited_without_the_hash(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    officer_id = _officer_id(app)
    officer_browser = app.test_client()
    login(officer_browser, "officer")
    login(client, "admin")
    url = f"/admin/users/{officer_id}/password"
    weak = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "password": "officer-2026-x",
            "password_repeat": "officer-2026-x",
        },
    )
    assert weak.status_code == 422
    assert _errors(weak.get_data(as_text=True), "password") == [
        "Mật khẩu không được chứa tên đăng nhập."
    ]
    answer = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "password": NEW_PASSWORD,
            "password_repeat": NEW_PASSWORD,
        },
    )
    assert answer.status_code == 303
    assert not _signed_in(officer_browser)
    assert not _can_login(app, "officer", PASSWORD)
    assert _can_login(app, "officer", NEW_PASSWORD)
    assert _signed_in(client)  # the administrator's own session is untouched
    with app.app_context():
        (event,) = _events("user.password_reset")
        officer = _user("officer")
        assert officer is not None
        assert officer.password_hash not in str(event.before) + str(event.after) + str(event.note)
        assert NEW_PASSWORD not in str(event.note)


def test_an_administrator_resets_their_own_password_only_with_the_current_one(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        admin = _user("admin")
        assert admin is not None
        admin_id = admin.id
    login(client, "admin")
    answer = client.get(f"/admin/users/{admin_id}/password")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/admin/account/password")


@pytest.mark.parametrize("role", ["admin", "analyst", "officer"])
def test_everyone_changes_their_own_password_and_stays_signed_in_here_only(
    app: Flask, client: FlaskClient, staff: Staff, role: str
) -> None:
    elsewhere = app.test_client()
    login(elsewhere, role)
    login(client, role)
    url = "/admin/account/password"
    answer = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_repeat": NEW_PASSWORD,
        },
    )
    assert answer.status_code == 303
    assert "Đã đổi mật khẩu." in client.get(answer.headers["Location"]).get_data(as_text=True)
    assert _signed_in(client)
    assert not _signed_in(elsewhere)
    assert _can_login(app, role, NEW_PASSWORD)
    assert not _can_login(app, role, PASSWORD)
    with app.app_context():
        (event,) = _events("user.password_change")
        user = _user(role)
        assert user is not None and event.actor_id == user.id


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"current_password": "sai-mat-khau-1"}, "current_password", "không đúng"),
        ({"current_password": ""}, "current_password", "Nhập mật khẩu hiện tại."),
        ({"current_password": "x" * 5000}, "current_password", "không đúng"),
        ({"password": PASSWORD, "password_repeat": PASSWORD}, "password", "phải khác"),
        ({"password": "ngan-1", "password_repeat": "ngan-1"}, "password", "ít nhất 10 ký tự"),
        ({"password_repeat": "khac-mat-khau-1"}, "password_repeat", "không khớp"),
    ],
)
def test_wrong_current_password_or_weak_new_one_changes_nothing(
    app: Flask,
    client: FlaskClient,
    staff: Staff,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    login(client, "analyst")
    url = "/admin/account/password"
    data = {
        "csrf_token": csrf_token(client, url),
        "current_password": PASSWORD,
        "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD,
    } | fields
    answer = client.post(url, data=data)
    assert answer.status_code == 422
    assert any(message in shown for shown in _errors(answer.get_data(as_text=True), field))
    assert _signed_in(client)
    assert _can_login(app, "analyst", PASSWORD)
    with app.app_context():
        assert _events("user.password_change") == []


def test_every_console_page_links_to_changing_ones_password(
    client: FlaskClient, staff: Staff
) -> None:
    login(client, "officer")
    assert 'href="/admin/account/password"' in client.get("/admin/").get_data(as_text=True)


# --- sessions ---------------------------------------------------------------------------------


def test_a_session_expires_after_the_configured_lifetime(
    app: Flask, client: FlaskClient, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client, "analyst")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None  # a permanent, dated session
    assert _signed_in(client)
    lifetime = app.permanent_session_lifetime
    assert lifetime == timedelta(hours=8)
    started = int(time.time())
    # The signed cookie carries its time; read it as if a working day had passed.
    monkeypatch.setattr(
        TimestampSigner, "get_timestamp", lambda self: started + 60 + int(lifetime.total_seconds())
    )
    assert not _signed_in(client)


def test_a_session_from_before_this_release_is_not_accepted(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    """Sessions that remember only the account number (no password fingerprint) sign out."""
    login(client, "admin")
    with client.session_transaction() as session:
        session["_user_id"] = session["_user_id"].split(".")[0]
    assert not _signed_in(client)


def test_signing_out_ends_a_copied_session_cookie_too(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    """Issue 19, finding 8: a session cookie copied from the browser (a shared computer, a
    stolen cookie) kept working after its owner signed out."""
    login(client, "analyst")
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert _signed_in(thief)

    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert not _signed_in(client)
    assert not _signed_in(thief)
    # Signing in again opens a new session that works, while the copy stays dead.
    login(client, "analyst")
    assert _signed_in(client)
    assert not _signed_in(thief)


def test_signing_out_on_one_device_ends_the_others(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    phone = app.test_client()
    login(phone, "officer")
    login(client, "officer")
    assert _signed_in(phone) and _signed_in(client)
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert not _signed_in(phone)
    # Another account's sessions are untouched.
    other = app.test_client()
    login(other, "admin")
    login(client, "officer")
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert _signed_in(other)


def test_a_deactivated_and_reactivated_account_has_no_old_session(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    officer_id = _officer_id(app)
    officer_browser = app.test_client()
    login(officer_browser, "officer")
    login(client, "admin")
    for action in ("deactivate", "reactivate"):
        url = f"/admin/users/{officer_id}/{action}"
        answer = client.post(url, data={"csrf_token": csrf_token(client, url), "confirm": "y"})
        assert answer.status_code == 303
    assert not _signed_in(officer_browser)
