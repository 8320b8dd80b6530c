"""Secure by default: hostile names and comments are escaped on every console page, no SQL is
built by string formatting, staff uploads are limited in size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from survey import ROOT
from survey.extensions import db
from survey.models import Role, utcnow
from survey.services.accounts.users import UserInputError, check_password_policy, create_user
from tests.admin.conftest import PASSWORD, csrf_token, login
from tests.factories import make_area, make_desk, make_round, make_unit
from tests.public.test_answer import form_page, valid_answers

PAYLOAD = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SKIPPED = re.compile(r"\.(pdf|png|svg|csv|json)$|/chart$|/state/|/token$|/revoke$")


def test_hostile_unit_name_and_comment_are_escaped_on_every_console_page(app: Flask) -> None:
    with app.app_context():
        area = make_area("HT", f"Hộ tịch {PAYLOAD}", PAYLOAD)
        unit = make_unit("EVIL", f"UBND xã {PAYLOAD}", [area])
        desk = make_desk(unit)
        round_ = make_round([unit])
        create_user(username="admin", password=PASSWORD, role=Role.ADMIN, now=utcnow())
        db.session.commit()
        ids = {"round_id": round_.id, "unit_id": unit.id, "desk_id": desk.id, "area_id": area.id}
        token = desk.token
    citizen = app.test_client()
    page = form_page(citizen, token, area=None)
    assert PAYLOAD not in page and ESCAPED in page
    sent = citizen.post(f"/r/{token}", data=valid_answers(page) | {"q_Q_COMMENT": PAYLOAD})
    assert sent.status_code == 303

    staff = app.test_client()
    login(staff, "admin")
    checked: list[str] = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or "GET" not in (rule.methods or ()):
            continue
        if set(rule.arguments) - set(ids) or SKIPPED.search(rule.rule):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:\w+(?:\([^)]*\))?:)?{name}>", str(ids[name]), url)
        answer = staff.get(url)
        if answer.mimetype != "text/html":
            continue
        html = answer.get_data(as_text=True)
        assert PAYLOAD not in html, f"unescaped on {url}"
        if ESCAPED in html:
            checked.append(url)
    # The name is shown (escaped) on the pages that are about the unit, not only absent.
    assert f"/admin/units/{ids['unit_id']}" in checked
    assert f"/admin/rounds/{ids['round_id']}/monitoring" in checked
    assert len(checked) >= 8, checked


SQL_FORMATTING = [
    re.compile(r"""\b(text|execute|exec_driver_sql)\(\s*f["']"""),
    re.compile(r"""["'][^"']*\b(SELECT|INSERT|UPDATE|DELETE)\b[^"']*["']\s*(%|\.format\()"""),
]


def test_no_sql_is_built_by_string_formatting() -> None:
    found = []
    for folder in ("survey", "forms", "analysis"):
        for path in sorted(Path(ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if any(p.search(line) for p in SQL_FORMATTING):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_staff_uploads_over_the_size_limit_are_refused(app: Flask) -> None:
    with app.app_context():
        create_user(username="admin", password=PASSWORD, role=Role.ADMIN, now=utcnow())
        db.session.commit()
    staff = app.test_client()
    login(staff, "admin")
    token = csrf_token(staff, "/admin/units/import")
    # Built by hand: the test client would spool a multipart body this big to a file.
    boundary = "hailong-upload"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="units"; filename="u.csv"\r\n'
            "Content-Type: text/csv\r\n\r\ncode,name\n"
        ).encode()
        + b"X" * app.config["MAX_CONTENT_LENGTH"]
        + f"\r\n--{boundary}--\r\n".encode()
    )
    answer = staff.post(
        "/admin/units/import",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        ("short1", "ít nhất 10"),
        ("a1" * 101, "tối đa 200"),
        ("1234567890123", "theo thứ tự"),
        ("matkhaudaithat", "“mật khẩu”"),
        ("xx-sonoivu-2026", "tên đăng nhập"),
        ("chicochucai", None),  # no composition rules (NIST SP 800-63B)
        ("ao-dai-xanh-2026", None),
    ],
)
def test_password_policy(app: Flask, password: str, refused: str | None) -> None:
    with app.test_request_context():
        if refused is None:
            check_password_policy(password, username="sonoivu")
            return
        with pytest.raises(UserInputError) as error:
            check_password_policy(password, username="sonoivu")
        assert refused in str(error.value.message)
