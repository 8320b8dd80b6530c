"""Questionnaires in the console: the list, the citizen's preview, cloning, editing drafts with
every rule checked beside its field, frozen versions, JSON import and export, and who may do it."""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import (
    AuditEvent,
    Element,
    Item,
    Round,
    RoundState,
    Template,
    TemplateVersion,
    utcnow,
)
from survey.services.questionnaires import editor
from survey.services.questionnaires.templates import clone_version, export_version
from tests.admin.conftest import Staff, csrf_token, login
from tests.factories import sipas_version
from tests.helpers.rounds import round_over, row_starting, tables, text_of

BASE = "/admin/templates"


@dataclass(frozen=True)
class Sipas:
    """Ids in the SIPAS starter version (a draft unless a test opens a round on it)."""

    version_id: int
    aspect_id: int
    elements: dict[str, int]
    items: dict[str, int]

    @property
    def url(self) -> str:
        return f"{BASE}/versions/{self.version_id}"


def _sipas(app: Flask) -> Sipas:
    with app.app_context():
        version = sipas_version()
        db.session.commit()
        return Sipas(
            version.id,
            version.aspects[0].id,
            {e.code: e.id for e in version.aspects[0].elements},
            {i.code: i.id for i in version.items},
        )


def _version(version_id: int) -> TemplateVersion:
    db.session.expire_all()
    version = db.session.get(TemplateVersion, version_id)
    assert version is not None
    return version


def _order(version_id: int) -> list[str]:
    """Item codes in the order citizens see them."""
    return [i.code for i in editor.ordered_items(_version(version_id))]


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _field_errors(page: str, field: str) -> str:
    found = re.search(rf'<ul class="field-errors" id="{field}-error"[^>]*>(.*?)</ul>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


def _item_form(token: str, element_id: int | str = 0, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "csrf_token": token,
        "code": "A5",
        "text": "Nhà vệ sinh sạch sẽ",
        "text_en": "Clean toilets",
        "scale": "sat5",
        "role": "criterion",
        "element_id": str(element_id),
        "allow_na": "y",
        "satisfied_values": "4, 5",
        "options": "",
        "max_choices": "",
        "condition_item_id": "0",
        "condition_values": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _edit_data(app: Flask, item_id: int, token: str, **overrides: Any) -> dict[str, Any]:
    """The item's current form values, changed by ``overrides``."""
    from forms.templates import ItemForm

    with app.app_context():
        item = db.session.get(Item, item_id)
        current = ItemForm.data_of(item)
    data: dict[str, Any] = {
        k: str(v) if not isinstance(v, bool) else ("y" if v else None)
        for k, v in current.items()
        if v is not None
    }
    data["csrf_token"] = token
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _open_round_on(app: Flask, staff: Staff, state: RoundState = RoundState.OPEN) -> int:
    """A round over the officer's unit on the SIPAS version, moved to ``state``."""
    with app.app_context():
        return round_over([staff.unit_id], now=utcnow(), state=state)


# --- who may do what ---------------------------------------------------------------------------

ROUTES = [
    ("GET", "", 200),
    ("GET", "/new", 200),
    ("POST", "/new", 422),
    ("GET", "/import", 200),
    ("POST", "/import", 422),
    ("GET", "/versions/{v}", 200),
    ("GET", "/versions/{v}/preview", 200),
    ("GET", "/versions/{v}/export.json", 200),
    ("POST", "/versions/{v}/clone", 303),
    ("GET", "/versions/{v}/edit", 200),
    ("POST", "/versions/{v}/edit", 422),
    ("GET", "/versions/{v}/aspects/new", 200),
    ("POST", "/versions/{v}/aspects/new", 422),
    ("GET", "/versions/{v}/aspects/{a}/edit", 200),
    ("POST", "/versions/{v}/aspects/{a}/edit", 422),
    ("GET", "/versions/{v}/elements/new", 200),
    ("POST", "/versions/{v}/elements/new", 422),
    ("GET", "/versions/{v}/elements/{e}/edit", 200),
    ("POST", "/versions/{v}/elements/{e}/edit", 422),
    ("GET", "/versions/{v}/items/new", 200),
    ("POST", "/versions/{v}/items/new", 422),
    ("GET", "/versions/{v}/items/{i}/edit", 200),
    ("POST", "/versions/{v}/items/{i}/edit", 422),
    ("POST", "/versions/{v}/items/{i}/move", 303),
    ("GET", "/versions/{v}/items/{i}/delete", 200),
    ("POST", "/versions/{v}/items/{i}/delete", 422),
    ("POST", "/versions/{v}/aspects/{a}/move", 303),
    ("GET", "/versions/{v}/elements/{e}/delete", 200),
]


@pytest.mark.parametrize(("method", "path", "admin_status"), ROUTES)
@pytest.mark.parametrize("role", ["anonymous", "analyst", "officer", "admin"])
def test_only_administrators_reach_questionnaires(
    app: Flask,
    client: FlaskClient,
    staff: Staff,
    role: str,
    method: str,
    path: str,
    admin_status: int,
) -> None:
    ids = _sipas(app)
    url = BASE + path.format(
        v=ids.version_id, a=ids.aspect_id, e=ids.elements["A"], i=ids.items["A1"]
    )
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
    expected = admin_status if role == "admin" else 403
    assert answer.status_code == expected, answer.get_data(as_text=True)[:400]
    with app.app_context():
        versions = db.session.scalar(select(func.count()).select_from(TemplateVersion))
        # only the administrator's clone adds a version
        assert versions == (3 if role == "admin" and path.endswith("clone") else 2)


def test_menu_shows_questionnaires_to_administrators_only(
    client: FlaskClient, staff: Staff
) -> None:
    login(client, "admin")
    assert f'href="{BASE}"' in text_of(client, "/admin/")
    client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
    login(client, "analyst")
    assert f'href="{BASE}"' not in text_of(client, "/admin/")


def test_posts_without_csrf_change_nothing(app: Flask, client: FlaskClient, staff: Staff) -> None:
    ids = _sipas(app)
    login(client, "admin")
    answer = client.post(f"{ids.url}/items/{ids.items['A1']}/delete", data={"confirm": "y"})
    assert answer.status_code == 400
    answer = client.post(f"{ids.url}/clone")
    assert answer.status_code == 400
    with app.app_context():
        assert db.session.get(Item, ids.items["A1"]) is not None
        assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 2


# --- the list ----------------------------------------------------------------------------------


def test_list_shows_versions_with_state_rounds_and_item_count(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    _open_round_on(app, staff)
    with app.app_context():
        clone_version(_version(ids.version_id), now=utcnow())
        db.session.commit()
    login(client, "admin")
    page = text_of(client, BASE)
    rows = [
        r for t in tables(page) for r in t if r and r[0].startswith("Phiếu khảo sát sự hài lòng")
    ]
    # newest version first: v2 is the clone, a draft no round uses; v1 is frozen by the round
    assert [r[1] for r in rows] == ["v2", "v1"]
    assert rows[0][3] == "Nháp" and rows[0][4] == "0" and rows[0][5] == "26"
    assert rows[1][3].startswith("Đã khoá")
    assert rows[1][4].startswith("1") and "đang mở hoặc đã đóng" in rows[1][4]
    one_stop = row_starting(page, "Đánh giá giải quyết hồ sơ")
    assert one_stop[1:] == ["v1", "Đánh giá việc giải quyết hồ sơ của Ông/Bà", "Nháp", "0", "5"]


def test_empty_list_says_what_to_do(client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    assert "Chưa có phiếu khảo sát nào." in text_of(client, BASE)


# --- preview -----------------------------------------------------------------------------------


def test_preview_renders_every_item_as_a_citizen_sees_it_and_cannot_send(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    page = text_of(client, f"{ids.url}/preview")
    with app.app_context():
        version = _version(ids.version_id)
        for item in version.items:
            assert html.escape(item.text, quote=False) in page, item.code
            assert f'name="q_{item.code}"' in page, item.code
        assert html.escape(version.title, quote=False) in page
    assert "Không áp dụng" in page  # the not-applicable choice of the criteria
    assert "Chỉ trả lời nếu Ông/Bà chọn “Có”" in page  # E3 and E4 depend on E0
    assert "/r/" not in page and 'method="post"' not in page  # nowhere to send it
    assert "answer.js" not in page
    assert re.search(r'<button type="button" class="button" disabled', page)
    assert "Bản xem trước" in page
    english = text_of(client, f"{ids.url}/preview?lang=en")
    assert "The waiting area has enough seats" in english
    with_code = text_of(client, f"{ids.url}/preview?dossier_code=1")
    assert 'name="dossier_code"' in with_code


def test_preview_of_a_frozen_version_and_of_an_empty_one(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    _open_round_on(app, staff)
    login(client, "admin")
    assert 'name="q_A1"' in text_of(client, f"{ids.url}/preview")
    token = csrf_token(client, BASE + "/new")
    data = {"csrf_token": token, "code": "trong", "name": "Phiếu trống", "title": "Phiếu trống"}
    answer = client.post(BASE + "/new", data=data)
    assert answer.status_code == 303
    page = text_of(client, answer.headers["Location"] + "/preview")
    assert "Phiên bản này chưa có câu hỏi nào." in page


def test_unknown_version_is_404(client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    for path in ("/versions/999", "/versions/999/preview", "/versions/999/edit"):
        assert client.get(BASE + path).status_code == 404


# --- cloning -----------------------------------------------------------------------------------


def test_clone_is_a_deep_copy_with_conditions_on_the_copies(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    _open_round_on(app, staff)
    login(client, "admin")
    answer = client.post(f"{ids.url}/clone", data={"csrf_token": csrf_token(client, ids.url)})
    assert answer.status_code == 303
    page = text_of(client, answer.headers["Location"])
    assert "phiên bản 2" in page and "Nháp" in page
    with app.app_context():
        source = _version(ids.version_id)
        copy = db.session.scalars(select(TemplateVersion).where(TemplateVersion.number == 2)).one()
        assert copy.template_id == source.template_id and copy.frozen_at is None
        assert source.frozen_at is not None  # the source is untouched
        exported_source, exported_copy = export_version(source), export_version(copy)
        assert exported_copy == exported_source
        source_ids = {i.id for i in source.items}
        by_code = {i.code: i for i in copy.items}
        assert not source_ids & set(by_code[c].id for c in by_code)
        assert by_code["E3"].condition_item is by_code["E0"]
        assert by_code["E3"].condition_item_id not in source_ids
        assert by_code["A1"].element is not None
        assert by_code["A1"].element.aspect.version_id == copy.id
        source_options = {i.code: i.options for i in source.items}["Q_PRIORITY"]
        copied_options = by_code["Q_PRIORITY"].options
        assert [(o.value, o.label) for o in copied_options] == [
            (o.value, o.label) for o in source_options
        ]
        assert {o.id for o in copied_options}.isdisjoint(o.id for o in source_options)
        event = _events("template.version.clone")[0]
        assert event.after == {
            "template": "sipas",
            "number": 2,
            "from_version_id": source.id,
            "from_number": 1,
            "items": 26,
        }
        assert event.actor_id is not None


# --- editing a draft ---------------------------------------------------------------------------


def test_version_settings_are_saved_and_audited(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    data = {
        "csrf_token": csrf_token(client, f"{ids.url}/edit"),
        "title": "Khảo sát năm 2026",
        "title_en": "2026 survey",
        "intro": "Xin cảm ơn.",
        "intro_en": "Thank you.",
        "index_definition": "mean_pct",
    }
    answer = client.post(f"{ids.url}/edit", data=data)
    assert answer.status_code == 303
    page = text_of(client, ids.url)
    assert "Khảo sát năm 2026" in page and "Điểm trung bình quy ra %" in page
    with app.app_context():
        version = _version(ids.version_id)
        assert (version.title, version.index_definition) == ("Khảo sát năm 2026", "mean_pct")
        event = _events("template.version.update")[0]
        assert event.before is not None and event.before["index_definition"] == "top2box"
        assert event.after is not None and event.after["title_en"] == "2026 survey"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": ""}, "title", "Nhập tên tiếng Việt."),
        ({"index_definition": "median"}, "index_definition", "Chọn một cách tính chỉ số."),
        ({"title": "x" * 301}, "title", "Dài tối đa 300 ký tự."),
    ],
)
def test_bad_version_settings_are_refused_beside_the_field(
    app: Flask, client: FlaskClient, staff: Staff, overrides: dict, field: str, message: str
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    data = {
        "csrf_token": csrf_token(client, f"{ids.url}/edit"),
        "title": "Mới",
        "index_definition": "top2box",
    } | overrides
    answer = client.post(f"{ids.url}/edit", data=data)
    assert answer.status_code == 422
    assert message in _field_errors(answer.get_data(as_text=True), field)
    with app.app_context():
        assert _version(ids.version_id).title == "Khảo sát sự hài lòng của người dân, tổ chức"


def test_add_rename_reorder_and_delete_aspects_and_elements(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    token = csrf_token(client, ids.url)
    answer = client.post(
        f"{ids.url}/aspects/new",
        data={"csrf_token": token, "code": "CS", "name": "Chính sách", "name_en": "Policy"},
    )
    assert answer.status_code == 303
    with app.app_context():
        new_aspect = _version(ids.version_id).aspects[-1]
        assert (new_aspect.code, new_aspect.position) == ("CS", 1)
        aspect_id = new_aspect.id
    answer = client.post(
        f"{ids.url}/elements/new",
        data={"csrf_token": token, "aspect_id": aspect_id, "code": "F", "name": "Xây dựng"},
    )
    assert answer.status_code == 303
    with app.app_context():
        element_id = _version(ids.version_id).aspects[-1].elements[0].id
    answer = client.post(
        f"{ids.url}/elements/{element_id}/edit",
        data={"csrf_token": token, "aspect_id": aspect_id, "code": "F", "name": "Thực thi"},
    )
    assert answer.status_code == 303
    # Up: the new aspect now comes first, and so do its (no) items; SIPAS order is intact.
    before = None
    with app.app_context():
        before = _order(ids.version_id)
    move = client.post(
        f"{ids.url}/aspects/{aspect_id}/move", data={"csrf_token": token, "direction": "up"}
    )
    assert move.status_code == 303
    with app.app_context():
        version = _version(ids.version_id)
        assert [a.code for a in version.aspects] == ["CS", "HC"]
        assert version.aspects[0].elements[0].name == "Thực thi"
        assert _order(ids.version_id) == before
    # An aspect with elements cannot be deleted; the page says why and offers no button.
    page = text_of(client, f"{ids.url}/aspects/{aspect_id}/delete")
    assert "Khía cạnh còn 1 yếu tố" in page and 'name="confirm"' not in page
    refused = client.post(
        f"{ids.url}/aspects/{aspect_id}/delete", data={"csrf_token": token, "confirm": "y"}
    )
    assert refused.status_code == 409
    # Deleting asks for confirmation first.
    unconfirmed = client.post(f"{ids.url}/elements/{element_id}/delete", data={"csrf_token": token})
    assert unconfirmed.status_code == 422
    assert "Đánh dấu ô xác nhận để tiếp tục." in unconfirmed.get_data(as_text=True)
    for path in (f"/elements/{element_id}/delete", f"/aspects/{aspect_id}/delete"):
        answer = client.post(ids.url + path, data={"csrf_token": token, "confirm": "y"})
        assert answer.status_code == 303, path
    with app.app_context():
        assert [a.code for a in _version(ids.version_id).aspects] == ["HC"]
        assert _version(ids.version_id).aspects[0].position == 0
        actions = [e.action for e in _events("template.aspect.create")]
        actions += [e.action for e in _events("template.element.update")]
        actions += [e.action for e in _events("template.aspect.move")]
        actions += [e.action for e in _events("template.element.delete")]
        actions += [e.action for e in _events("template.aspect.delete")]
        assert len(actions) == 5


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"code": "a"}, "code", "Phiên bản này đã có yếu tố với mã này."),
        # The aspect's code: aspect and element indices share one column of the tables.
        ({"code": "hc"}, "code", "Phiên bản này đã có khía cạnh với mã này; yếu tố cần mã khác."),
        ({"code": "Ê"}, "code", "Mã gồm chữ không dấu"),
        ({"aspect_id": "999"}, "aspect_id", "Chọn một khía cạnh của phiên bản này."),
        ({"aspect_id": "abc"}, "aspect_id", "Chọn một khía cạnh của phiên bản này."),
        ({"name": ""}, "name", "Nhập tên tiếng Việt."),
    ],
)
def test_bad_elements_are_refused_beside_the_field(
    app: Flask, client: FlaskClient, staff: Staff, data: dict, field: str, message: str
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    form = {"csrf_token": csrf_token(client, ids.url), "aspect_id": ids.aspect_id, "code": "F"}
    form |= {"name": "Mới"} | data
    answer = client.post(f"{ids.url}/elements/new", data=form)
    assert answer.status_code == 422
    assert message in _field_errors(answer.get_data(as_text=True), field)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Element)) == 5 + 1  # + one-stop


def test_add_an_item_last_in_its_element(app: Flask, client: FlaskClient, staff: Staff) -> None:
    ids = _sipas(app)
    login(client, "admin")
    token = csrf_token(client, f"{ids.url}/items/new")
    answer = client.post(f"{ids.url}/items/new", data=_item_form(token, ids.elements["A"]))
    assert answer.status_code == 303
    assert re.search(r"#item-\d+$", answer.headers["Location"])
    with app.app_context():
        order = _order(ids.version_id)
        assert order[:5] == ["A1", "A2", "A3", "A4", "A5"]
        assert [i.position for i in editor.ordered_items(_version(ids.version_id))] == list(
            range(27)
        )
        item = db.session.scalars(select(Item).where(Item.code == "A5")).one()
        assert (item.satisfied_values, item.allow_na, item.text_en) == (
            [4, 5],
            True,
            "Clean toilets",
        )
        event = _events("template.item.create")[0]
        assert event.after is not None and event.after["element"] == "A"
    assert 'name="q_A5"' in text_of(client, f"{ids.url}/preview")


def test_a_choice_item_with_options_and_a_condition(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    token = csrf_token(client, f"{ids.url}/items/new")
    data = _item_form(
        token,
        "0",
        code="Q_KENH",
        text="Ông/Bà góp ý qua kênh nào?",
        scale="choice",
        role="other",
        allow_na=None,
        satisfied_values="",
        options=(
            "1 | Hộp thư góp ý | Suggestion box\n"
            "2 | Đường dây nóng\n"
            "\n"
            "3 | Cổng dịch vụ công | Portal"
        ),
        max_choices="2",
        condition_item_id=str(ids.items["E0"]),
        condition_values="1",
    )
    answer = client.post(f"{ids.url}/items/new", data=data)
    assert answer.status_code == 303, _field_errors(answer.get_data(as_text=True), "options")
    with app.app_context():
        item = db.session.scalars(select(Item).where(Item.code == "Q_KENH")).one()
        assert [(o.value, o.label, o.label_en) for o in item.options] == [
            (1, "Hộp thư góp ý", "Suggestion box"),
            (2, "Đường dây nóng", ""),
            (3, "Cổng dịch vụ công", "Portal"),
        ]
        assert item.max_choices == 2 and item.condition_values == [1]
        assert item.condition_item_id == ids.items["E0"]
        assert _order(ids.version_id)[-1] == "Q_KENH"  # outside elements: last of all
    # Editing the options in place: drop 2, relabel 1, add 4.
    data = _edit_data(
        app,
        item.id,
        token,
        options="1 | Hộp thư | Box\n3 | Cổng dịch vụ công | Portal\n4 | Khác | Other",
    )
    answer = client.post(f"{ids.url}/items/{item.id}/edit", data=data)
    assert answer.status_code == 303
    with app.app_context():
        item = db.session.get(Item, item.id)
        db.session.refresh(item)
        assert [(o.value, o.label) for o in item.options] == [
            (1, "Hộp thư"),
            (3, "Cổng dịch vụ công"),
            (4, "Khác"),
        ]
    page = text_of(client, f"{ids.url}/preview")
    assert "Hộp thư" in page and "Chỉ trả lời nếu Ông/Bà chọn “Có”" in page


ITEM_FAILURES = [
    # bad scale values
    ({"scale": "likert7"}, "scale", "Chọn một thang đo trong danh sách."),
    ({"role": "boss"}, "role", "Chọn một vai trò trong danh sách."),
    # satisfied values outside the scale, or malformed
    ({"satisfied_values": "4, 6"}, "satisfied_values", "Giá trị 6 không có trong thang đo"),
    (
        {"scale": "onestop3", "satisfied_values": "4, 5"},
        "satisfied_values",
        "Giá trị 4, 5 không có trong thang đo; các giá trị có: 1, 2, 3.",
    ),
    ({"satisfied_values": "bốn, năm"}, "satisfied_values", "Nhập các số nguyên"),
    ({"satisfied_values": ""}, "satisfied_values", "Nhập ít nhất một giá trị"),
    (
        {"scale": "text", "role": "comment", "allow_na": None, "satisfied_values": "1"},
        "satisfied_values",
        "Câu trả lời tự do không có giá trị được tính là hài lòng",
    ),
    # duplicate codes, case aside; malformed codes
    ({"code": "a1"}, "code", "Phiên bản này đã có câu hỏi với mã này"),
    ({"code": "1A"}, "code", "Mã bắt đầu bằng chữ"),
    ({"code": "A 5"}, "code", "Mã bắt đầu bằng chữ"),
    ({"code": ""}, "code", "Nhập mã."),
    ({"text": "  "}, "text", "Nhập câu hỏi."),
    # grouping
    ({"element_id": "0"}, "element_id", "Tiêu chí phải thuộc một yếu tố"),
    ({"element_id": "99999"}, "element_id", "Chọn một yếu tố của phiên bản này."),
    ({"role": "comment"}, "scale", "Câu “Ý kiến khác” cần thang “Trả lời tự do”."),
    ({"scale": "text"}, "scale", "Tiêu chí và câu hỏi hài lòng chung cần thang đo có mức"),
    # choices
    (
        {"scale": "choice", "role": "other", "allow_na": None, "satisfied_values": ""},
        "options",
        "cần ít nhất hai lựa chọn",
    ),
    (
        {
            "scale": "choice",
            "role": "other",
            "allow_na": None,
            "satisfied_values": "",
            "options": "1 | Một\n1 | Lại một",
        },
        "options",
        "Giá trị 1 xuất hiện hai lần.",
    ),
    (
        {
            "scale": "choice",
            "role": "other",
            "allow_na": None,
            "satisfied_values": "",
            "options": "1 | Một\n2 | Hai",
            "max_choices": "3",
        },
        "max_choices",
        "Số lựa chọn tối đa từ 1 đến 2",
    ),
    ({"options": "một | Một"}, "options", "Dòng 1: viết theo dạng"),
    ({"options": "1 | Một\n2 | Hai"}, "options", "Chỉ câu hỏi có thang “Chọn trong danh sách”"),
    ({"max_choices": "2"}, "max_choices", "Chỉ câu hỏi có thang “Chọn trong danh sách”"),
    ({"max_choices": "hai"}, "max_choices", "Nhập một số nguyên."),
    ({"scale": "text", "role": "other", "satisfied_values": ""}, "allow_na", "Không áp dụng"),
    # conditions
    ({"condition_values": "1"}, "condition_item_id", "Chọn câu điều kiện"),
    (
        {"condition_item": "E0", "condition_values": "2"},
        "condition_values",
        "Giá trị 2 không có trong câu E0; các giá trị có: 1, 0.",
    ),
    ({"condition_item": "E0", "condition_values": ""}, "condition_values", "Nhập giá trị"),
    (
        {"condition_item": "Q_COMMENT", "condition_values": "1"},
        "condition_values",
        "Không đặt điều kiện theo một câu trả lời tự do.",
    ),
    ({"condition_item_id": "99999", "condition_values": "1"}, "condition_item_id", "Chọn một câu"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), ITEM_FAILURES)
def test_bad_items_are_refused_beside_the_field_and_nothing_is_saved(
    app: Flask, client: FlaskClient, staff: Staff, overrides: dict, field: str, message: str
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    token = csrf_token(client, f"{ids.url}/items/new")
    if "condition_item" in overrides:
        overrides = dict(overrides)
        overrides["condition_item_id"] = str(ids.items[overrides.pop("condition_item")])
        # a condition on E0 must sit after it: in element E
        overrides.setdefault("element_id", str(ids.elements["E"]))
    overrides.setdefault("element_id", str(ids.elements["A"]))
    data = _item_form(token, **overrides)
    answer = client.post(f"{ids.url}/items/new", data=data)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert message in _field_errors(page, field), (field, _field_errors(page, field))
    assert "Chưa lưu được, không có gì bị thay đổi" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Item)) == 26 + 5
        assert not _events("template.item.create")


def test_a_condition_must_point_to_an_earlier_item(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    token = csrf_token(client, f"{ids.url}/items/new")
    # A new criterion in element A asked only when E0 (in element E, later) was answered "Có".
    data = _item_form(
        token, ids.elements["A"], condition_item_id=ids.items["E0"], condition_values="1"
    )
    answer = client.post(f"{ids.url}/items/new", data=data)
    assert answer.status_code == 422
    errors = _field_errors(answer.get_data(as_text=True), "condition_item_id")
    assert "Câu điều kiện E0 phải đứng trước câu này trong phiếu" in errors
    # Reported together with the other mistakes of the same form, each beside its field.
    data["satisfied_values"] = "4, 6"
    page = client.post(f"{ids.url}/items/new", data=data).get_data(as_text=True)
    assert "Câu điều kiện E0" in _field_errors(page, "condition_item_id")
    assert "Giá trị 6" in _field_errors(page, "satisfied_values")
    # An existing item may not depend on a later one either: A1 on B1.
    data = _edit_data(
        app, ids.items["A1"], token, condition_item_id=str(ids.items["B1"]), condition_values="5"
    )
    answer = client.post(f"{ids.url}/items/{ids.items['A1']}/edit", data=data)
    assert answer.status_code == 422
    assert "Câu điều kiện B1" in _field_errors(answer.get_data(as_text=True), "condition_item_id")
    # Nor on itself.
    data = _edit_data(
        app, ids.items["A1"], token, condition_item_id=str(ids.items["A1"]), condition_values="5"
    )
    answer = client.post(f"{ids.url}/items/{ids.items['A1']}/edit", data=data)
    assert "chính nó" in _field_errors(answer.get_data(as_text=True), "condition_item_id")
    with app.app_context():
        a1 = db.session.get(Item, ids.items["A1"])
        assert a1 is not None and a1.condition_item_id is None
        assert _order(ids.version_id)[0] == "A1"


def test_moves_and_edits_that_would_put_a_condition_after_its_item_are_refused(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    token = csrf_token(client, ids.url)
    # E0 is third in element E, E3 depends on it: E3 may move up once (to just after E0? no:
    # E3 is right after E0, so moving E3 up would put it before E0).
    answer = client.post(
        f"{ids.url}/items/{ids.items['E3']}/move", data={"csrf_token": token, "direction": "up"}
    )
    assert answer.status_code == 303
    page = text_of(client, answer.headers["Location"].split("#")[0])
    assert "Không chuyển được" in page and "câu E0 phải đứng trước câu E3" in page
    # E0 may not move down past E3 either.
    client.post(
        f"{ids.url}/items/{ids.items['E0']}/move", data={"csrf_token": token, "direction": "down"}
    )
    # E0 may not move to element A (before its dependents? it would stay before them, so
    # allowed) - but it may not leave for the questions at the end, after E3 and E4.
    data = _edit_data(app, ids.items["E0"], token, element_id="0")
    answer = client.post(f"{ids.url}/items/{ids.items['E0']}/edit", data=data)
    assert answer.status_code == 422
    assert "câu E0 phải đứng trước câu E3" in _field_errors(
        answer.get_data(as_text=True), "element_id"
    )
    # Its scale may not change to one without the values E3 and E4 depend on.
    data = _edit_data(app, ids.items["E0"], token, scale="text", satisfied_values="")
    answer = client.post(f"{ids.url}/items/{ids.items['E0']}/edit", data=data)
    assert "Câu E3 đặt điều kiện theo câu này" in _field_errors(
        answer.get_data(as_text=True), "scale"
    )
    # And it may not be deleted while they depend on it.
    page = text_of(client, f"{ids.url}/items/{ids.items['E0']}/delete")
    assert "Câu E3, E4 đặt điều kiện theo câu này" in page
    answer = client.post(
        f"{ids.url}/items/{ids.items['E0']}/delete", data={"csrf_token": token, "confirm": "y"}
    )
    assert answer.status_code == 409
    with app.app_context():
        assert _order(ids.version_id)[18:23] == ["E1", "E2", "E0", "E3", "E4"]
        e0 = db.session.get(Item, ids.items["E0"])
        assert e0 is not None and e0.scale == "yesno" and e0.element_id == ids.elements["E"]
        assert not _events("template.item.move") and not _events("template.item.delete")
    # Moving E0 to the top of the questionnaire keeps it before E3 and E4: allowed.
    data = _edit_data(app, ids.items["E0"], token, element_id=str(ids.elements["A"]))
    answer = client.post(f"{ids.url}/items/{ids.items['E0']}/edit", data=data)
    assert answer.status_code == 303
    with app.app_context():
        assert _order(ids.version_id)[4] == "E0"


def test_reorder_items_and_delete_one(app: Flask, client: FlaskClient, staff: Staff) -> None:
    ids = _sipas(app)
    login(client, "admin")
    token = csrf_token(client, ids.url)
    answer = client.post(
        f"{ids.url}/items/{ids.items['A2']}/move", data={"csrf_token": token, "direction": "up"}
    )
    assert answer.status_code == 303
    # At the top already: nothing changes, nothing is recorded.
    client.post(
        f"{ids.url}/items/{ids.items['A2']}/move", data={"csrf_token": token, "direction": "up"}
    )
    bad = client.post(
        f"{ids.url}/items/{ids.items['A2']}/move",
        data={"csrf_token": token, "direction": "sideways"},
    )
    assert bad.status_code == 303
    with app.app_context():
        assert _order(ids.version_id)[:4] == ["A2", "A1", "A3", "A4"]
        assert len(_events("template.item.move")) == 1
    answer = client.post(
        f"{ids.url}/items/{ids.items['A3']}/delete", data={"csrf_token": token, "confirm": "y"}
    )
    assert answer.status_code == 303
    with app.app_context():
        order = _order(ids.version_id)
        assert order[:3] == ["A2", "A1", "A4"] and "A3" not in order
        assert [i.position for i in editor.ordered_items(_version(ids.version_id))] == list(
            range(25)
        )
        event = _events("template.item.delete")[0]
        assert event.before is not None and event.before["code"] == "A3"


def test_ids_from_another_version_are_not_found(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    with app.app_context():
        one_stop = db.session.scalars(
            select(TemplateVersion).join(Template).where(Template.code == "one_stop")
        ).one()
        foreign_item = one_stop.items[0].id
        foreign_element = one_stop.aspects[0].elements[0].id
    login(client, "admin")
    token = csrf_token(client, ids.url)
    assert client.get(f"{ids.url}/items/{foreign_item}/edit").status_code == 404
    answer = client.post(
        f"{ids.url}/items/{foreign_item}/delete", data={"csrf_token": token, "confirm": "y"}
    )
    assert answer.status_code == 404
    answer = client.post(
        f"{ids.url}/elements/{foreign_element}/move", data={"csrf_token": token, "direction": "up"}
    )
    assert answer.status_code == 404
    # Another version's element or item in a form field is refused beside the field.
    answer = client.post(f"{ids.url}/items/new", data=_item_form(token, foreign_element, code="X1"))
    assert "Chọn một yếu tố của phiên bản này." in _field_errors(
        answer.get_data(as_text=True), "element_id"
    )
    answer = client.post(
        f"{ids.url}/items/new",
        data=_item_form(
            token,
            ids.elements["E"],
            code="X1",
            condition_item_id=foreign_item,
            condition_values="1",
        ),
    )
    assert "Chọn một câu hỏi khác" in _field_errors(
        answer.get_data(as_text=True), "condition_item_id"
    )
    with app.app_context():
        assert db.session.get(Item, foreign_item) is not None
        assert not db.session.scalars(select(Item).where(Item.code == "X1")).all()


# --- frozen versions ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [RoundState.OPEN, RoundState.CLOSED, RoundState.PUBLISHED])
def test_a_version_used_by_a_round_that_opened_cannot_be_edited(
    app: Flask, client: FlaskClient, staff: Staff, state: RoundState
) -> None:
    ids = _sipas(app)
    _open_round_on(app, staff, state)
    with app.app_context():
        before = export_version(_version(ids.version_id))
    login(client, "admin")
    token = csrf_token(client, ids.url)
    page = text_of(client, ids.url)
    assert "Phiên bản này đã khoá" in page
    assert f"{ids.url}/items/{ids.items['A1']}/edit" not in page  # no edit links
    a1 = ids.items["A1"]
    attempts = [
        ("GET", "/edit", {}),
        ("POST", "/edit", {"title": "Mới", "index_definition": "mean"}),
        ("GET", "/items/new", {}),
        ("POST", "/items/new", _item_form(token, ids.elements["A"])),
        ("POST", f"/items/{a1}/edit", _item_form(token, ids.elements["A"], code="A1", text="Mới")),
        ("POST", f"/items/{a1}/move", {"direction": "down"}),
        ("POST", f"/items/{a1}/delete", {"confirm": "y"}),
        ("GET", f"/items/{a1}/delete", {}),
        ("POST", "/aspects/new", {"code": "X", "name": "X"}),
        ("POST", f"/aspects/{ids.aspect_id}/edit", {"code": "HC", "name": "Đổi tên"}),
        (
            "POST",
            f"/elements/{ids.elements['A']}/edit",
            {"code": "A", "name": "Đổi tên", "aspect_id": ids.aspect_id},
        ),
        ("POST", f"/elements/{ids.elements['A']}/move", {"direction": "down"}),
    ]
    for method, path, data in attempts:
        answer = client.open(ids.url + path, method=method, data=data | {"csrf_token": token})
        assert answer.status_code == 409, (method, path, answer.status_code)
        page = answer.get_data(as_text=True)
        assert "Phiên bản đã khoá, không sửa được" in page
        assert f'action="{ids.url}/clone"' in page  # offers the way out
    with app.app_context():
        assert export_version(_version(ids.version_id)) == before
        assert not db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("template.%"))
        ).all()


def test_the_model_layer_refusal_is_a_409_page_not_a_500(
    app: Flask, client: FlaskClient, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round may open between the page's check and the change; the flush then refuses."""
    ids = _sipas(app)
    login(client, "admin")
    token = csrf_token(client, ids.url)
    real = editor.update_item

    def opened_meanwhile(item: Item, *args: Any, **kwargs: Any) -> Item:
        item.version.frozen_at = utcnow()
        db.session.flush()
        return real(item, *args, **kwargs)

    monkeypatch.setattr(editor, "update_item", opened_meanwhile)
    data = _edit_data(app, ids.items["A1"], token, text="Đổi câu hỏi")
    answer = client.post(f"{ids.url}/items/{ids.items['A1']}/edit", data=data)
    assert answer.status_code == 409
    assert "Phiên bản đã khoá" in answer.get_data(as_text=True)
    with app.app_context():
        a1 = db.session.get(Item, ids.items["A1"])
        assert a1 is not None and a1.text == "Nơi ngồi chờ có đủ chỗ ngồi"
        assert _version(ids.version_id).frozen_at is None  # rolled back with the change


def test_a_draft_round_does_not_freeze_the_version(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    _open_round_on(app, staff, RoundState.DRAFT)
    login(client, "admin")
    page = text_of(client, ids.url)
    assert "Phiên bản sẽ bị khoá khi đợt được mở." in page
    assert client.get(f"{ids.url}/items/{ids.items['A1']}/edit").status_code == 200


# --- new templates, import and export ----------------------------------------------------------


def test_create_a_template_and_refuse_a_duplicate_code(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    _sipas(app)
    login(client, "admin")
    token = csrf_token(client, BASE + "/new")
    data = {"csrf_token": token, "code": "y_te", "name": "Phiếu y tế", "title": "Khảo sát y tế"}
    answer = client.post(BASE + "/new", data=data)
    assert answer.status_code == 303
    assert "Phiếu y tế – phiên bản 1" in text_of(client, answer.headers["Location"])
    again = client.post(BASE + "/new", data=data | {"code": "SIPAS"})
    assert again.status_code == 422
    assert "Đã có phiếu khảo sát với mã này." in _field_errors(again.get_data(as_text=True), "code")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Template)) == 3
        assert _events("template.create")[0].after == {
            "template": "y_te",
            "name": "Phiếu y tế",
            "number": 1,
        }


def _upload(client: FlaskClient, body: bytes, name: str = "phieu.json") -> Any:
    token = csrf_token(client, BASE + "/import")
    return client.post(
        BASE + "/import",
        data={"csrf_token": token, "file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )


def test_export_then_import_gives_an_identical_new_version(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    answer = client.get(f"{ids.url}/export.json")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="sipas-v1.json"'
    exported = answer.get_data()
    data = json.loads(exported)
    with open("survey/starter_templates/sipas.json", encoding="utf-8") as starter:
        shipped = json.load(starter)
    assert (
        data["version"]["aspects"][0]["elements"][4]["items"][3]["condition"]
        == (shipped["version"]["aspects"][0]["elements"][4]["items"][3]["condition"])
    )
    imported = _upload(client, exported)
    assert imported.status_code == 303
    page = text_of(client, imported.headers["Location"])
    assert "phiên bản 2" in page
    with app.app_context():
        copy = db.session.scalars(select(TemplateVersion).where(TemplateVersion.number == 2)).one()
        assert export_version(copy) == data
        assert _events("template.import")[0].after == {
            "template": "sipas",
            "number": 2,
            "items": 26,
        }


def test_import_a_new_template(app: Flask, client: FlaskClient, staff: Staff) -> None:
    ids = _sipas(app)
    login(client, "admin")
    data = json.loads(client.get(f"{ids.url}/export.json").get_data())
    data["code"] = "sipas_2026"
    answer = _upload(client, json.dumps(data).encode())
    assert answer.status_code == 303
    with app.app_context():
        template = db.session.scalars(select(Template).where(Template.code == "sipas_2026")).one()
        assert [v.number for v in template.versions] == [1]


def _broken(mutate: Any) -> bytes:
    with open("survey/starter_templates/sipas.json", encoding="utf-8") as starter:
        data = json.load(starter)
    mutate(data)
    return json.dumps(data, ensure_ascii=False).encode()


def _first_item(data: dict) -> dict:
    return data["version"]["aspects"][0]["elements"][0]["items"][0]


BROKEN_FILES = [
    (b"\xff\xfe{", "Tệp không phải văn bản UTF-8."),
    (b'{"code": "x",', "Tệp không phải JSON hợp lệ (dòng 1"),
    (b"[1, 2]", "$: cần một đối tượng JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON"),
    (b"{}", "$: thiếu trường “code”."),
    (_broken(lambda d: _first_item(d).update(scale="likert7")), "Chọn một thang đo"),
    (
        _broken(lambda d: _first_item(d).update(satisfied_values=[4, 6])),
        "items[0] (A1): satisfied_values: Giá trị 6 không có trong thang đo",
    ),
    (
        _broken(lambda d: _first_item(d).update(satisfied_value=[4, 5])),
        "trường “satisfied_value” không được biết đến",
    ),
    (_broken(lambda d: _first_item(d).update(code="A2")), "mã “A2” bị trùng"),
    (
        _broken(lambda d: _first_item(d).update(required="yes")),
        "“required” phải là true hoặc false",
    ),
    (
        _broken(lambda d: _first_item(d).update(condition={"item": "E0", "values": [1]})),
        "điều kiện theo câu “E0”, câu này phải có và đứng trước câu A1",
    ),
    (
        _broken(lambda d: _first_item(d).update(condition={"item": "A1", "values": [1]})),
        "không thể đặt điều kiện theo chính nó",
    ),
    (
        _broken(
            lambda d: d["version"]["aspects"][0]["elements"][4]["items"][3].update(
                condition={"item": "E0", "values": [2]}
            )
        ),
        "Giá trị 2 không có trong câu E0",
    ),
    (
        _broken(lambda d: d["version"]["items"][1].update(options=[[1, "Một"], [2, "Hai", ""]])),
        "lựa chọn thứ 1 phải có dạng",
    ),
    (_broken(lambda d: d["version"].update(index_definition="median")), "index_definition"),
    (_broken(lambda d: d.update(code="mã có dấu")), "mã “mã có dấu” không hợp lệ"),
    (_broken(lambda d: d["version"].update(aspects={})), "“aspects” phải là một danh sách"),
    (_broken(lambda d: d.update(code="SIPAS")), "đã có phiếu mã “sipas”"),
    (
        _broken(lambda d: d["version"]["aspects"][0]["elements"][0].update(code="HC")),
        "elements[0]: mã “HC” bị trùng",
    ),
    (_broken(lambda d: d["version"].update(default_target=120)), "“default_target” phải là"),
    (_broken(lambda d: d["version"].update(default_target="90")), "“default_target” phải là"),
    (
        _broken(lambda d: d["version"].update(scores=[{"code": "S", "name": "S", "items": ["X"]}])),
        "không có câu hỏi mã “X”",
    ),
    (
        _broken(
            lambda d: d["version"].update(
                scores=[{"code": "S", "name": "S", "items": ["Q_PRIORITY"]}]
            )
        ),
        "câu Q_PRIORITY không có thang điểm",
    ),
    (_broken(lambda d: d["version"].update(scores={})), "“scores” phải là một danh sách"),
]


@pytest.mark.parametrize(("body", "message"), BROKEN_FILES)
def test_broken_import_files_are_reported_and_nothing_is_imported(
    app: Flask, client: FlaskClient, staff: Staff, body: bytes, message: str
) -> None:
    _sipas(app)
    login(client, "admin")
    answer = _upload(client, body)
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 422
    assert "không có gì được nhập" in page
    assert message in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 2
        assert not _events("template.import")


def test_import_without_a_file_says_so(client: FlaskClient, staff: Staff) -> None:
    login(client, "admin")
    token = csrf_token(client, BASE + "/import")
    answer = client.post(BASE + "/import", data={"csrf_token": token})
    assert answer.status_code == 422
    assert "Chọn tệp JSON để tải lên." in answer.get_data(as_text=True)


def test_rounds_using_a_version_are_listed_on_its_page(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    ids = _sipas(app)
    round_id = _open_round_on(app, staff)
    login(client, "admin")
    page = text_of(client, ids.url)
    assert f'href="/admin/rounds/{round_id}"' in page
    with app.app_context():
        assert db.session.get(Round, round_id) is not None


# --- per-question scale labels -------------------------------------------------------------------

A1_LABELS = "\n".join(
    [
        "5 | Rất đủ chỗ ngồi | Plenty of seats",
        "4 | Đủ chỗ ngồi | Enough seats",
        "3 | Tạm đủ | Just about enough",
        "2 | Thiếu chỗ ngồi | Too few seats",
        "1 | Rất thiếu chỗ ngồi | Far too few seats",
    ]
)


def test_an_item_words_its_own_scale_points(app: Flask, client: FlaskClient, staff: Staff) -> None:
    ids = _sipas(app)
    login(client, "admin")
    url = f"{ids.url}/items/{ids.items['A1']}/edit"
    token = csrf_token(client, url)
    answer = client.post(url, data=_edit_data(app, ids.items["A1"], token, scale_labels=A1_LABELS))
    assert answer.status_code == 303, _field_errors(answer.get_data(as_text=True), "scale_labels")
    with app.app_context():
        item = db.session.get(Item, ids.items["A1"])
        assert item is not None
        # Stored in the scale's order whatever order they were typed in.
        assert [p[0] for p in item.scale_labels or []] == [1, 2, 3, 4, 5]
        assert item.points()[0] == (1, "Rất thiếu chỗ ngồi", "Far too few seats")
        (event,) = _events("template.item.update")
        assert event.after["scale_labels"][4] == [5, "Rất đủ chỗ ngồi", "Plenty of seats"]
    assert "Rất thiếu chỗ ngồi" in text_of(client, url)  # the edit form shows them back
    assert "1 Rất thiếu chỗ ngồi; 2 Thiếu chỗ ngồi" in text_of(client, ids.url)  # and the list
    preview = text_of(client, f"{ids.url}/preview")
    assert "Rất đủ chỗ ngồi" in preview
    # Emptying the box goes back to the scale's labels.
    answer = client.post(url, data=_edit_data(app, ids.items["A1"], token, scale_labels=""))
    assert answer.status_code == 303
    with app.app_context():
        item = db.session.get(Item, ids.items["A1"])
        assert item is not None and item.scale_labels is None
        assert item.points()[0] == (1, "Rất không hài lòng", "Very dissatisfied")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scale_labels": "1 | Một\n2 | Hai"}, "còn thiếu mức 3, 4, 5"),
        ({"scale_labels": A1_LABELS + "\n6 | Sáu"}, "Mức 6 không có trong thang đo"),
        ({"scale_labels": A1_LABELS + "\n5 | Lần nữa"}, "Mức 5 có hai nhãn"),
        ({"scale_labels": A1_LABELS.replace("Tạm đủ", "x" * 121)}, "dài quá 120 ký tự"),
        ({"scale_labels": A1_LABELS.replace("Tạm đủ", "Tạm\x07đủ")}, "ký tự điều khiển"),
        ({"scale_labels": A1_LABELS.replace("Tạm đủ", " ")}, "Dòng 3: viết theo dạng"),
        ({"scale_labels": "một | hai | ba"}, "Dòng 1: viết theo dạng"),
        ({"scale_labels": "<script>1 | x"}, "Dòng 1: viết theo dạng"),
        ({"scale_labels": "1 | a | b | c"}, "Dòng 1: viết theo dạng"),
        (
            {
                "scale": "choice",
                "options": "1 | Một\n2 | Hai",
                "satisfied_values": "",
                "allow_na": None,
                "role": "other",
                "scale_labels": "1 | x",
            },
            "Chỉ câu hỏi có thang mức mới có nhãn riêng",
        ),
    ],
)
def test_bad_scale_labels_are_refused_and_nothing_is_saved(
    app: Flask, client: FlaskClient, staff: Staff, overrides: dict, message: str
) -> None:
    ids = _sipas(app)
    login(client, "admin")
    url = f"{ids.url}/items/{ids.items['A1']}/edit"
    token = csrf_token(client, url)
    answer = client.post(url, data=_edit_data(app, ids.items["A1"], token, **overrides))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert message in _field_errors(page, "scale_labels"), _field_errors(page, "scale_labels")
    assert "Chưa lưu được, không có gì bị thay đổi" in page
    with app.app_context():
        item = db.session.get(Item, ids.items["A1"])
        assert item is not None
        assert item.scale_labels is None and item.scale == "sat5"
        assert not _events("template.item.update")


@pytest.mark.parametrize("labels", [{}, "1 | Một", [[1, "Một"]], [[True, "Một", "One"]]])
def test_an_import_with_malformed_scale_labels_is_refused(
    app: Flask, client: FlaskClient, staff: Staff, labels: object
) -> None:
    def mutate(data: dict) -> None:
        _first_item(data)["scale_labels"] = labels

    login(client, "admin")
    answer = _upload(client, _broken(mutate))
    assert answer.status_code == 422
    assert "scale_labels" in html.unescape(answer.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 0


def test_an_import_with_bad_scale_labels_is_refused(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    def mutate(data: dict) -> None:
        _first_item(data)["scale_labels"] = [[1, "Một", "One"], [1, "", ""], "hai"]

    login(client, "admin")
    answer = _upload(client, _broken(mutate))
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 422
    assert "nhãn thứ 3 của “scale_labels” phải có dạng" in page
    assert "Mức 1 có hai nhãn" in page and "còn thiếu mức 2, 3, 4, 5" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 0


def test_an_item_a_score_adds_cannot_be_deleted_or_renamed(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    from survey.services.questionnaires.templates import latest_version, load_starter_templates

    with app.app_context():
        load_starter_templates(now=utcnow(), names=("one_stop_12.json",))
        version = latest_version("one_stop_12")
        assert version is not None
        db.session.commit()
        version_id = version.id
        item_id = next(i.id for i in version.items if i.code == "CS5")
    login(client, "admin")
    base = f"{BASE}/versions/{version_id}/items/{item_id}"
    token = csrf_token(client, f"{base}/edit")
    answer = client.post(f"{base}/edit", data=_edit_data(app, item_id, token, code="CS5B"))
    assert answer.status_code == 422
    assert "được cộng vào điểm DIEM_HS" in _field_errors(answer.get_data(as_text=True), "code")
    answer = client.post(f"{base}/delete", data={"csrf_token": token})
    assert answer.status_code == 409
    assert "được cộng vào điểm DIEM_HS" in html.unescape(answer.get_data(as_text=True))
    page = text_of(client, f"{BASE}/versions/{version_id}")
    assert "Điểm đánh giá hồ sơ" in page and "90 %" in page
