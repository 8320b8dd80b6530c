"""A round's targets and publishing rule (issue 18, points 2 and 5): stored per round, per unit
level where set, audited, typed "95,5" or "95.5", refused with a message when not a percentage,
used by every verdict, printed in the methods annex and applied on the public page.

Expected verdicts are worked out in the test from the definition of shared/domain.md: above
the target only when the whole 95% interval is above it, below when the whole interval is below,
otherwise cannot tell."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEvent, Round, RoundLevelTarget, RoundState, User, utcnow
from survey.services.demo import build_demo_province, demo_accounts, simulate_responses
from survey.services.results.publication import set_round_public
from survey.services.rounds.lifecycle import transition_round
from tests.admin.conftest import PASSWORD, csrf_token, login
from tests.helpers.rounds import row_starting

VERDICT = {"above": "Trên mục tiêu", "below": "Dưới mục tiêu", "cannot": "Chưa kết luận được"}


@pytest.fixture
def round_id(app: Flask) -> int:
    with app.app_context():
        now = utcnow()
        round_ = build_demo_province(now=now)
        demo_accounts(PASSWORD, now=now)
        simulate_responses(round_, 600, now=now, seed=11)
        db.session.commit()
        return round_.id


def _admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, "admin")
    return client


def _form(client: FlaskClient, url: str, **fields: str) -> dict[str, str]:
    defaults = {
        "target": "",
        "rule_min_n_eff": "30",
        "rule_max_ci_width": "30",
        "rule_relative_width_above": "5",
        "rule_max_relative_width": "1,3",
        "rule_df_review": "8",
    }
    return {"csrf_token": csrf_token(client, url)} | defaults | fields


def _expected(low: float, high: float, target: float) -> str:
    return VERDICT["above" if low > target else "below" if high < target else "cannot"]


def _vi_number(cell: str) -> float:
    return float(cell.split(" ")[0].rstrip("*").replace(".", "").replace(",", "."))


def test_targets_typed_with_a_comma_are_stored_audited_and_used(app: Flask, round_id: int) -> None:
    client = _admin(app)
    url = f"/admin/rounds/{round_id}/result-settings"
    page = client.get(url).get_data(as_text=True)
    assert "Để trống là mục tiêu chung của tỉnh: 90%." in page
    answer = client.post(
        url, data=_form(client, url, target="95,5", **{"level-department": "70.5"})
    )
    assert answer.status_code == 303
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None and round_.target == 95.5
        levels = db.session.scalars(select(RoundLevelTarget)).all()
        assert [(lv.level_code, lv.target) for lv in levels] == [("department", 70.5)]
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "round.result_settings")
        ).all()
        assert event.before is not None and event.before["target"] is None
        assert event.after is not None and event.after["target"] == 95.5
        assert event.after["level_targets"] == {"department": 70.5}

    html = client.get(f"/admin/rounds/{round_id}/results/units").get_data(as_text=True)
    assert "Mục tiêu của đợt: 95,5%." in html and "Sở, ban, ngành: 70,5%." in html
    # A department is held to 70.5, a district to the round's 95.5.
    department = row_starting(html, "Sở Tư pháp")
    district = row_starting(html, "UBND huyện Phong Điền")
    for row, target in ((department, 70.5), (district, 95.5)):
        low, high = (_vi_number(x) for x in row[2].split(" – "))
        assert row[5] == _expected(low, high, target), row
    # The page's own target replaces them all for that view only, typed either way.
    for typed in ("80,5", "80.5"):
        tried = client.get(f"/admin/rounds/{round_id}/results/units?target={typed}")
        row = row_starting(tried.get_data(as_text=True), "Sở Tư pháp")
        low, high = (_vi_number(x) for x in row[2].split(" – "))
        assert row[5] == _expected(low, high, 80.5)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"target": "abc"}, "target", "“abc” không phải là một số"),
        ({"target": "120"}, "target", "Mục tiêu là một tỷ lệ phần trăm từ 0 đến 100."),
        ({"target": "9.5.5"}, "target", "không phải là một số"),
        ({"level-commune": "cao"}, "level-commune", "“cao” không phải là một số"),
        ({"rule_min_n_eff": "0"}, "rule_min_n_eff", "Nhập một số dương"),
        ({"rule_max_ci_width": "-3"}, "rule_max_ci_width", "Nhập một số dương"),
        (
            {"rule_relative_width_above": "40"},
            "rule_relative_width_above",
            "phải nhỏ hơn độ rộng tối đa",
        ),
    ],
)
def test_bad_settings_say_what_is_wrong_and_store_nothing(
    app: Flask, round_id: int, fields: dict[str, str], field: str, message: str
) -> None:
    client = _admin(app)
    url = f"/admin/rounds/{round_id}/result-settings"
    good = {"target": "95", "level-district": "80"}
    answer = client.post(url, data=_form(client, url, **(good | fields)))
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    shown = re.search(rf'id="{field}-error">(.*?)</ul>', html, re.S)
    assert shown is not None and message in shown.group(1)
    assert "Chưa lưu được" in html
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None and round_.target is None and round_.rule_min_n_eff == 30
        assert db.session.scalars(select(RoundLevelTarget)).all() == []
        assert (
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "round.result_settings")
            ).all()
            == []
        )


def test_a_wrong_target_on_the_page_is_explained_and_the_rounds_holds(
    app: Flask, round_id: int
) -> None:
    html = _admin(app).get(f"/admin/rounds/{round_id}/results/units?target=abc")
    text = html.get_data(as_text=True)
    assert "“abc” không phải là một số" in text and "Đang dùng mục tiêu của đợt: 90%." in text


def test_the_rule_is_the_rounds_on_the_public_page_and_in_the_annex(
    app: Flask, round_id: int
) -> None:
    client = _admin(app)
    url = f"/admin/rounds/{round_id}/result-settings"
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        now = utcnow()
        transition_round(round_, RoundState.CLOSED, now=now)
        db.session.commit()
    public = f"/api/v1/public/rounds/{round_id}"

    def statuses() -> dict[tuple[str, bool], str]:
        body = app.test_client().get(public).get_json()
        return {(u["code"], u["subtree"]): u["status"] for u in body["units"]}

    # A lax rule: any effective size of 1 or more, intervals up to 100 points, no relative rule.
    lax = {
        "rule_min_n_eff": "1",
        "rule_max_ci_width": "100",
        "rule_relative_width_above": "99,5",
        "rule_max_relative_width": "1000",
        "rule_df_review": "1",
    }
    assert client.post(url, data=_form(client, url, **lax)).status_code == 303
    report = client.get(f"/admin/rounds/{round_id}/report").get_data(as_text=True)
    assert "cỡ mẫu hiệu dụng từ 1 trở lên" in report and "hẹp hơn 100 điểm" in report
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        assert round_ is not None and admin is not None
        transition_round(round_, RoundState.PUBLISHED, now=utcnow())
        set_round_public(round_, True, actor=admin, now=utcnow())
        db.session.commit()
    lax_statuses = statuses()
    assert set(lax_statuses.values()) == {"publish"}
    body = app.test_client().get(public).get_json()
    assert "cỡ mẫu hiệu dụng từ 1 trở lên" in body["rule_vi"]
    # Published: the settings are final, and the page says so.
    refused = client.post(url, data=_form(client, url))
    assert refused.status_code == 409
    assert "không đổi được nữa" in refused.get_data(as_text=True)
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None and round_.rule_min_n_eff == 1
        # Under the default NCHS rule, the same round withholds its smallest units.
        round_.rule_min_n_eff, round_.rule_max_ci_width = 30, 30
        round_.rule_relative_width_above, round_.rule_max_relative_width = 5, 1.3
        round_.rule_df_review = 8
        db.session.commit()
    assert "suppress" in statuses().values()
