"""Units with sub-units (issue 18, point 1; shared/domain.md, "Units and their sub-units"): the
district UBND huyện Phong Điền (HPD, with the commune XTT under it) and Sở Y tế (SYT, with the
hospital BVDK) are reported on their own desks and with their whole subtree as one domain, on
the pages, the print report, the API and the index exports; the officer of HPD sees HPD's
subtree figure; ranks compare own figures only.

The subtree's numbers are checked against a hand computation from the analyst's CSV export (one
row per counted response with its weight w = N_cell / n_cell): for criterion c over the
responses i of the subtree, p_c = 100 sum w_i [v_ic in {4, 5}] / sum w_i [v_ic answered]; an
element is the mean of its criteria, the overall index (one aspect) the mean of the elements.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from analysis.satisfaction import IndexKind, Level
from survey.extensions import db
from survey.models import Round
from survey.services.exports import microdata
from survey.services.results import indices
from tests.helpers.demo_world import DemoWorld, demo_world
from tests.helpers.rounds import row_starting, tables

TREE = ("HPD", "XTT")  # the demo district and its commune


@pytest.fixture(scope="module")
def world(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    yield from demo_world(migrated_template, Path(tmp_path_factory.mktemp("trees")))


def _by_hand(app: Flask, round_id: int, units: tuple[str, ...]) -> tuple[float, float, int]:
    """(overall index, criterion A1, responses) of the responses of ``units`` together."""
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        spec = indices.template_index(round_.template_version).spec
        names = [v.name for v in microdata.variables(round_)]
        rows = [dict(zip(names, r, strict=True)) for r in microdata.rows(round_)]
    mine = [r for r in rows if r["unit"] in units]

    def share(code: str) -> float | None:
        answered = [r for r in mine if isinstance(r[code], int) and 1 <= r[code] <= 5]
        if not answered:
            return None
        top = sum(r["weight"] for r in answered if r[code] in (4, 5))
        return 100 * top / sum(r["weight"] for r in answered)

    element_means = []
    for element in spec.elements:
        found = [p for c in element.items if (p := share(c)) is not None]
        element_means.append(sum(found) / len(found))
    a1 = share("A1")
    assert a1 is not None
    return sum(element_means) / len(element_means), a1, len(mine)


def test_a_subtree_is_one_domain_of_the_design(world: DemoWorld) -> None:
    overall, a1, n = _by_hand(world.app, world.round_id, TREE)
    with world.app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_ is not None
        table = indices.round_index(round_)
        tree = table.find(Level.UNIT_TREE, unit="HPD")
        own = table.find(Level.UNIT, unit="HPD")
        commune = table.find(Level.UNIT, unit="XTT")
        criterion = table.find(Level.UNIT_TREE, unit="HPD", kind=IndexKind.CRITERION, index="A1")
        # A unit without sub-units has no subtree row.
        assert table.rows(level=Level.UNIT_TREE, unit="STP") == []
    assert tree is not None and own is not None and commune is not None and criterion is not None
    assert tree.n == own.n + commune.n == n
    assert tree.estimate == pytest.approx(overall, abs=1e-9)
    assert criterion.estimate == pytest.approx(a1, abs=1e-9)
    assert tree.ci_low < tree.estimate < tree.ci_high


def test_pages_show_both_figures_and_rank_own_figures_only(world: DemoWorld) -> None:
    overall, _a1, n = _by_hand(world.app, world.round_id, TREE)
    admin = world.client("admin")
    with world.app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_ is not None
        table = indices.round_index(round_)
        own_units = len(table.rows(level=Level.UNIT, kind="overall", measure=table.headline))
    html = admin.get(f"/admin/rounds/{world.round_id}/results/units?sort=name").get_data(
        as_text=True
    )
    row = row_starting(html, "↳ UBND huyện Phong Điền gồm cả đơn vị trực thuộc")
    assert row[1].startswith(f"{overall:.2f}".replace(".", ",")) and row[3] == f"{n}"
    assert row[4] == "không xếp hạng"
    # Every own row has a rank range; no subtree row has one.
    units_table = tables(html)[0]
    ranked = [r for r in units_table[1:] if not r[0].startswith("↳")]
    assert len(ranked) == own_units and all(r[4] != "không xếp hạng" for r in ranked)

    unit_ids = {"HPD": None}
    with world.app.app_context():
        from survey.models import Unit

        unit_ids["HPD"] = db.session.query(Unit.id).filter(Unit.code == "HPD").scalar()
    page = admin.get(f"/admin/rounds/{world.round_id}/results/units/{unit_ids['HPD']}")
    text = page.get_data(as_text=True)
    assert "Gồm cả các đơn vị trực thuộc" in text and "Riêng đơn vị (các quầy của đơn vị)" in text
    assert f"{overall:.2f}".replace(".", ",") in text

    report = admin.get(f"/admin/rounds/{world.round_id}/report").get_data(as_text=True)
    assert row_starting(report, "↳ UBND huyện Phong Điền gồm cả đơn vị trực thuộc")[3] == f"{n}"


def test_the_districts_officer_sees_its_subtree_and_not_the_provinces_units(
    world: DemoWorld,
) -> None:
    officer = world.client("officer")
    html = officer.get(f"/admin/rounds/{world.round_id}/results/units").get_data(as_text=True)
    assert row_starting(html, "↳ UBND huyện Phong Điền gồm cả đơn vị trực thuộc")
    assert "Sở Y tế gồm cả đơn vị trực thuộc" not in html

    api = world.client("officer", api=True)
    body = api.get(
        f"/api/v1/rounds/{world.round_id}/indices?level=unit_tree&kind=overall&per_page=200"
    ).get_json()
    assert {(r["level"], r["unit"]) for r in body["items"]} == {("unit_tree", "HPD")}
    _overall, _a1, n = _by_hand(world.app, world.round_id, TREE)
    assert {r["n"] for r in body["items"]} == {n}
    everyone = world.client("analyst", api=True).get(
        f"/api/v1/rounds/{world.round_id}/indices?level=unit_tree&kind=overall&per_page=200"
    )
    assert {r["unit"] for r in everyone.get_json()["items"]} == {"HPD", "SYT"}


def test_index_export_carries_subtree_rows_with_the_parents_code(world: DemoWorld) -> None:
    overall, _a1, n = _by_hand(world.app, world.round_id, TREE)
    answer = world.client("analyst").get(f"/admin/rounds/{world.round_id}/results/indices")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    tree = [
        r
        for r in rows
        if r["level"] == "unit_tree" and r["kind"] == "overall" and r["headline"] == "1"
    ]
    assert {r["unit"] for r in tree} == {"HPD", "SYT"}
    hpd = next(r for r in tree if r["unit"] == "HPD")
    assert float(hpd["estimate"]) == pytest.approx(round(overall, 2))
    assert int(hpd["n"]) == n and hpd["rank"] == ""
    assert set(rows[0]) == set(next(r for r in rows if r["level"] == "unit"))
