"""The publishing rule on the public page and the public API (issue 18, points 2 and 9;
shared/domain.md, "Publishing"). Expected verdicts are worked out here from the rule's text, on
the console API's index rows: a unit's overall index is withheld ("chưa đủ số liệu để công bố",
its n still shown) when its effective sample size is under 30, its 95% interval is 30 points
wide or more, or, wider than 5 points, it is more than 130% of the estimate wide (NCHS, Parker
et al. 2017). No interval on either channel has zero width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import Round, RoundState, User, utcnow
from survey.services.results.publication import set_round_public
from survey.services.rounds.lifecycle import transition_round
from tests.helpers.demo_world import DemoWorld, demo_world
from tests.helpers.rounds import tables

WITHHELD = "chưa đủ số liệu để công bố"


@pytest.fixture(scope="module")
def world(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    for built in demo_world(migrated_template, Path(tmp_path_factory.mktemp("rule"))):
        with built.app.app_context():
            round_ = db.session.get(Round, built.round_id)
            admin = db.session.scalar(select(User).where(User.username == "admin"))
            assert round_ is not None and admin is not None
            now = utcnow()
            transition_round(round_, RoundState.CLOSED, now=now)
            transition_round(round_, RoundState.PUBLISHED, now=now)
            set_round_public(round_, True, actor=admin, now=now)
            db.session.commit()
        yield built


def _expected(world: DemoWorld) -> dict[tuple[str, str], tuple[bool, dict]]:
    """(level, unit) -> (withheld by the rule, the console's index row), for every unit."""
    api = world.client("analyst", api=True)
    url = f"/api/v1/rounds/{world.round_id}/indices?kind=overall&measure=top2box&per_page=200"
    rows = [r for r in api.get(url).get_json()["items"] if r["level"] in ("unit", "unit_tree")]
    out = {}
    for row in rows:
        width = row["ci_high"] - row["ci_low"]
        withheld = (
            row["n_eff"] < 30
            or width >= 30
            or (width > 5 and row["estimate"] > 0 and width / row["estimate"] > 1.30)
        )
        out[(row["level"], row["unit"])] = (withheld, row)
    return out


def test_the_public_api_withholds_what_fails_the_rule_and_keeps_n(world: DemoWorld) -> None:
    expected = _expected(world)
    assert {w for w, _row in expected.values()} == {True, False}  # the demo has both kinds
    body = world.app.test_client().get(f"/api/v1/public/rounds/{world.round_id}").get_json()
    assert body["rule_vi"].startswith("Một chỉ số được công bố khi cỡ mẫu hiệu dụng từ 30")
    seen = set()
    for unit in body["units"]:
        key = ("unit_tree" if unit["subtree"] else "unit", unit["code"])
        withheld, row = expected[key]
        seen.add(key)
        assert unit["n"] == row["n"], key
        if withheld:
            assert unit["status"] == "suppress", key
            assert unit["estimate"] is unit["ci_low"] is unit["ci_high"] is None
            assert unit["reasons_vi"], key
        else:
            assert unit["status"] == "publish", key
            assert unit["estimate"] == row["estimate"]
            assert unit["ci_low"] < unit["ci_high"], key
    assert seen == set(expected)


def test_the_public_page_lists_withheld_units_apart_with_their_n(world: DemoWorld) -> None:
    expected = _expected(world)
    html = world.app.test_client().get(f"/ket-qua/{world.round_id}").get_data(as_text=True)
    assert "<script" not in html and "<svg" in html
    shown = tables(html)[0]
    published = {row[0] for row in shown[1:]}
    withheld_part = html.split('id="withheld"')[1]
    with world.app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_ is not None
        names = {s.unit.code: s.unit_name for s in round_.scope}
    for (level, code), (withheld, row) in expected.items():
        name = names[code] if level == "unit" else f"{names[code]}, gồm cả các đơn vị trực thuộc"
        if withheld:
            assert name not in published
            assert re.search(rf"{re.escape(name)}: {WITHHELD} \({row['n']} phiếu", withheld_part), (
                name
            )
        else:
            cells = next(r for r in shown if r[0] == name)
            assert cells[1] == f"{row['estimate']:.2f}".replace(".", ",")
            assert cells[3] == str(row["n"])
    assert "Nói cách khác: cứ 100 người dân trả lời thì khoảng" in html
    english = (
        world.app.test_client().get(f"/ket-qua/{world.round_id}?lang=en").get_data(as_text=True)
    )
    assert "Not enough data to publish" in english or "not enough data to publish" in english


def test_no_public_number_has_a_zero_width_interval_or_too_few_responses(
    world: DemoWorld,
) -> None:
    """Issue 18: "56,33 (56,33 – 56,33)" was published for a unit with one response."""
    body = world.app.test_client().get(f"/api/v1/public/rounds/{world.round_id}").get_json()
    for unit in [body["province"], *body["units"]]:
        if unit["ci_low"] is not None:
            assert unit["ci_high"] - unit["ci_low"] > 0, unit
        assert not (unit["status"] == "publish" and unit["n"] < 30), unit
