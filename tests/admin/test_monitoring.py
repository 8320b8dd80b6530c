"""Monitoring a round: the numbers against the responses created here, the daily chart, burst
detection, and excluding and restoring responses."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditEvent, Response, ResponseStatus, Round, RoundState, Unit, utcnow
from survey.services.responses.counting import counted
from survey.services.rounds.monitoring import BurstRule, find_bursts
from tests.admin.conftest import Staff, csrf_token, login
from tests.factories import make_desk
from tests.helpers.rounds import add_responses, round_over, row_starting, tables, text_of


def _status(ids: list[int]) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Response.status).where(Response.id.in_(ids)).order_by(Response.id)
        )
    )


def _counted(round_id: int) -> int:
    round_ = db.session.get(Round, round_id)
    assert round_ is not None
    return db.session.scalar(select(func.count()).where(counted(round_))) or 0


@pytest.fixture
def busy_round(app: Flask, staff: Staff) -> dict[str, int]:
    """A round over three units with a known set of responses:

    U01 (target 10): 3 counted, 1 excluded; U01A (target 5): 2 counted; U02 (target 8): 4
    counted. One more U01 response arrived before the round opened and counts nowhere."""
    now = datetime(2026, 3, 10, 5, 0)  # 12:00 in Vietnam
    with app.app_context():
        sub_unit = db.session.get(Unit, staff.sub_unit_id)
        other_unit = db.session.get(Unit, staff.other_unit_id)
        assert sub_unit is not None and other_unit is not None
        sub_desk = make_desk(sub_unit)
        idle_desk = make_desk(other_unit, code="U02-Q9")
        db.session.commit()
        sub_desk_id, idle_desk_id = sub_desk.id, idle_desk.id
        rid = round_over(
            [staff.unit_id, staff.sub_unit_id, staff.other_unit_id],
            now=now,
            opens_at=datetime(2026, 3, 8, 5, 0),  # noon on 8 March in Vietnam
            closes_at=datetime(2026, 3, 12, 5, 0),  # four days: half of them have passed at now
            targets={staff.unit_id: 10, staff.sub_unit_id: 5, staff.other_unit_id: 8},
        )
        # 8 March, 23:30 in Vietnam is 16:30 UTC: it belongs to the 8th, not the 9th.
        add_responses(rid, staff.desk_id, [datetime(2026, 3, 8, 16, 30)])
        add_responses(rid, staff.desk_id, [datetime(2026, 3, 9, 2, 0), datetime(2026, 3, 9, 3, 0)])
        add_responses(rid, staff.desk_id, [datetime(2026, 3, 9, 4, 0)], excluded=True)
        add_responses(rid, staff.desk_id, [datetime(2026, 3, 7, 4, 0)])  # before the period
        add_responses(rid, sub_desk_id, [datetime(2026, 3, 9, 18, 0), datetime(2026, 3, 10, 1, 0)])
        add_responses(rid, staff.other_desk_id, [datetime(2026, 3, 10, 2, 0)] * 4)
    return {"round": rid, "sub_desk": sub_desk_id, "idle_desk": idle_desk_id}


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    now = datetime(2026, 3, 10, 5, 0)
    for module in ("survey.admin.monitoring", "survey.admin.rounds"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: now)
    return now


def test_monitoring_numbers_match_the_responses(
    client: FlaskClient, staff: Staff, busy_round: dict[str, int], frozen_clock: datetime
) -> None:
    login(client, "admin")
    page = text_of(client, f"/admin/rounds/{busy_round['round']}/monitoring")
    flat = " ".join(page.split())
    assert "Thời gian đã qua: <meter" in flat and "<strong>50%</strong>" in flat
    assert "Phiếu được tính: <strong>9</strong> / chỉ tiêu 23" in flat
    assert "Phiếu bị loại (không tính): <strong>1</strong>" in flat
    # per unit: target, counted, excluded, progress
    assert row_starting(page, "U01 – ")[1:4] == ["10", "3", "1"]
    assert row_starting(page, "U01 – ")[4].startswith("30%")
    assert "chậm tiến độ" in row_starting(page, "U01 – ")[4]  # 30% of target, 50% of time
    assert row_starting(page, "U01A – ")[1:4] == ["5", "2", "0"]
    assert row_starting(page, "U02 – ")[1:4] == ["8", "4", "0"]
    assert "chậm tiến độ" not in row_starting(page, "U02 – ")[4]
    # per service area
    assert row_starting(page, "HT – Hộ tịch") == ["HT – Hộ tịch", "9", "1"]
    # per day, in Vietnam time
    assert row_starting(page, "08/03/2026") == ["08/03/2026", "1", "0"]
    assert "07/03/2026" not in page  # before the period: counts nowhere
    assert row_starting(page, "09/03/2026") == ["09/03/2026", "2", "1"]
    # 9 March 18:00 UTC is 10 March 01:00 in Vietnam
    assert row_starting(page, "10/03/2026") == ["10/03/2026", "6", "0"]
    # per desk, and the desk without responses
    assert row_starting(page, "U01-Q1")[2:4] == ["3", "1"]
    idle = [t for t in tables(page) if t and t[0][:2] == ["Quầy", "Đơn vị"] and len(t[0]) == 3]
    assert [row[0] for row in idle[0][1:]] == ["U02-Q9 – Quầy số 1"]


def test_officer_monitoring_shows_only_their_units(
    client: FlaskClient, staff: Staff, busy_round: dict[str, int], frozen_clock: datetime
) -> None:
    login(client, "officer")
    page = text_of(client, f"/admin/rounds/{busy_round['round']}/monitoring")
    flat = " ".join(page.split())
    assert "Phiếu được tính: <strong>5</strong> / chỉ tiêu 15" in flat
    assert "U02 – " not in page and "U02-Q" not in page
    assert row_starting(page, "U01A – ")[1:4] == ["5", "2", "0"]


@pytest.mark.parametrize(
    ("role", "target", "expected"),
    [
        ("officer", "other_desk", 403),
        ("officer", "desk", 200),
        ("officer", "sub_desk", 200),
        ("analyst", "other_desk", 200),
        ("admin", "missing", 404),
    ],
)
def test_desk_pages_by_role(
    client: FlaskClient,
    staff: Staff,
    busy_round: dict[str, int],
    role: str,
    target: str,
    expected: int,
) -> None:
    desk_id = {
        "desk": staff.desk_id,
        "other_desk": staff.other_desk_id,
        "sub_desk": busy_round["sub_desk"],
        "missing": 999999,
    }[target]
    login(client, role)
    answer = client.get(f"/admin/rounds/{busy_round['round']}/desks/{desk_id}")
    assert answer.status_code == expected


def test_officer_cannot_open_monitoring_of_a_round_without_their_units(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        rid = round_over([staff.other_unit_id], now=utcnow())
    login(client, "officer")
    for url in (
        f"/admin/rounds/{rid}/monitoring",
        f"/admin/rounds/{rid}/monitoring/daily.svg",
        f"/admin/rounds/{rid}/desks/{staff.other_desk_id}",
        f"/admin/rounds/{rid}",
    ):
        assert client.get(url).status_code == 403, url


def test_desk_outside_the_round_is_404(app: Flask, client: FlaskClient, staff: Staff) -> None:
    with app.app_context():
        rid = round_over([staff.unit_id], now=utcnow())
    login(client, "admin")
    assert client.get(f"/admin/rounds/{rid}/desks/{staff.other_desk_id}").status_code == 404


def test_daily_chart_is_an_svg_image(
    client: FlaskClient, staff: Staff, busy_round: dict[str, int], frozen_clock: datetime
) -> None:
    login(client, "analyst")
    answer = client.get(f"/admin/rounds/{busy_round['round']}/monitoring/daily.svg")
    assert answer.status_code == 200
    assert answer.mimetype == "image/svg+xml"
    body = answer.get_data(as_text=True)
    assert "<svg" in body and "</svg>" in body
    assert "script" not in answer.headers["Content-Security-Policy"]


# --- bursts -------------------------------------------------------------------------------------


def _steady(start: datetime, hours: int, per_hour: int) -> list[datetime]:
    step = timedelta(minutes=60 / per_hour)
    return [start + i * step for i in range(hours * per_hour)]


def test_burst_detection_finds_a_constructed_burst_and_spares_a_busy_desk(
    app: Flask, staff: Staff
) -> None:
    now = datetime(2026, 3, 10, 10, 0)
    with app.app_context():
        rid = round_over(
            [staff.unit_id, staff.other_unit_id],
            now=now,
            opens_at=datetime(2026, 3, 9, 0, 0),
            closes_at=datetime(2026, 3, 20, 0, 0),
        )
        # A quiet desk: 2 an hour for 10 hours, then 15 responses 20 seconds apart.
        add_responses(rid, staff.desk_id, _steady(datetime(2026, 3, 9, 1, 0), 10, 2))
        burst_start = datetime(2026, 3, 9, 14, 0, 5)
        burst = [burst_start + timedelta(seconds=20 * i) for i in range(15)]
        add_responses(rid, staff.desk_id, burst)
        # A busy desk: one a minute for 5 hours is 10 per 10 minutes, its usual rate.
        add_responses(rid, staff.other_desk_id, _steady(datetime(2026, 3, 9, 1, 0), 5, 60))

        round_ = db.session.get(Round, rid)
        assert round_ is not None
        found = find_bursts(round_, None)
        assert len(found) == 1
        assert found[0].desk_id == staff.desk_id
        assert (found[0].start, found[0].end) == (burst[0], burst[-1])
        assert found[0].responses == 15
        assert found[0].peak == 15
        # A stricter rule flags nothing; the officer of the other branch sees nothing.
        assert find_bursts(round_, None, BurstRule(min_responses=16)) == []
        assert find_bursts(round_, {staff.other_unit_id}) == []


@pytest.fixture
def burst_round(app: Flask, staff: Staff) -> dict[str, object]:
    now = utcnow()
    with app.app_context():
        rid = round_over([staff.unit_id, staff.other_unit_id], now=now)
        quiet = add_responses(rid, staff.desk_id, _steady(now - timedelta(hours=20), 10, 1))
        start = now - timedelta(hours=2)
        burst = add_responses(
            rid, staff.desk_id, [start + timedelta(seconds=30 * i) for i in range(12)]
        )
        other = add_responses(rid, staff.other_desk_id, [now - timedelta(hours=1)])
    return {"round": rid, "quiet": quiet, "burst": burst, "other": other}


def test_a_burst_is_listed_and_excluded_as_a_batch_then_restored(
    app: Flask, client: FlaskClient, staff: Staff, burst_round: dict[str, object]
) -> None:
    rid = burst_round["round"]
    burst: list[int] = burst_round["burst"]  # type: ignore[assignment]
    login(client, "admin")
    page = text_of(client, f"/admin/rounds/{rid}/monitoring")
    row = row_starting(page, "U01-Q1 – Quầy số 1")
    assert row[3:5] == ["12", "12"]
    # The link from the burst opens the desk page on the burst's window.
    link = page.split('href="/admin/rounds/')[1:]
    window_link = next(
        "/admin/rounds/" + part.split('"')[0] for part in link if "start=" in part.split('"')[0]
    ).replace("&amp;", "&")
    desk_page = text_of(client, window_link)
    assert "Khoảng thời gian tăng đột biến" in desk_page
    assert len([r for t in tables(desk_page) for r in t[1:]]) == 12

    batch_url = window_link.replace(f"/desks/{staff.desk_id}?", f"/desks/{staff.desk_id}/batch?")
    token = csrf_token(client, window_link)
    start = window_link.split("start=")[1].split("&")[0]
    end = window_link.split("end=")[1].split("&")[0]
    from urllib.parse import unquote

    data = {
        "csrf_token": token,
        "batch-window_start": unquote(start),
        "batch-window_end": unquote(end),
        "batch-reason": "Một người bấm liên tục trong 6 phút",
        "action": "exclude",
    }
    # Without the confirmation box nothing happens.
    answer = client.post(batch_url, data=data)
    assert answer.status_code == 422
    assert "Đánh dấu ô xác nhận để tiếp tục." in answer.get_data(as_text=True)
    with app.app_context():
        assert set(_status(burst)) == {"counted"}

    answer = client.post(batch_url, data={**data, "batch-confirm": "y"})
    assert answer.status_code == 303
    assert "Đã thay đổi 12 phiếu." in text_of(client, answer.headers["Location"])
    with app.app_context():
        assert set(_status(burst)) == {"excluded"}
        assert _counted(rid) == 11  # 10 quiet + 1 at the other desk  # type: ignore[arg-type]
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "responses.exclude")
        ).one()
        assert event.actor_id is not None
        assert event.note == "Một người bấm liên tục trong 6 phút"
        assert event.after is not None and len(event.after["responses"]) == 12
        assert event.before is not None
        assert {v["status"] for v in event.before["responses"].values()} == {"counted"}

    page = text_of(client, f"/admin/rounds/{rid}/monitoring")
    assert "Không phát hiện quầy nào có phiếu tăng đột biến." in page
    flat = " ".join(page.split())
    assert "Phiếu được tính: <strong>11</strong>" in flat
    assert "Phiếu bị loại (không tính): <strong>12</strong>" in flat
    assert row_starting(page, "U01-Q1")[2:4] == ["10", "12"]

    restore = {**data, "batch-confirm": "y", "action": "restore", "batch-reason": "Đã xác minh"}
    answer = client.post(batch_url, data=restore)
    assert answer.status_code == 303
    with app.app_context():
        assert set(_status(burst)) == {"counted"}
        excluded_reasons = db.session.scalars(
            select(Response.exclusion_reason).where(Response.id.in_(burst))
        ).all()
        assert set(excluded_reasons) == {None}
        assert _counted(rid) == 23  # type: ignore[arg-type]
        assert (
            db.session.scalar(select(func.count()).where(AuditEvent.action == "responses.restore"))
            == 1
        )


def test_excluding_chosen_responses_and_refusing_foreign_ids(
    app: Flask, client: FlaskClient, staff: Staff, burst_round: dict[str, object]
) -> None:
    rid = burst_round["round"]
    quiet: list[int] = burst_round["quiet"]  # type: ignore[assignment]
    other: list[int] = burst_round["other"]  # type: ignore[assignment]
    url = f"/admin/rounds/{rid}/desks/{staff.desk_id}/responses"
    login(client, "admin")
    token = csrf_token(client, f"/admin/rounds/{rid}/desks/{staff.desk_id}")
    base = {"csrf_token": token, "reason": "Cán bộ thử hệ thống", "confirm": "y"}

    # Another desk's response slipped into the form: refused, nothing changes.
    answer = client.post(
        url, data={**base, "action": "exclude", "response_ids": [str(quiet[0]), str(other[0])]}
    )
    assert answer.status_code == 422
    assert "Có phiếu không thuộc quầy này" in answer.get_data(as_text=True)
    with app.app_context():
        assert _status([quiet[0], other[0]]) == ["counted", "counted"]

    # Nothing ticked, a missing reason, garbage ids, an unknown action.
    assert client.post(url, data={**base, "action": "exclude"}).status_code == 422
    no_reason = {**base, "reason": "", "action": "exclude", "response_ids": [str(quiet[0])]}
    assert client.post(url, data=no_reason).status_code == 422
    garbage = {**base, "action": "exclude", "response_ids": ["abc"]}
    assert client.post(url, data=garbage).status_code == 422
    unknown = {**base, "action": "delete", "response_ids": [str(quiet[0])]}
    assert client.post(url, data=unknown).status_code == 400
    no_csrf = {k: v for k, v in base.items() if k != "csrf_token"}
    no_csrf.update(action="exclude", response_ids=[str(quiet[0])])
    assert client.post(url, data=no_csrf).status_code == 400
    with app.app_context():
        assert _status([quiet[0]]) == ["counted"]

    answer = client.post(
        url, data={**base, "action": "exclude", "response_ids": [str(q) for q in quiet[:2]]}
    )
    assert answer.status_code == 303
    with app.app_context():
        assert _status(quiet[:3]) == ["excluded", "excluded", "counted"]
        reason = db.session.scalar(select(Response.exclusion_reason).where(Response.id == quiet[0]))
        assert reason == "Cán bộ thử hệ thống"
    page = text_of(client, f"/admin/rounds/{rid}/desks/{staff.desk_id}?status=excluded")
    assert len([r for t in tables(page) for r in t[1:]]) == 2

    # Excluding them again changes nothing and writes no second event.
    client.post(url, data={**base, "action": "exclude", "response_ids": [str(quiet[0])]})
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).where(AuditEvent.action == "responses.exclude"))
            == 1
        )


@pytest.mark.parametrize("role", ["analyst", "officer"])
def test_only_administrators_exclude(
    app: Flask, client: FlaskClient, staff: Staff, burst_round: dict[str, object], role: str
) -> None:
    rid = burst_round["round"]
    quiet: list[int] = burst_round["quiet"]  # type: ignore[assignment]
    login(client, role)
    token = csrf_token(client)
    data = {
        "csrf_token": token,
        "reason": "Tôi muốn loại",
        "confirm": "y",
        "action": "exclude",
        "response_ids": [str(quiet[0])],
    }
    page = text_of(client, f"/admin/rounds/{rid}/desks/{staff.desk_id}")
    assert "Loại các phiếu đã chọn" not in page
    assert (
        client.post(f"/admin/rounds/{rid}/desks/{staff.desk_id}/responses", data=data).status_code
        == 403
    )
    assert (
        client.post(f"/admin/rounds/{rid}/desks/{staff.desk_id}/batch", data=data).status_code
        == 403
    )
    with app.app_context():
        assert _status([quiet[0]]) == ["counted"]


def test_a_published_round_refuses_exclusions(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    now = utcnow()
    with app.app_context():
        rid = round_over([staff.unit_id], now=now, state=RoundState.OPEN)
        ids = add_responses(rid, staff.desk_id, [now - timedelta(minutes=5)])
        round_ = db.session.get(Round, rid)
        assert round_ is not None
        from survey.services.rounds.lifecycle import transition_round

        transition_round(round_, RoundState.CLOSED, now=now)
        transition_round(round_, RoundState.PUBLISHED, now=now)
        db.session.commit()
    login(client, "admin")
    data = {
        "csrf_token": csrf_token(client),
        "reason": "Quá muộn",
        "confirm": "y",
        "action": "exclude",
        "response_ids": [str(ids[0])],
    }
    answer = client.post(f"/admin/rounds/{rid}/desks/{staff.desk_id}/responses", data=data)
    assert answer.status_code == 409
    with app.app_context():
        assert _status(ids) == [ResponseStatus.COUNTED.value]


def test_anonymous_visitors_are_sent_to_login_and_cannot_post(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    with app.app_context():
        rid = round_over([staff.unit_id], now=utcnow())
        ids = add_responses(rid, staff.desk_id, [utcnow() - timedelta(minutes=3)])
    for url in (
        f"/admin/rounds/{rid}/monitoring",
        f"/admin/rounds/{rid}/monitoring/daily.svg",
        f"/admin/rounds/{rid}/desks/{staff.desk_id}",
    ):
        answer = client.get(url)
        assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]
    data = {"reason": "không đăng nhập", "confirm": "y", "action": "exclude"}
    data["response_ids"] = str(ids[0])
    answer = client.post(f"/admin/rounds/{rid}/desks/{staff.desk_id}/responses", data=data)
    assert answer.status_code == 400  # no CSRF token, no session
    with app.app_context():
        assert _status(ids) == ["counted"]


# --- stuffing beyond bursts: implausible volumes and repeated answers ---------------------------


def _scale_items(rid: int) -> tuple[list[int], int]:
    """The round's scored items (ids) and its comment item (id)."""
    from survey.models import Scale

    round_ = db.session.get_one(Round, rid)
    items = round_.template_version.items
    scored = [i.id for i in items if i.scale not in (Scale.TEXT, Scale.CHOICE)]
    [comment] = [i.id for i in items if i.scale == Scale.TEXT]
    return scored, comment


def _record(rid: int, desk_id: int, at: datetime, values: list[int], comment: str | None) -> int:
    from survey.models import Desk
    from survey.services.responses.recording import AnswerValue, record_response

    desk = db.session.get_one(Desk, desk_id)
    scored, comment_id = _scale_items(rid)
    answers = [AnswerValue(i, value=v) for i, v in zip(scored, values, strict=False)]
    if comment:
        answers.append(AnswerValue(comment_id, text=comment))
    return record_response(
        round_=db.session.get_one(Round, rid),
        desk_id=desk.id,
        unit_id=desk.unit_id,
        service_area_id=desk.unit.service_areas[0].id,
        answers=answers,
        idempotency_key=f"k-{desk_id}-{at.timestamp():.0f}-{sum(values)}-{len(values)}",
        now=at,
    ).response_id


@pytest.fixture
def drip_round(app: Flask, staff: Staff) -> dict[str, object]:
    """A script at U01-Q1 sends the same answers 9 times every 10 minutes for two hours (108
    responses, never 10 in a window: under the burst rule); 40 citizens answer as they please
    at U02-Q1 over the same hours."""
    import numpy as np

    now = utcnow().replace(microsecond=0)
    start = now - timedelta(hours=3)
    with app.app_context():
        rid = round_over(
            [staff.unit_id, staff.other_unit_id],
            now=now,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=2),
        )
        scored, _comment = _scale_items(rid)
        script = [4] * len(scored)
        dripped = [
            _record(
                rid,
                staff.desk_id,
                start + timedelta(minutes=10 * batch, seconds=61 * n),
                script,
                "Rất hài lòng.",
            )
            for batch in range(12)
            for n in range(9)
        ]
        rng = np.random.default_rng(20261205)
        honest = [
            _record(
                rid,
                staff.other_desk_id,
                start + timedelta(minutes=4 * n),
                [int(v) for v in rng.integers(2, 6, size=len(scored))],
                None,
            )
            for n in range(40)
        ]
    return {"round": rid, "dripped": dripped, "honest": honest}


def test_a_steady_drip_of_identical_answers_is_flagged_though_no_burst_is(
    app: Flask, staff: Staff, drip_round: dict[str, object]
) -> None:
    from survey.services.rounds.monitoring import find_repeated_answers

    rid = drip_round["round"]
    with app.app_context():
        round_ = db.session.get_one(Round, rid)
        assert find_bursts(round_, None) == []  # the burst rule never sees it
        [flag] = find_repeated_answers(round_, None)
        assert (flag.desk_id, flag.repeats, flag.responses) == (staff.desk_id, 108, 108)
        # Reported only to readers who may see the desk.
        assert find_repeated_answers(round_, {staff.other_unit_id}) == []


def test_the_flagged_answers_are_shown_side_by_side_and_excluded_with_the_usual_form(
    app: Flask, client: FlaskClient, staff: Staff, drip_round: dict[str, object]
) -> None:
    rid = drip_round["round"]
    dripped: list[int] = drip_round["dripped"]  # type: ignore[assignment]
    login(client, "admin")
    page = text_of(client, f"/admin/rounds/{rid}/monitoring")
    row = row_starting(page, "U01-Q1 – Quầy số 1")
    assert row[3:5] == ["108", "108"]
    link = next(
        "/admin/rounds/" + part.split('"')[0]
        for part in page.split('href="/admin/rounds/')[1:]
        if "answers=" in part.split('"')[0]
    ).replace("&amp;", "&")
    desk_page = text_of(client, link)
    assert "Các phiếu trả lời giống hệt nhau" in desk_page
    side_by_side = next(t for t in tables(desk_page) if "A1" in t[0])
    # One row per response of the page (50), each with the same answers; comments not shown.
    assert len(side_by_side) == 1 + 50
    assert {tuple(r[1:]) for r in side_by_side[1:]} == {tuple(side_by_side[1][1:])}
    assert "Rất hài lòng." not in desk_page
    ids = [int(r[0]) for r in side_by_side[1:]]
    answer = client.post(
        f"/admin/rounds/{rid}/desks/{staff.desk_id}/responses",
        data={
            "csrf_token": csrf_token(client, link),
            "response_ids": [str(i) for i in ids],
            "reason": "Cùng một bộ câu trả lời, 9 phiếu mỗi 10 phút",
            "confirm": "y",
            "action": "exclude",
        },
    )
    assert answer.status_code == 303
    with app.app_context():
        assert _status(ids) == ["excluded"] * 50
        assert _counted(rid) == 108 - 50 + 40  # type: ignore[arg-type]
        assert set(ids) <= set(dripped)


def test_a_desk_answering_for_more_citizens_than_its_dossiers_is_flagged(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    from survey.models import Desk, DossierCount
    from survey.services.rounds.monitoring import find_implausible_desks

    now = utcnow()
    with app.app_context():
        rid = round_over([staff.unit_id, staff.other_unit_id], now=now)
        stuffed = db.session.get_one(Desk, staff.desk_id)
        busy = db.session.get_one(Desk, staff.other_desk_id)
        for desk, dossiers in ((stuffed, 20), (busy, 1000)):
            db.session.add(
                DossierCount(
                    round_id=rid,
                    unit_id=desk.unit_id,
                    service_area_id=desk.unit.service_areas[0].id,
                    dossiers=dossiers,
                )
            )
        db.session.commit()
        # 15 answers for a cell that handled 20 dossiers; 150 for one that handled 1,000.
        add_responses(rid, staff.desk_id, _steady(now - timedelta(hours=20), 15, 1))
        add_responses(rid, staff.other_desk_id, _steady(now - timedelta(hours=20), 15, 10))
        [flag] = find_implausible_desks(db.session.get_one(Round, rid), None)
        assert (flag.desk_id, flag.responses, flag.dossiers) == (staff.desk_id, 15, 20)
    login(client, "admin")
    page = text_of(client, f"/admin/rounds/{rid}/monitoring")
    assert "Quầy có nhiều phiếu hơn mức hợp lý so với số hồ sơ" in page
    row = row_starting(page, "U01-Q1 – Quầy số 1")
    assert row[3:5] == ["15", "20"]
