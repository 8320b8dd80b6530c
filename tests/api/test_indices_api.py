"""The API's index table and the public results page, on the demo province: the same numbers
as ``round_index`` (the estimation every page uses), a unit officer's token limited to their
units' rows, and a public page with units' indices and intervals but no comments."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from analysis.publishing import assess
from analysis.satisfaction import IndexKind, Level
from survey.extensions import db
from survey.models import CommentState, Desk, Role, Round, RoundState, Unit, User, utcnow
from survey.services.access import unit_subtree
from survey.services.accounts.api_tokens import create_token
from survey.services.accounts.users import create_user
from survey.services.demo import build_demo_province, simulate_responses
from survey.services.responses.comments import review_comment
from survey.services.results.indices import round_index
from survey.services.results.publication import set_round_public
from survey.services.rounds.lifecycle import transition_round
from tests.api.conftest import bearer
from tests.helpers.comments import add_comment
from tests.helpers.openapi import check_schema

COMMENT = "Cán bộ rất nhiệt tình, cảm ơn"


@dataclass(frozen=True)
class Demo:
    round_id: int
    tokens: dict[str, str]
    officer_codes: set[str]


@pytest.fixture
def demo(app: Flask) -> Demo:
    with app.app_context():
        now = utcnow()
        round_ = build_demo_province(now=now)
        simulate_responses(round_, 400, now=now)
        desk = db.session.scalar(select(Desk).where(Desk.unit_id == round_.scope[0].unit_id))
        assert desk is not None
        answer_id = add_comment(round_.id, desk.id, COMMENT, now=now)
        unit = db.session.get(Unit, round_.scope[0].unit_id)
        assert unit is not None
        admin = create_user(
            username="api-admin", password="ao-dai-xanh-2026", role=Role.ADMIN, now=now
        )
        analyst = create_user(
            username="api-analyst", password="ao-dai-xanh-2026", role=Role.ANALYST, now=now
        )
        officer = create_user(
            username="api-officer",
            password="ao-dai-xanh-2026",
            role=Role.UNIT_OFFICER,
            unit=unit,
            now=now,
        )
        review_comment(round_, answer_id, CommentState.APPROVED, actor=analyst, now=now)
        tokens = {
            user.role: create_token(user, "t", actor=admin, now=now).secret
            for user in (admin, analyst, officer)
        }
        codes = {u.code for u in db.session.query(Unit).filter(Unit.id.in_(unit_subtree(unit.id)))}
        db.session.commit()
        return Demo(round_.id, tokens, codes)


def _all(client: FlaskClient, url: str, token: str) -> list[dict]:
    rows: list[dict] = []
    page = 1
    while True:
        answer = client.get(
            f"{url}{'&' if '?' in url else '?'}page={page}&per_page=200", headers=bearer(token)
        )
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        rows += body["items"]
        if page >= body["pages"]:
            return rows
        page += 1


def test_index_table_through_the_api(app: Flask, client: FlaskClient, demo: Demo) -> None:
    url = f"/api/v1/rounds/{demo.round_id}/indices"
    rows = _all(client, url, demo.tokens["analyst"])
    with app.app_context():
        round_ = db.session.get(Round, demo.round_id)
        assert round_ is not None
        table = round_index(round_)
        expected = table.to_records()
    assert len(rows) == len(expected) > 0
    overall = next(
        r
        for r in rows
        if r["level"] == "province"
        and r["kind"] == "overall"
        and r["measure"] == str(table.headline)
    )
    reference = table.find(Level.PROVINCE, kind=IndexKind.OVERALL)
    assert overall["estimate"] == round(reference.estimate, 2)
    assert overall["ci_low"] == round(reference.ci_low, 2)
    assert overall["ci_high"] == round(reference.ci_high, 2)
    assert overall["n"] == reference.n

    units = _all(client, url + "?level=unit&kind=overall", demo.tokens["analyst"])
    assert {r["level"] for r in units} == {"unit"} and {r["kind"] for r in units} == {"overall"}

    mine = _all(client, url, demo.tokens["unit_officer"])
    assert mine and {r["unit"] for r in mine} <= demo.officer_codes
    assert {r["level"] for r in mine} <= {"unit", "cell"}

    for query in (
        "level=desk",
        "level=nation",
        "kind=x",
        "kind=",
        "level=unit&level=area",
        "measure=median",
        "per_page=0",
    ):
        answer = client.get(f"{url}?{query}", headers=bearer(demo.tokens["admin"]))
        assert answer.status_code == 400, query
        assert answer.get_json()["code"] == "bad_request"
    document = client.get("/api/v1/openapi.json").get_json()
    body = client.get(url + "?per_page=5", headers=bearer(demo.tokens["admin"])).get_json()
    check_schema(document, "IndexPage", body)


def test_public_page_shows_units_intervals_and_no_comments(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    page_url = f"/ket-qua/{demo.round_id}"
    with app.app_context():
        round_ = db.session.get(Round, demo.round_id)
        assert round_ is not None
        now = utcnow()
        transition_round(round_, RoundState.CLOSED, now=now)
        db.session.commit()
        assert client.get(page_url).status_code == 404  # closed, not published
        transition_round(round_, RoundState.PUBLISHED, now=now)
        db.session.commit()
        assert client.get(page_url).status_code == 404  # published, not opted in
        admin = db.session.scalar(select(User).where(User.role == Role.ADMIN.value))
        assert admin is not None
        set_round_public(round_, True, actor=admin, now=now)
        db.session.commit()
        table = round_index(round_)
        names = {s.unit.code: s.unit_name for s in round_.scope}
        unit_rows = table.rows(level=Level.UNIT, kind=IndexKind.OVERALL, measure=table.headline)
    html = client.get(page_url).get_data(as_text=True)
    assert COMMENT not in html
    assert "<script" not in html  # works without JavaScript
    assert 'lang="vi"' in html
    for row in unit_rows:
        assert names[row.unit] in html
    # A unit whose number passes the publishing rule shows it; the others are withheld
    # (tests/public/test_public_rule.py). Which units pass depends on the simulated answers.
    sample = next(r for r in unit_rows if assess(r).publishable)
    low = f"{sample.ci_low:.2f}".replace(".", ",")
    assert low in html  # Vietnamese decimal comma
    english = client.get(page_url + "?lang=en").get_data(as_text=True)
    assert "confidence interval" in english and COMMENT not in english
    assert f"{sample.ci_low:.2f}" in english
    assert re.search(r"<th scope=\"col\"", html)
