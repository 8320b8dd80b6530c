"""The demo province and the Quickstart command."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Desk, Response, ServiceArea, Unit
from tests.admin.conftest import login


def test_demo_builds_a_province_with_an_open_round_and_prints_desk_urls(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    urls = re.findall(r"http://127\.0\.0\.1:5000/r/[\w-]+", result.output)
    with app.app_context():
        desks = db.session.scalar(select(func.count(Desk.id)))
        assert desks is not None and desks >= 10
        assert len(urls) == desks
        assert (db.session.scalar(select(func.count(ServiceArea.id))) or 0) >= 6
        levels = set(db.session.scalars(select(Unit.level_code)))
        assert {"department", "district", "commune"} <= levels
    # Every printed link opens a questionnaire (or the area choice) for a citizen.
    client = app.test_client()
    for url in urls:
        page = client.get(url.removeprefix("http://127.0.0.1:5000"))
        assert page.status_code == 200
        assert "đợt khảo sát nào đang mở" not in page.get_data(as_text=True)
    # The sampled round beside it: its printed letters open the questionnaire, and most of
    # its letters already have an outcome (answers by every mode, refusals, returned letters).
    letters = re.findall(r"http://127\.0\.0\.1:5000/m/\w+", result.output)
    assert len(letters) == 3
    for url in letters:
        page = client.get(url.removeprefix("http://127.0.0.1:5000"))
        assert page.status_code == 200 and "Thư mời số" in page.get_data(as_text=True)
    with app.app_context():
        from survey.models import Invitation

        states = dict(
            db.session.execute(
                select(Invitation.state, func.count()).group_by(Invitation.state)
            ).all()
        )
        assert sum(states.values()) == 300 and states["answered"] > 100
        modes = set(db.session.scalars(select(Response.mode).where(Response.mode.is_not(None))))
        assert modes == {"self_web", "paper", "phone"}
    again = app.test_cli_runner().invoke(args=["demo"])
    assert again.exit_code == 0 and "created" not in again.output  # second run reuses it
    assert "opened the sampled round" not in again.output


def test_demo_responses_vary_by_unit(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--responses", "3000"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        at_desks = Response.desk_id.is_not(None)  # the QR round's; the sampled round has its own
        assert db.session.scalar(select(func.count(Response.id)).where(at_desks)) == 3000
        from survey.models import Answer, Item

        rows = db.session.execute(
            select(Response.unit_id, func.avg(Answer.value))
            .join(Answer, Answer.response_id == Response.id)
            .join(Item, Item.id == Answer.item_id)
            .where(Item.role == "criterion", Answer.value.is_not(None))
            .group_by(Response.unit_id)
        ).all()
        # The weighting frame stays plausible: responses are a fraction of dossiers.
        from survey.models import DossierCount
        from survey.services.responses.counting import cell_counts

        round_id = db.session.scalar(select(Response.round_id).where(at_desks).limit(1))
        frame = {
            (c.unit_id, c.service_area_id): c.dossiers
            for c in db.session.scalars(
                select(DossierCount).where(DossierCount.round_id == round_id)
            )
        }
        from survey.models import Round

        responses = cell_counts(db.session.get(Round, round_id))  # type: ignore[arg-type]
        assert all(frame[cell] >= 5 * n for cell, n in responses.items())
        means = [float(m) for _, m in rows]
        assert len(means) >= 8
        assert max(means) - min(means) > 0.2  # units really differ, as in the field
        assert all(1 <= m <= 5 for m in means)


def test_demo_rejects_a_negative_count(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--responses", "-5"])
    assert result.exit_code == 2
    assert "-5" in result.output


def test_demo_prints_staff_accounts_that_sign_in_with_their_role(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    found = re.search(r"password for every demo account: (\S+)\)", result.output)
    assert found is not None, result.output
    password = found.group(1)
    assert re.search(r"^  officer: unit_officer, UBND huyện Phong Điền$", result.output, re.M)
    officer = app.test_client()
    login(officer, "officer", password)
    units = officer.get("/admin/units").get_data(as_text=True)
    # The district officer sees the district and the commune under it, and no other unit.
    assert "UBND huyện Phong Điền" in units and "UBND xã Tân Thành" in units
    assert "Sở Tư pháp" not in units and "UBND xã Phú Lộc" not in units
    admin = app.test_client()
    login(admin, "admin", password)
    assert "Sở Tư pháp" in admin.get("/admin/units").get_data(as_text=True)
    # A second run prints a new password; the old one stops working.
    again = app.test_cli_runner().invoke(args=["demo"])
    assert again.exit_code == 0 and password not in again.output
    page = app.test_client().get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    refused = app.test_client().post(
        "/admin/login",
        data={"username": "admin", "password": password, "csrf_token": token.group(1)},
    )
    assert refused.status_code != 302


def test_demo_refuses_a_production_configuration(app_factory: Any) -> None:
    app = app_factory(ENV_NAME="production")
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code != 0
    assert "not for production" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Unit.id))) == 0
