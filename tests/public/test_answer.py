"""The citizen's path: desk link, area choice, questionnaire, submission, thank-you page."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from survey import extensions
from survey.extensions import db
from survey.models import (
    Answer,
    Desk,
    Item,
    Response,
    Round,
    RoundState,
    ServiceArea,
    utcnow,
)
from survey.services.rounds.lifecycle import transition_round
from tests.conftest import POSTGRES_URL, server_closes_the_app_connections
from tests.factories import make_area, make_desk, make_round, make_unit


@dataclass(frozen=True)
class World:
    token: str  # a desk serving two areas
    single_token: str  # a desk serving one area
    other_unit_desk_id: int
    other_unit_id: int
    round_id: int


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        civil = make_area("HT", "Hộ tịch", "Civil status")
        land = make_area("DD", "Đất đai", "Land")
        unit = make_unit("STP", "Sở Tư pháp", [civil, land])
        desk = make_desk(unit)
        single = make_desk(unit, "STP-Q2", areas=[land])
        other = make_unit("XPL", "UBND xã Phú Lộc", [civil])
        other_desk = make_desk(other)
        round_ = make_round([unit, other])
        db.session.commit()
        return World(desk.token, single.token, other_desk.id, other.id, round_.id)


def form_page(client: FlaskClient, token: str, area: str | None = "HT", lang: str = "") -> str:
    url = f"/r/{token}" + (f"?area={area}" if area else "") + (f"&lang={lang}" if lang else "")
    page = client.get(url)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    assert match, f"hidden field {name} missing"
    return match.group(1)


def valid_answers(html: str) -> dict[str, object]:
    """Every criterion answered 4, the overall question 5, two priorities, a comment."""
    data: dict[str, object] = {
        "csrf_token": hidden(html, "csrf_token"),
        "idempotency_key": hidden(html, "idempotency_key"),
        "area": hidden(html, "area"),
        "started": hidden(html, "started"),
        "website": "",
    }
    for code in re.findall(r'name="q_([A-E]\d)" type="radio" value="4"', html):
        data[f"q_{code}"] = "4"
    data["q_E0"] = "1"
    data["q_Q_OVERALL"] = "5"
    data["q_Q_PRIORITY"] = ["2", "4"]
    data["q_Q_COMMENT"] = "Cán bộ rất nhiệt tình."
    return data


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_desk_with_several_areas_asks_which_area_first(client: FlaskClient, world: World) -> None:
    page = client.get(f"/r/{world.token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Sở Tư pháp" in html and "Quầy số 1" in html
    assert "lĩnh vực nào" in html
    assert 'value="HT"' in html and 'value="DD"' in html
    assert 'name="q_A1"' not in html


def test_desk_with_one_area_goes_straight_to_the_questionnaire(
    client: FlaskClient, world: World
) -> None:
    html = form_page(client, world.single_token, area=None)
    assert 'name="q_A1"' in html
    assert "Đất đai" in html


def test_questionnaire_groups_items_by_element_with_not_applicable(
    client: FlaskClient, world: World
) -> None:
    html = form_page(client, world.token)
    assert html.count("<fieldset") >= 22
    for element in ("Tiếp cận dịch vụ", "Thủ tục hành chính", "Kết quả cung ứng dịch vụ"):
        assert f">{element}</h2>" in html
    assert "Không áp dụng" in html
    # Long forms say where the reader is, without JavaScript, and which questions may be skipped.
    sections = html.count('<section class="element"')
    assert sections > 1
    assert f"Phần 1 / {sections}" in html and f"Phần {sections} / {sections}" in html
    assert "các câu khác Ông/Bà có thể bỏ qua" in html
    assert "hãy chọn “Không áp dụng”" in html
    assert '<html lang="vi">' in html
    # Works with JavaScript off: a plain POST form, and the only script is the application's
    # own deferred enhancement (no inline code, nothing from another site).
    assert '<form method="post" action="/r/' in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert len(scripts) == 1
    assert re.fullmatch(r'<script src="/static/answer\.js\?v=\w+" defer>', scripts[0])


def test_english_switch_translates_questions_and_interface(
    client: FlaskClient, world: World
) -> None:
    html = form_page(client, world.token, lang="en")
    assert '<html lang="en">' in html
    assert "The waiting area has enough seats" in html
    assert "Not applicable" in html
    assert "Gửi phiếu" not in html and "Submit" in html
    # The choice is remembered for the next page.
    assert '<html lang="en">' in client.get(f"/r/{world.token}").get_data(as_text=True)


def test_happy_path_stores_response_and_answers_then_thanks(
    app: Flask, client: FlaskClient, world: World
) -> None:
    html = form_page(client, world.token)
    answer = client.post(f"/r/{world.token}", data=valid_answers(html))
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/r/{world.token}/thanks")
    thanks = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Cảm ơn" in thanks
    with app.app_context():
        response = db.session.scalars(select(Response)).one()
        assert response.round_id == world.round_id
        assert response.channel == "qr" and response.status == "counted"
        values = {(a.item_id, a.value, a.text) for a in db.session.scalars(select(Answer))}
        assert len(values) == 22 + 1 + 1 + 2 + 1  # criteria, E0, overall, 2 priorities, comment
        assert any(text == "Cán bộ rất nhiệt tình." for _, _, text in values)


def test_every_answer_is_stored_against_its_own_question(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Varied values, so that an answer written against a neighbouring question (the answers
    are stored in batches of rows) would show."""
    html = form_page(client, world.token)
    data = valid_answers(html)
    criteria = sorted(k for k in data if re.fullmatch(r"q_[A-E]\d", k) and k != "q_E0")
    sent = {code[2:]: str(1 + n % 5) for n, code in enumerate(criteria)}
    data |= {f"q_{code}": value for code, value in sent.items()}
    data["q_B2"] = "na"
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        stored = db.session.execute(
            select(Item.code, Answer.value, Answer.text, Answer.not_applicable).join(Item)
        ).all()
    by_code: dict[str, list[tuple[int | None, str | None, bool]]] = {}
    for code, value, text, na in stored:
        by_code.setdefault(code, []).append((value, text, na))
    expected = {code: [(int(v), None, False)] for code, v in sent.items()}
    expected["B2"] = [(None, None, True)]
    assert {c: by_code[c] for c in expected} == expected
    assert sorted(by_code["Q_PRIORITY"]) == [(2, None, False), (4, None, False)]
    assert by_code["Q_COMMENT"] == [(None, "Cán bộ rất nhiệt tình.", False)]
    assert by_code["Q_OVERALL"] == [(5, None, False)] and by_code["E0"] == [(1, None, False)]


def test_a_comment_with_quotes_backslashes_lines_and_emoji_is_stored_exactly(
    app: Flask, client: FlaskClient, world: World
) -> None:
    # On PostgreSQL the answers travel to the database as one JSON text.
    comment = 'Cán bộ "rất" nhiệt tình\\ ; \'); DROP TABLE answers; --\nDòng hai 😀 {"a": [1]}'
    data = valid_answers(form_page(client, world.token))
    data["q_Q_COMMENT"] = comment
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        stored = db.session.scalars(select(Answer.text).where(Answer.text.is_not(None))).all()
        assert stored == [comment]
        assert count(Answer) == 27


def test_a_comment_of_invisible_characters_only_is_no_comment(
    app: Flask, client: FlaskClient, world: World
) -> None:
    # Found by tests/public/test_answer_fuzz.py: a lone direction mark was stored as "".
    data = valid_answers(form_page(client, world.token))
    data["q_Q_COMMENT"] = "\u202a\u200b "
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Answer).where(Answer.text.is_not(None))).all() == []
        assert count(Answer) == 27 - 1


def test_same_submission_twice_is_stored_once_and_both_see_thanks(
    app: Flask, client: FlaskClient, world: World
) -> None:
    data = valid_answers(form_page(client, world.token))
    first = client.post(f"/r/{world.token}", data=data)
    second = client.post(f"/r/{world.token}", data=data)
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"].endswith("/thanks")
    with app.app_context():
        assert count(Response) == 1
        assert count(Answer) == 27


def test_not_applicable_is_stored_as_such_not_as_a_score(
    app: Flask, client: FlaskClient, world: World
) -> None:
    data = valid_answers(form_page(client, world.token))
    data["q_A1"] = "na"
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        na = db.session.scalars(select(Answer).where(Answer.not_applicable)).one()
        assert na.value is None


def test_conditional_items_are_not_stored_when_condition_is_not_met(
    app: Flask, client: FlaskClient, world: World
) -> None:
    data = valid_answers(form_page(client, world.token))
    data["q_E0"] = "0"  # never gave feedback: E3 and E4 do not apply
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        assert count(Answer) == 27 - 2


def test_unknown_token_is_a_vietnamese_404(client: FlaskClient, world: World) -> None:
    for token in ("khong-ton-tai", "x" * 500, world.token + "x"):
        page = client.get(f"/r/{token}")
        assert page.status_code == 404
        assert "Không tìm thấy" in page.get_data(as_text=True)


def test_revoked_token_stops_working(app: Flask, client: FlaskClient, world: World) -> None:
    html = form_page(client, world.token)
    with app.app_context():
        from survey.models import Desk

        desk = db.session.scalars(select(Desk).where(Desk.token == world.token)).one()
        desk.is_active = False
        db.session.commit()
    assert client.get(f"/r/{world.token}").status_code == 404
    assert client.post(f"/r/{world.token}", data=valid_answers(html)).status_code == 404
    with app.app_context():
        assert count(Response) == 0


def test_closed_round_shows_a_polite_page_and_stores_nothing(
    app: Flask, client: FlaskClient, world: World
) -> None:
    html = form_page(client, world.token)
    with app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_ is not None
        transition_round(round_, RoundState.CLOSED, now=utcnow())
        db.session.commit()
    page = client.get(f"/r/{world.token}")
    assert page.status_code == 200
    assert "chưa có đợt khảo sát nào đang mở" in page.get_data(as_text=True)
    late = client.post(f"/r/{world.token}", data=valid_answers(html))
    assert late.status_code == 409
    assert "chưa có đợt khảo sát nào đang mở" in late.get_data(as_text=True)
    with app.app_context():
        assert count(Response) == 0


def test_unit_outside_every_open_round_gets_the_polite_page(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        unit = make_unit("LONE", "Đơn vị không khảo sát", [make_area()])
        token = make_desk(unit).token
        db.session.commit()
    page = client.get(f"/r/{token}")
    assert page.status_code == 200
    assert "chưa có đợt khảo sát nào đang mở" in page.get_data(as_text=True)


BAD_VALUES = [
    ("q_A1", "6", "Giá trị không hợp lệ"),
    ("q_A1", "0", "Giá trị không hợp lệ"),
    ("q_A1", "-1", "Giá trị không hợp lệ"),
    ("q_A1", "4.5", "Giá trị không hợp lệ"),
    ("q_A1", "<script>alert(1)</script>", "Giá trị không hợp lệ"),
    ("q_Q_OVERALL", "na", "không có lựa chọn"),
    ("q_Q_OVERALL", "", "Vui lòng trả lời"),
    ("q_Q_PRIORITY", ["1", "2", "3", "4"], "tối đa 3"),
    ("q_Q_PRIORITY", ["99"], "Lựa chọn không hợp lệ"),
    ("q_Q_COMMENT", "x" * 2001, "tối đa 2000"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES)
def test_bad_values_come_back_with_a_vietnamese_message_beside_the_item(
    app: Flask, client: FlaskClient, world: World, field: str, value: object, message: str
) -> None:
    data = valid_answers(form_page(client, world.token))
    data[field] = value
    page = client.post(f"/r/{world.token}", data=data)
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert message in html
    # The message sits in the item's own error list, which the item points to for screen readers.
    assert re.search(rf'id="{field}-error"[^>]*>\s*<li>[^<]*{re.escape(message)}', html)
    assert f'aria-describedby="{field}-error"' in html
    # The other answers are still filled in.
    if field != "q_Q_OVERALL":
        assert re.search(r'<input checked id="q_Q_OVERALL-4"', html)
    with app.app_context():
        assert count(Response) == 0 and count(Answer) == 0


@pytest.mark.parametrize("value", ["²", "٣", "4.0", " 4", "-1"])
def test_a_score_that_is_not_a_plain_number_is_refused_beside_its_item(
    app: Flask, client: FlaskClient, world: World, value: str
) -> None:
    data = valid_answers(form_page(client, world.token))
    data["q_A1"] = value
    answer = client.post(f"/r/{world.token}", data=data)
    assert answer.status_code == 422
    assert "Giá trị không hợp lệ" in answer.get_data(as_text=True)
    with app.app_context():
        assert count(Response) == 0


def test_missing_required_answer_is_named(app: Flask, client: FlaskClient, world: World) -> None:
    data = valid_answers(form_page(client, world.token))
    del data["q_Q_OVERALL"]
    page = client.post(f"/r/{world.token}", data=data)
    assert page.status_code == 422
    assert "Vui lòng trả lời câu hỏi này." in page.get_data(as_text=True)
    with app.app_context():
        assert count(Response) == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"desk_id": "999"},
        {"unit_id": "1"},
        {"q_NOT_AN_ITEM": "5"},
        {"round_id": "1"},
    ],
)
def test_injected_or_unknown_fields_are_refused(
    app: Flask, client: FlaskClient, world: World, extra: dict[str, str]
) -> None:
    data = valid_answers(form_page(client, world.token)) | extra
    page = client.post(f"/r/{world.token}", data=data)
    assert page.status_code == 400
    assert "Yêu cầu không hợp lệ" in page.get_data(as_text=True)
    with app.app_context():
        assert count(Response) == 0


def test_area_not_served_by_the_desk_is_refused(
    app: Flask, client: FlaskClient, world: World
) -> None:
    data = valid_answers(form_page(client, world.token))
    data["area"] = "YT"
    assert client.post(f"/r/{world.token}", data=data).status_code == 400
    with app.app_context():
        assert count(Response) == 0


def test_submissions_are_stored_under_the_area_chosen_among_those_the_desk_serves(
    app: Flask, client: FlaskClient, world: World
) -> None:
    # The desk has no areas of its own: it serves its unit's, and only the active ones.
    data = valid_answers(form_page(client, world.token, area="DD"))
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        unit = db.session.scalars(select(Desk).where(Desk.token == world.token)).one().unit
        unit.service_areas.append(make_area("CT", "Chứng thực", "Certification"))
        db.session.execute(
            update(ServiceArea).where(ServiceArea.code == "HT").values(is_active=False)
        )
        db.session.commit()
    data = valid_answers(form_page(client, world.token, area="DD"))
    data["area"] = "HT"
    assert client.post(f"/r/{world.token}", data=data).status_code == 400
    # A desk with one area of its own takes every submission there, whatever its unit serves.
    data = valid_answers(form_page(client, world.single_token, area=None))
    assert client.post(f"/r/{world.single_token}", data=data).status_code == 303
    with app.app_context():
        stored = db.session.execute(
            select(Response.desk_id, ServiceArea.code)
            .join(ServiceArea, ServiceArea.id == Response.service_area_id)
            .order_by(Response.id)
        ).all()
        desks = dict(db.session.execute(select(Desk.token, Desk.id)).all())
    assert stored == [(desks[world.token], "DD"), (desks[world.single_token], "DD")]


def test_body_over_64_kb_is_refused(app: Flask, client: FlaskClient, world: World) -> None:
    data = valid_answers(form_page(client, world.token))
    data["q_Q_COMMENT"] = "a" * (65 * 1024)
    page = client.post(f"/r/{world.token}", data=data)
    assert page.status_code == 413
    assert "quá lớn" in page.get_data(as_text=True)
    with app.app_context():
        assert count(Response) == 0


@pytest.mark.parametrize(
    "comment",
    [
        b"C%E1n+b%F4",  # Latin-1 escapes
        b"C\xe1n b\xf4",  # Latin-1 bytes sent raw
        b"C%E1%BA",  # a UTF-8 sequence cut short ("\u1ea1" is E1 BA A1)
    ],
)
def test_non_utf8_body_is_refused(
    app: Flask, client: FlaskClient, world: World, comment: bytes
) -> None:
    data = valid_answers(form_page(client, world.token))
    body = (
        "&".join(
            f"{k}={v}" for k, v in data.items() if isinstance(v, str) and k != "q_Q_COMMENT"
        ).encode()
        + b"&q_Q_COMMENT="
        + comment
    )
    page = client.post(
        f"/r/{world.token}", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert page.status_code == 400
    with app.app_context():
        assert count(Response) == 0


def test_malformed_idempotency_key_is_refused(
    app: Flask, client: FlaskClient, world: World
) -> None:
    data = valid_answers(form_page(client, world.token))
    data["idempotency_key"] = "' OR 1=1 --"
    assert client.post(f"/r/{world.token}", data=data).status_code == 422
    with app.app_context():
        assert count(Response) == 0


def test_missing_csrf_token_keeps_the_answers_and_asks_to_resend(
    app: Flask, client: FlaskClient, world: World
) -> None:
    data = valid_answers(form_page(client, world.token))
    del data["csrf_token"]
    page = client.post(f"/r/{world.token}", data=data)
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "Phiên làm việc đã hết hạn" in html
    assert "Cán bộ rất nhiệt tình." in html
    with app.app_context():
        assert count(Response) == 0
    resend = valid_answers(html)
    assert client.post(f"/r/{world.token}", data=resend).status_code == 303
    with app.app_context():
        assert count(Response) == 1


def test_response_belongs_to_the_desk_in_the_url(
    app: Flask, client: FlaskClient, world: World
) -> None:
    data = valid_answers(form_page(client, world.single_token, area=None))
    assert client.post(f"/r/{world.single_token}", data=data).status_code == 303
    with app.app_context():
        response = db.session.scalars(select(Response)).one()
        assert response.unit_id != world.other_unit_id
        assert response.desk_id != world.other_unit_desk_id


PG_ONLY = pytest.mark.skipif(
    not POSTGRES_URL, reason="PostgreSQL only: the submit path runs on the driver there"
)


@PG_ONLY
def test_a_submission_whose_connection_was_lost_in_use_gets_503_and_the_resend_counts_once(
    app: Flask, client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 3600.0)  # in steady use
    data = valid_answers(form_page(client, world.token))
    assert server_closes_the_app_connections() >= 1
    lost = client.post(f"/r/{world.token}", data=data)
    assert lost.status_code == 503
    assert "tạm thời không phục vụ được" in lost.get_data(as_text=True)
    # The page's script (or the citizen) sends the same answers again: stored once, whole.
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        assert count(Response) == 1
        assert count(Answer) == 27


@PG_ONLY
def test_a_submission_after_the_server_closed_idle_connections_goes_through_unseen(
    app: Flask, client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = valid_answers(form_page(client, world.token))
    assert server_closes_the_app_connections() >= 1
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if idle for a while
    assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        assert count(Response) == 1


@PG_ONLY
def test_after_submissions_a_console_change_rolled_back_still_leaves_nothing(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The submit path lends pooled connections autocommit; the console's changes on the same
    connections must still be transactions, undone whole when they fail."""
    for _ in range(3):
        data = valid_answers(form_page(client, world.token))
        assert client.post(f"/r/{world.token}", data=data).status_code == 303
    with app.app_context():
        db.session.execute(update(Round).values(min_answer_seconds=99))
        db.session.execute(update(Desk).values(requires_dossier_code=True))
        db.session.rollback()
        assert db.session.scalar(select(Round.min_answer_seconds)) != 99
        assert not db.session.scalar(select(func.bool_or(Desk.requires_dossier_code)))


def test_a_response_records_the_language_it_was_answered_in(app: Flask, world: World) -> None:
    for lang, expected in (("en", "en"), ("", "vi")):
        phone = app.test_client()
        page = form_page(phone, world.token, lang=lang)
        assert phone.post(f"/r/{world.token}", data=valid_answers(page)).status_code == 303
        with app.app_context():
            newest = db.session.scalars(select(Response).order_by(Response.id.desc())).first()
            assert newest is not None and newest.locale == expected
