"""The demo province and the Quickstart command."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Desk, Response, ServiceArea, Unit


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
    again = app.test_cli_runner().invoke(args=["demo"])
    assert again.exit_code == 0 and "created" not in again.output  # second run reuses it


def test_demo_responses_vary_by_unit(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--responses", "3000"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == 3000
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
        from survey.services.results import cell_counts

        round_id = db.session.scalar(select(Response.round_id).limit(1))
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
