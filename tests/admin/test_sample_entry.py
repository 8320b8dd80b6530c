"""Paper forms and interviews entered by staff, as an office does it with double entry: two
clerks enter the same form, a difference stops it from counting until a third person resolves it
against the paper; identical entries count at once; bad input stores nothing."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Invitation, InvitationEntry, Response, Role, Unit, User, utcnow
from survey.services.accounts.api_tokens import create_token
from survey.services.accounts.users import create_user
from survey.services.responses.abuse import server_key
from survey.services.rounds.sampling import draw_sample, import_frame
from tests.admin.conftest import PASSWORD, Staff, csrf_token, login
from tests.admin.test_samples import FRAME
from tests.factories import make_round


def _sampled_round(app: Flask, staff: Staff) -> int:
    with app.test_request_context():
        units = [db.session.get(Unit, staff.unit_id), db.session.get(Unit, staff.other_unit_id)]
        round_ = make_round([u for u in units if u is not None])
        round_.kind = "sample"
        admin = create_user(username="clerk1", password=PASSWORD, role=Role.ADMIN, now=utcnow())
        create_user(username="clerk2", password=PASSWORD, role=Role.ADMIN, now=utcnow())
        key = server_key("DOSSIER_CODE_KEY")
        import_frame(round_, FRAME.encode(), key=key, now=utcnow(), actor=admin)
        draw_sample(
            round_,
            method="equal",
            total=8,
            seed=11,
            key=key,
            now=utcnow(),
            actor=admin,
            double_entry=True,
        )
        db.session.commit()
        return round_.id


def _answers(html: str, csrf: str, mode: str = "paper", changed: str = "") -> dict[str, object]:
    """Every scale question of the entry form answered (4 where it can be), one changed to 2."""
    data: dict[str, object] = {"csrf_token": csrf, "mode": mode}
    for name in dict.fromkeys(re.findall(r'name="(q_[A-Za-z0-9_]+)" type="radio"', html)):
        values = re.findall(rf'name="{name}" type="radio" value="([^"]+)"', html)
        data[name] = "4" if "4" in values else values[0]
    if changed:
        data[changed] = "2"
    return data


def _counted(app: Flask) -> list[tuple[str | None, str | None]]:
    with app.app_context():
        return [(r.mode, r.channel) for r in db.session.scalars(select(Response))]


def test_two_clerks_differ_a_third_resolves_and_identical_entries_count_at_once(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    rid = _sampled_round(app, staff)
    base = f"/admin/rounds/{rid}/sample"
    with app.app_context():
        first = db.session.scalar(select(Invitation).where(Invitation.reference == f"{rid}-00001"))
        second = db.session.scalar(select(Invitation).where(Invitation.reference == f"{rid}-00002"))
        assert first is not None and second is not None
        first_id, second_id = first.id, second.id
        strata = {(i.frame_row.unit_id, i.frame_row.service_area_id) for i in (first, second)}

    login(client, "clerk1")
    page = client.get(f"{base}/entry?reference={rid}-00001").get_data(as_text=True)
    assert "nhập hai lần" in page
    token = csrf_token(client, f"{base}/entry")
    sent = client.post(f"{base}/entry/{first_id}", data=_answers(page, token))
    assert sent.status_code == 303
    assert "lần nhập thứ nhất" in client.get(sent.headers["Location"]).get_data(as_text=True)
    assert _counted(app) == []
    again = client.get(f"{base}/entry?reference={rid}-00001").get_data(as_text=True)
    assert "Lần nhập thứ hai phải do một người khác" in again
    client.post(f"{base}/entry/{second_id}", data=_answers(page, token, mode="phone"))
    client.post("/admin/logout", data={"csrf_token": token})

    login(client, "clerk2")
    token = csrf_token(client, f"{base}/entry")
    question = sorted(k for k in _answers(page, token) if k.startswith("q_"))[0]
    differing = _answers(page, token, changed=question)
    sent = client.post(f"{base}/entry/{first_id}", data=differing)
    shown = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "khác nhau" in shown and question.removeprefix("q_") in shown
    assert _counted(app) == []
    # A clerk who entered the form cannot be the one who resolves it.
    refused = client.post(f"{base}/resolve/{first_id}", data=differing)
    assert (
        "người đối chiếu phải khác"
        in client.get(refused.headers["Location"]).get_data(as_text=True).lower()
    )
    # The second invitation entered identically (same answers, same mode): counts at once.
    assert (
        client.post(
            f"{base}/entry/{second_id}", data=_answers(page, token, mode="phone")
        ).status_code
        == 303
    )
    assert _counted(app) == [("phone", "paper")]
    client.post("/admin/logout", data={"csrf_token": token})

    login(client, "admin")
    token = csrf_token(client, f"{base}/entry")
    resolved = client.post(f"{base}/resolve/{first_id}", data=_answers(page, token))
    assert resolved.status_code == 303
    assert sorted(_counted(app), key=str) == [("paper", "paper"), ("phone", "paper")]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InvitationEntry)) == 0
        done = db.session.get(Invitation, first_id)
        assert done is not None and (done.state, done.mode) == ("answered", "paper")
        responses = db.session.scalars(select(Response)).all()
        assert all(r.desk_id is None for r in responses)
        assert {(r.unit_id, r.service_area_id) for r in responses} == strata
    # Answered: no more entries, and the response rates say so.
    late = client.post(f"{base}/entry/{first_id}", data=_answers(page, token))
    assert "đã có câu trả lời" in client.get(late.headers["Location"]).get_data(as_text=True)
    rates = client.get(base).get_data(as_text=True)
    assert "RR1" in rates and "25,0\u00a0%" in rates  # 2 complete of 8 sampled
    # The API gives the answers with their mode and no desk (the schema says desk_id may be
    # null).
    with app.app_context():
        user = db.session.scalars(select(User).where(User.username == "admin")).one()
        secret = create_token(user, "entry check", actor=user, now=utcnow()).secret
        db.session.commit()
    listed = client.get(
        f"/api/v1/rounds/{rid}/responses", headers={"Authorization": f"Bearer {secret}"}
    )
    assert listed.status_code == 200, listed.get_data(as_text=True)[:300]
    body = listed.get_json()
    items = body["items"]
    assert sorted((r["mode"], r["desk_id"]) for r in items) == [("paper", None), ("phone", None)]


def test_bad_entries_are_refused_with_a_reason_and_store_nothing(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    rid = _sampled_round(app, staff)
    base = f"/admin/rounds/{rid}/sample"
    login(client, "admin")
    missing = client.get(f"{base}/entry?reference={rid}-77777")
    assert missing.status_code == 404 and "Không có thư mời số" in missing.get_data(as_text=True)
    # The one-time code printed on the letter finds it too.
    with app.test_request_context():
        from survey.services.rounds.sampling import one_time_code

        row = db.session.scalar(
            select(Invitation).where(Invitation.reference == f"{rid}-00005")
        ).frame_row
        code = one_time_code(rid, row.code_hash, server_key("DOSSIER_CODE_KEY"))
    found = client.get(f"{base}/entry?reference={code.lower()}")
    assert found.status_code == 200 and f"Thư mời {rid}-00005" in found.get_data(as_text=True)
    page = client.get(f"{base}/entry?reference={rid}-00003").get_data(as_text=True)
    token = csrf_token(client, f"{base}/entry")
    with app.app_context():
        invitation = db.session.scalar(
            select(Invitation).where(Invitation.reference == f"{rid}-00003")
        )
        assert invitation is not None
        iid = invitation.id
    data = _answers(page, token)
    assert client.post(f"{base}/entry/{iid}", data=data | {"mode": "fax"}).status_code == 422
    bad_value = client.post(
        f"{base}/entry/{iid}", data=data | {next(iter(k for k in data if k.startswith("q_"))): "9"}
    )
    assert bad_value.status_code == 422
    assert "Giá trị không hợp lệ" in bad_value.get_data(as_text=True)
    assert client.post(f"{base}/entry/{iid}", data=data | {"csrf_token": "x"}).status_code == 400
    assert client.post(f"{base}/entry/999999", data=data).status_code == 404
    assert client.post(f"{base}/resolve/{iid}", data=data).status_code == 303  # nothing to resolve
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InvitationEntry)) == 0
        assert db.session.scalar(select(func.count(Response.id))) == 0
        other = make_round(
            [u for u in [db.session.get(Unit, staff.unit_id)] if u is not None], name="QR"
        )
        db.session.commit()
        qr_round = other.id
    # A QR round has no invitations to enter.
    assert client.get(f"/admin/rounds/{qr_round}/sample/entry").status_code == 409


def test_a_unit_officer_sees_the_response_rates_of_their_own_units_only(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    rid = _sampled_round(app, staff)
    login(client, "officer")
    page = client.get(f"/admin/rounds/{rid}/monitoring")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    rates = html[html.index('id="rates"') :]
    assert "UBND phường Bình Minh" in rates and "UBND xã Phú Lộc" not in rates
    assert client.get(f"/admin/rounds/{rid}/sample/entry").status_code == 403


def test_the_trimming_rule_is_written_in_the_readers_language(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    rid = _sampled_round(app, staff)
    login(client, "admin")
    assert "3,5 lần trung vị" in client.get(f"/admin/rounds/{rid}/sample").get_data(as_text=True)
    english = client.get(f"/admin/rounds/{rid}/sample?lang=en").get_data(as_text=True)
    assert "above 3.5 times the median" in english
