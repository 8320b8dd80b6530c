"""Filters of the units page, ranks within a unit level, and desks on a unit's page (issue 18,
points 1 and 8), on the demo province: 11 units of five levels, the district HPD with the
commune XTT under it.

A desk's index is shown only when it passes the publishing rule, worked out here from the rule's
text (NCHS defaults of shared/domain.md): effective sample size of 30 or more, a 95% interval
narrower than 30 points and, wider than 5 points, at most 130% of the estimate wide."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from analysis.satisfaction import IndexKind, Level
from survey.extensions import db
from survey.models import Round, Unit
from survey.services.results.indices import LEVELS, round_index
from tests.helpers.demo_world import DemoWorld, demo_world
from tests.helpers.rounds import tables

COMMUNES = {"UBND phường Bình Minh", "UBND xã Phú Lộc", "UBND xã Tân Thành"}


@pytest.fixture(scope="module")
def world(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    yield from demo_world(migrated_template, Path(tmp_path_factory.mktemp("filters")))


def _units(world: DemoWorld, query: str, role: str = "analyst") -> tuple[str, list[list[str]]]:
    answer = world.client(role).get(f"/admin/rounds/{world.round_id}/results/units?{query}")
    assert answer.status_code == 200, query
    html = answer.get_data(as_text=True)
    table = next(t for t in tables(html) if t and "Khoảng hạng" in " ".join(t[0]))
    return html, [row for row in table[1:] if not row[0].startswith("↳")]


def _unit_id(world: DemoWorld, code: str) -> int:
    with world.app.app_context():
        found = db.session.scalar(select(Unit.id).where(Unit.code == code))
        assert found is not None
        return found


def test_a_level_filter_keeps_that_level_and_ranks_within_it(world: DemoWorld) -> None:
    _html, rows = _units(world, "level=commune&sort=name")
    assert {r[0].rsplit(" ", 1)[0] for r in rows} == COMMUNES
    # Ranks among the three communes only, whatever the filter: 1 to 3.
    for row in rows:
        worst = int(row[4].split("–")[-1])
        assert 1 <= worst <= 3, row
    _html, everyone = _units(world, "sort=name")
    by_name = {r[0]: r[4] for r in everyone}
    assert all(by_name[r[0]] == r[4] for r in rows)  # the same ranks without the filter


def test_a_parent_filter_keeps_its_subtree(world: DemoWorld) -> None:
    _html, rows = _units(world, f"parent={_unit_id(world, 'HPD')}")
    assert {r[0].rsplit(" ", 1)[0] for r in rows} == {"UBND huyện Phong Điền", "UBND xã Tân Thành"}


def test_an_area_filter_shows_each_units_figure_in_that_area(world: DemoWorld) -> None:
    _html, rows = _units(world, "area=HT&sort=code")
    with world.app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_ is not None
        table = round_index(round_)
        cells = table.rows(
            level=Level.CELL, kind=IndexKind.OVERALL, area="HT", measure=table.headline
        )
    assert len(rows) == len(cells) > 0
    expected = {r.unit: r.n for r in cells}
    for row in rows:
        code = row[0].rsplit(" ", 1)[1]
        assert int(row[3]) == expected[code] and row[4] == "—"  # a cell is not ranked


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("level=tinh", "Không có cấp đơn vị “tinh”"),
        ("area=ZZ", "Không có lĩnh vực “ZZ”"),
        ("parent=abc", "Không có đơn vị này trong đợt"),
        ("parent=99999999999", "Không có đơn vị này trong đợt"),
    ],
)
def test_a_filter_that_names_nothing_is_said_and_dropped(
    world: DemoWorld, query: str, message: str
) -> None:
    html, rows = _units(world, query)
    assert message in html and len(rows) == 11


def test_an_officer_cannot_filter_into_another_branch(world: DemoWorld) -> None:
    html, rows = _units(world, f"parent={_unit_id(world, 'SYT')}", role="officer")
    assert "Không có đơn vị này trong đợt" in html
    assert {r[0].rsplit(" ", 1)[0] for r in rows} == {"UBND huyện Phong Điền", "UBND xã Tân Thành"}


def test_desks_show_an_index_only_when_the_rule_allows(world: DemoWorld) -> None:
    with world.app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_ is not None
        table = round_index(round_, (*LEVELS, Level.DESK))
        desks = table.rows(
            level=Level.DESK, kind=IndexKind.OVERALL, unit="TTPV", measure=table.headline
        )
    assert len(desks) == 4
    page = world.client("analyst").get(
        f"/admin/rounds/{world.round_id}/results/units/{_unit_id(world, 'TTPV')}"
    )
    html = page.get_data(as_text=True).split('id="desks"')[1].split('id="areas"')[0]
    outcomes = set()
    for desk in desks:
        width = desk.ci_high - desk.ci_low
        passes = (
            desk.n_eff >= 30
            and width < 30
            and not (width > 5 and desk.estimate > 0 and width / desk.estimate > 1.3)
        )
        row = next(r for t in tables(html) for r in t if r[0].endswith(desk.desk or "?"))
        assert row[3] == str(desk.n)
        if passes:
            assert row[1].rstrip("*").startswith(f"{desk.estimate:.2f}".replace(".", ","))
        else:
            assert row[1] == "chưa đủ số liệu"
        outcomes.add(passes)
    assert outcomes == {False}  # 300 responses over 11 units: no desk has enough
    # Under a lax rule of the round (any effective size, intervals up to 100 points) every
    # desk's index is shown.
    with world.app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_ is not None
        saved = round_.rule_min_n_eff, round_.rule_max_ci_width, round_.rule_max_relative_width
        round_.rule_min_n_eff, round_.rule_max_ci_width = 1, 100
        round_.rule_max_relative_width = 1000
        db.session.commit()
    try:
        page = world.client("analyst").get(
            f"/admin/rounds/{world.round_id}/results/units/{_unit_id(world, 'TTPV')}"
        )
        html = page.get_data(as_text=True).split('id="desks"')[1].split('id="areas"')[0]
        for desk in desks:
            row = next(r for t in tables(html) for r in t if r[0].endswith(desk.desk or "?"))
            assert row[1].split(" ")[0].rstrip("*") == f"{desk.estimate:.2f}".replace(".", ",")
    finally:
        with world.app.app_context():
            round_ = db.session.get(Round, world.round_id)
            assert round_ is not None
            round_.rule_min_n_eff, round_.rule_max_ci_width = saved[0], saved[1]
            round_.rule_max_relative_width = saved[2]
            db.session.commit()
