"""Result pages, charts, the round report and the index downloads.

The numbers on the pages are checked against ``analysis.index_table`` run in the test on the
responses export (``tests.services.results.test_indices.reference_table``), formatted the way a
Vietnamese reader sees them (babel, two decimals); verdicts against the target and changes
between rounds against ``analysis.satisfaction.compare`` on those reference tables.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.numbers import format_decimal
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from analysis.satisfaction import IndexKind, IndexTable, Level
from analysis.satisfaction.compare import change
from survey.extensions import db
from survey.models import DossierCount, Round, RoundState, ServiceArea, Unit, utcnow
from survey.services.demo import build_demo_province, demo_accounts, simulate_responses
from survey.services.rounds.lifecycle import create_round, transition_round
from tests.admin.conftest import PASSWORD, Staff, login
from tests.helpers.rounds import round_over, tables, text_of
from tests.services.results.test_indices import reference_table


@dataclass(frozen=True)
class Demo:
    round: int
    earlier: int
    officer_unit: int  # HPD, the demo officer's district
    sub_unit: int  # XTT, a commune under it
    other_unit: int  # PBM, outside the officer's branch


def _vi(value: float, places: int = 2) -> str:
    return str(format_decimal(value, format="#,##0." + "0" * places, locale="vi"))


def _previous_round(current: Round, now: Any) -> Round:
    """The same units on the same questionnaire, 100 to 50 days ago, with its own responses."""
    earlier = create_round(
        name="Đợt trước (demo)",
        version=current.template_version,
        opens_at=now - timedelta(days=100),
        closes_at=now - timedelta(days=50),
        units=[(s.unit, 200) for s in current.scope],
        now=now - timedelta(days=101),
    )
    for count in db.session.scalars(
        select(DossierCount).where(DossierCount.round_id == current.id)
    ):
        db.session.add(
            DossierCount(
                round_id=earlier.id,
                unit_id=count.unit_id,
                service_area_id=count.service_area_id,
                dossiers=count.dossiers,
            )
        )
    transition_round(earlier, RoundState.OPEN, now=now - timedelta(days=100))
    simulate_responses(earlier, 900, now=now, seed=11)
    transition_round(earlier, RoundState.CLOSED, now=now)
    return earlier


@pytest.fixture
def demo(app: Flask) -> Demo:
    with app.app_context():
        now = utcnow()
        round_ = build_demo_province(now=now)
        simulate_responses(round_, 1500, now=now)
        earlier = _previous_round(round_, now)
        demo_accounts(PASSWORD, now=now)
        db.session.commit()
        units = {u.code: u.id for u in db.session.scalars(select(Unit))}
        return Demo(round_.id, earlier.id, units["HPD"], units["XTT"], units["PBM"])


def _reference(app: Flask, round_id: int) -> IndexTable:
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        table = reference_table(round_)
        assert isinstance(table, IndexTable)
        return table


def _names(app: Flask, round_id: int) -> dict[str, str]:
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        return {s.unit.code: s.unit_name for s in round_.scope}


def _signed_in(app: Flask, role: str) -> FlaskClient:
    client = app.test_client()
    login(client, role)
    return client


def _unit_rows(html: str, *, subtrees: bool = False) -> dict[str, list[str]]:
    """The units table (the one with a rank column): unit name -> its cells; the rows of units
    with all their sub-units ("↳ ... gồm cả đơn vị trực thuộc") when ``subtrees``."""
    suffix = " gồm cả đơn vị trực thuộc"
    for table in tables(html):
        if table and any("Khoảng hạng" in cell for cell in table[0]):
            if subtrees:
                return {
                    row[0].removeprefix("↳ ").removesuffix(suffix): row
                    for row in table[1:]
                    if row[0].startswith("↳")
                }
            return {row[0].rsplit(" ", 1)[0]: row for row in table[1:] if row[0][:1] != "↳"}
    raise AssertionError("no units table")


def test_units_page_equals_analysis_with_verdicts(app: Flask, demo: Demo) -> None:
    reference = _reference(app, demo.round)
    names = _names(app, demo.round)
    client = _signed_in(app, "analyst")
    html = text_of(client, f"/admin/rounds/{demo.round}/results/units?sort=code&target=80")
    shown = _unit_rows(html)
    expected = reference.rows(level=Level.UNIT, kind=IndexKind.OVERALL, measure="top2box")
    assert len(shown) == len(expected) == 11
    for row in expected:
        cells = shown[names[row.unit or ""]]
        assert cells[1].split(" ")[0].rstrip("*") == _vi(row.estimate), row.unit
        assert cells[2] == f"{_vi(row.ci_low)} – {_vi(row.ci_high)}"
        assert cells[3] == str(row.n)
        verdict = (
            "Trên mục tiêu"
            if row.ci_low > 80
            else "Dưới mục tiêu"
            if row.ci_high < 80
            else "Chưa kết luận được"
        )
        assert cells[5] == verdict
    # Units with sub-units: a second row, their whole subtree as one domain, never ranked.
    trees = _unit_rows(html, subtrees=True)
    expected = reference.rows(level=Level.UNIT_TREE, kind=IndexKind.OVERALL, measure="top2box")
    assert {names[r.unit or ""] for r in expected} == set(trees) == {names["HPD"], names["SYT"]}
    for row in expected:
        cells = trees[names[row.unit or ""]]
        assert cells[1].split(" ")[0].rstrip("*") == _vi(row.estimate), row.unit
        assert cells[2] == f"{_vi(row.ci_low)} – {_vi(row.ci_high)}"
        assert cells[3] == str(row.n) and cells[4] == "không xếp hạng"


def test_overview_shows_the_province_index_its_interval_and_the_weighting_caveat(
    app: Flask, demo: Demo
) -> None:
    reference = _reference(app, demo.round)
    province = reference.find(Level.PROVINCE, kind=IndexKind.OVERALL)
    html = text_of(_signed_in(app, "admin"), f"/admin/rounds/{demo.round}/results")
    assert _vi(province.estimate) in html
    assert f"{_vi(province.ci_low)} – {_vi(province.ci_high)}" in html
    assert "những người đã trả lời được coi là giống những" in html  # the caveat, in words
    assert "1.500" in html  # counted responses, Vietnamese digit grouping


def test_unit_page_elements_equal_analysis(app: Flask, demo: Demo) -> None:
    reference = _reference(app, demo.round)
    with app.app_context():
        round_ = db.session.get(Round, demo.round)
        assert round_ is not None
        names = {e.code: e.name for a in round_.template_version.aspects for e in a.elements}
    html = text_of(
        _signed_in(app, "officer"), f"/admin/rounds/{demo.round}/results/units/{demo.sub_unit}"
    )
    shown = {row[0]: row for table in tables(html) for row in table[1:]}
    expected = reference.rows(level=Level.UNIT, unit="XTT", kind="element", measure="top2box")
    assert len(expected) == 5
    for row in expected:
        cells = shown[names[row.index]]
        assert cells[1].split(" ")[0].rstrip("*") == _vi(row.estimate), row.index
        assert cells[2] == f"{_vi(row.ci_low)} – {_vi(row.ci_high)}"
        assert cells[3] == str(row.n)


def test_an_officer_sees_their_units_only_and_gets_403_elsewhere(app: Flask, demo: Demo) -> None:
    names = _names(app, demo.round)
    officer = _signed_in(app, "officer")
    html = text_of(officer, f"/admin/rounds/{demo.round}/results/units")
    assert set(_unit_rows(html)) == {names["HPD"], names["XTT"]}
    assert names["PBM"] not in text_of(officer, f"/admin/rounds/{demo.round}/results/areas")
    base = f"/admin/rounds/{demo.round}/results/units/{demo.other_unit}"
    assert officer.get(base).status_code == 403
    assert officer.get(base + "/chart").status_code == 403
    assert text_of(officer, f"/admin/rounds/{demo.round}/results/units/{demo.officer_unit}")
    analyst = _signed_in(app, "analyst")
    assert analyst.get(base).status_code == 200
    anonymous = app.test_client().get(base)
    assert anonymous.status_code == 302
    assert "/admin/login" in anonymous.headers["Location"]


def test_index_downloads_read_back_equal_the_page(app: Flask, demo: Demo) -> None:
    client = _signed_in(app, "analyst")
    page = _unit_rows(text_of(client, f"/admin/rounds/{demo.round}/results/units"))
    answer = client.get(f"/admin/rounds/{demo.round}/results/indices")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    units = [
        r for r in rows if r["level"] == "unit" and r["kind"] == "overall" and r["headline"] == "1"
    ]
    assert {r["unit_name"] for r in units} == set(page)
    for r in units:
        cells = page[r["unit_name"]]
        assert cells[1].split(" ")[0].rstrip("*") == _vi(float(r["estimate"]))
        assert cells[2] == f"{_vi(float(r['ci_low']))} – {_vi(float(r['ci_high']))}"
        assert cells[3] == r["n"]
    assert {r["level"] for r in rows} == {"province", "unit", "unit_tree", "area", "cell"}
    book = client.get(f"/admin/rounds/{demo.round}/results/indices?format=xlsx")
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.get_data()), read_only=True)["indices"]
    lines = list(sheet.iter_rows(values_only=True))
    header = list(lines[0])
    assert len(lines) - 1 == len(rows)
    by_key = {
        (r["level"], r["unit"], r["area"], r["kind"], r["index"], r["measure"]): r for r in rows
    }
    for line in lines[1:]:
        padded = list(line) + [None] * (len(header) - len(line))  # trailing blanks are dropped
        record = dict(zip(header, padded, strict=True))
        key = tuple(record[k] or "" for k in ("level", "unit", "area", "kind", "index", "measure"))
        other = by_key[key]
        estimate = record["estimate"]
        assert ("" if estimate is None else repr(float(estimate))) == (
            "" if other["estimate"] == "" else repr(float(other["estimate"]))
        )


def test_officer_downloads_hold_only_their_units(app: Flask, demo: Demo) -> None:
    answer = _signed_in(app, "officer").get(f"/admin/rounds/{demo.round}/results/indices")
    rows = list(csv.DictReader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert {r["unit"] for r in rows if r["unit"]} == {"HPD", "XTT"}
    assert "area" not in {r["level"] for r in rows}


def test_change_since_the_earlier_round_equals_analysis(app: Flask, demo: Demo) -> None:
    now_table = _reference(app, demo.round)
    before = _reference(app, demo.earlier)
    names = _names(app, demo.round)
    html = text_of(
        _signed_in(app, "analyst"),
        f"/admin/rounds/{demo.round}/results/change?since={demo.earlier}",
    )
    shown = {row[0]: row for table in tables(html) for row in table[1:]}
    checked = 0
    for row in now_table.rows(level=Level.UNIT, kind=IndexKind.OVERALL, measure="top2box"):
        previous = before.find(Level.UNIT, unit=row.unit, kind=IndexKind.OVERALL)
        expected = change(row, previous)
        cells = shown[names[row.unit or ""]]
        assert cells[3] == _vi(expected.estimate)
        assert cells[4] == f"{_vi(expected.ci_low)} – {_vi(expected.ci_high)}"
        label = {"up": "Tăng", "down": "Giảm"}.get(expected.direction, "Chưa thấy thay đổi rõ")
        assert cells[5] == label
        checked += 1
    assert checked == 11


def test_charts_are_svg_or_png_images(app: Flask, demo: Demo) -> None:
    client = _signed_in(app, "analyst")
    base = f"/admin/rounds/{demo.round}/results"
    for path in (
        "/units/chart",
        "/elements/chart",
        "/criteria/chart",
        "/areas/chart",
        f"/change/chart?since={demo.earlier}",
        f"/units/{demo.officer_unit}/chart",
    ):
        svg = client.get(base + path)
        assert svg.status_code == 200, path
        assert svg.mimetype == "image/svg+xml"
        assert b"<svg" in svg.get_data()
    png = client.get(base + "/units/chart?format=png")
    assert png.mimetype == "image/png"
    assert png.get_data().startswith(b"\x89PNG")


def test_the_units_chart_names_the_readers_units_only(app: Flask, demo: Demo) -> None:
    """The chart's labels are text: the analyst's names every unit of the round, a unit
    officer's names their branch and nothing outside it."""
    with app.app_context():
        names = {
            uid: db.session.get(Unit, uid).name  # type: ignore[union-attr]
            for uid in (demo.officer_unit, demo.sub_unit, demo.other_unit)
        }
    url = f"/admin/rounds/{demo.round}/results/units/chart"
    everyone = _signed_in(app, "analyst").get(url).get_data(as_text=True)
    assert all(f">{name}<" in everyone for name in names.values())
    branch = _signed_in(app, "officer").get(url).get_data(as_text=True)
    assert f">{names[demo.officer_unit]}<" in branch
    assert f">{names[demo.sub_unit]}<" in branch
    assert f">{names[demo.other_unit]}<" not in branch


def test_a_chart_is_drawn_again_when_the_round_changes_not_before(app: Flask, demo: Demo) -> None:
    """Charts are kept once drawn; a new response, another reader's units or another
    language is another chart."""
    client = _signed_in(app, "analyst")
    url = f"/admin/rounds/{demo.round}/results/units/chart"
    first = client.get(url).get_data()
    assert client.get(url).get_data() == first
    officer = _signed_in(app, "officer")
    assert officer.get(url).get_data() != first  # their units only
    english = _signed_in(app, "analyst")
    english.get(url + "?lang=en")  # the language is kept in a cookie, not in the address
    assert english.get(url).get_data() != first
    with app.app_context():
        round_ = db.session.get(Round, demo.round)
        assert round_ is not None
        simulate_responses(round_, 200, now=utcnow(), seed=99)
        db.session.commit()
    changed = client.get(url).get_data()
    assert changed != first
    assert client.get(url + "?sort=name").get_data() != changed


def test_the_report_is_one_print_ready_page_with_every_section(app: Flask, demo: Demo) -> None:
    html = text_of(_signed_in(app, "admin"), f"/admin/rounds/{demo.round}/report")
    for section in ("overview", "units", "elements", "areas", "change", "methods"):
        assert f'<section id="{section}">' in html
    # units, heat map, criteria, areas, change
    assert html.count('src="data:image/svg+xml;base64,') == 5
    assert "Đợt trước (demo)" in html
    assert app.static_folder is not None
    assert "@media print" in (Path(app.static_folder) / "results.css").read_text()


def test_bad_parameters_fall_back_and_unknown_ids_are_404(app: Flask, demo: Demo) -> None:
    client = _signed_in(app, "analyst")
    base = f"/admin/rounds/{demo.round}/results"
    for url in (
        base + "/units?sort=drop-table&page=-4&target=abc",
        base + "/units?target=1e999",
        base + "/units?page=99999",
        base + "/change?since=nonsense",
        base + "/areas?page=x",
        base + "/elements?target=-5",
        base + "/indices?format=exe",
        base + "/units/chart?format=gif&sort=zz",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/rounds/999999/results").status_code == 404
    assert client.get("/admin/rounds/999999/report").status_code == 404
    assert client.get(base + "/units/999999").status_code == 404


def test_a_round_without_responses_says_so(app: Flask, staff: Staff) -> None:
    with app.app_context():
        round_id = round_over([staff.unit_id, staff.other_unit_id], now=utcnow())
    client = _signed_in(app, "admin")
    base = f"/admin/rounds/{round_id}"
    for path in ("/results", "/results/units", "/results/elements", "/results/areas"):
        assert "chưa có phiếu nào được tính" in text_of(client, base + path).replace(
            "Chưa", "chưa"
        ), path
    assert text_of(client, base + "/results/change")
    assert text_of(client, base + "/report")
    assert text_of(client, base + f"/results/units/{staff.unit_id}")
    assert client.get(base + "/results/units/chart").status_code == 200
    answer = client.get(base + "/results/indices")
    assert answer.get_data().decode("utf-8-sig").splitlines()[0].startswith("level,unit")


def test_areas_page_cells_equal_analysis(app: Flask, demo: Demo) -> None:
    reference = _reference(app, demo.round)
    names = _names(app, demo.round)
    with app.app_context():
        areas = {a.code: a.name for a in db.session.scalars(select(ServiceArea))}
    html = text_of(_signed_in(app, "analyst"), f"/admin/rounds/{demo.round}/results/areas")
    cells = {(row[0], row[1]): row for table in tables(html) for row in table[1:] if len(row) > 5}
    expected = reference.rows(level=Level.CELL, kind=IndexKind.OVERALL, measure="top2box")
    assert expected
    checked = 0
    for row in expected:  # the first page of cells (50), by unit name then area
        key = (names[row.unit or ""], areas[row.area or ""])
        if key not in cells:
            continue
        checked += 1
        assert cells[key][2].split(" ")[0].rstrip("*") == _vi(row.estimate)
        assert cells[key][3] == f"{_vi(row.ci_low)} – {_vi(row.ci_high)}"
    assert checked >= 20
    area_rows = reference.rows(level=Level.AREA, kind=IndexKind.OVERALL, measure="top2box")
    shown = {row[0]: row for table in tables(html) for row in table[1:]}
    for row in area_rows:
        assert shown[areas[row.area or ""]][1].split(" ")[0].rstrip("*") == _vi(row.estimate)
    assert "Chỉ số chung theo đơn vị và lĩnh vực" in html  # the units x areas heat table


def test_response_downloads_read_back_and_their_spec_reproduces_the_overview(
    app: Flask, demo: Demo, tmp_path: Path
) -> None:
    """What an analyst downloads from the console: every format opens in its own reader with
    every counted response, and the ZIP's SPEC.json, run through ``python -m analysis
    estimate``, gives the overall index the overview page shows."""
    import json
    import subprocess
    import sys
    import zipfile

    import pyreadstat

    from survey.models import AuditEvent, Response
    from survey.services.responses.counting import counted_responses

    with app.app_context():
        round_ = db.session.get(Round, demo.round)
        assert round_ is not None
        counted_ids = sorted(
            db.session.scalars(counted_responses(round_).with_only_columns(Response.id))
        )
    analyst = _signed_in(app, "analyst")
    overview = text_of(analyst, f"/admin/rounds/{demo.round}/results")
    assert f"/admin/rounds/{demo.round}/export/sav" in analyst.get(
        f"/admin/rounds/{demo.round}/results"
    ).get_data(as_text=True)

    def download(fmt: str) -> bytes:
        # Closing the answer closes the file and removes the export's temporary folder, as
        # the WSGI server does after sending it.
        with analyst.get(f"/admin/rounds/{demo.round}/export/{fmt}") as answer:
            assert answer.status_code == 200, fmt
            assert "attachment" in answer.headers["Content-Disposition"]
            return answer.get_data()

    rows = list(csv.DictReader(io.StringIO(download("csv").decode("utf-8-sig"))))
    assert sorted(int(r["response_id"]) for r in rows) == counted_ids

    book = load_workbook(io.BytesIO(download("xlsx")), read_only=True)
    assert {"responses", "codebook"} <= set(book.sheetnames)
    assert sum(1 for _ in book["responses"].iter_rows()) == len(counted_ids) + 1
    book.close()

    for fmt, reader in (("sav", pyreadstat.read_sav), ("dta", pyreadstat.read_dta)):
        path = tmp_path / f"round.{fmt}"
        path.write_bytes(download(fmt))
        frame, meta = reader(str(path))
        assert sorted(int(v) for v in frame["response_id"]) == counted_ids, fmt
        assert meta.variable_value_labels, fmt

    with zipfile.ZipFile(io.BytesIO(download("zip"))) as archive:
        archive.extractall(tmp_path / "bundle")
    spec = tmp_path / "bundle" / "SPEC.json"
    run = subprocess.run(
        [sys.executable, "-m", "analysis", "estimate", str(spec)],
        capture_output=True,
        text=True,
        check=True,
    )
    estimates = {row["id"]: row for row in json.loads(run.stdout)["estimates"]}
    shown = _vi(100 * estimates["overall_index"]["estimate"])
    assert shown == _vi(
        _reference(app, demo.round).find(Level.PROVINCE, kind=IndexKind.OVERALL).estimate
    )
    assert shown in overview

    # The reproduction bundle: the same CSV, and scripts that name the product's numbers.
    assert f"/admin/rounds/{demo.round}/export/bundle" in analyst.get(
        f"/admin/rounds/{demo.round}/results"
    ).get_data(as_text=True)
    with zipfile.ZipFile(io.BytesIO(download("bundle"))) as archive:
        assert archive.read("data.csv") == download("csv")
        script = archive.read("reproduce.R").decode()
    province = _reference(app, demo.round).find(
        Level.PROVINCE, kind=IndexKind.OVERALL, measure="top2box"
    )
    assert f"province: overall index {province.estimate:.8f}" in script

    # Officers do not take response-level data; unknown formats are 404; downloads are audited.
    officer = _signed_in(app, "officer")
    assert officer.get(f"/admin/rounds/{demo.round}/export/csv").status_code == 403
    assert officer.get(f"/admin/rounds/{demo.round}/export/bundle").status_code == 403
    assert analyst.get(f"/admin/rounds/{demo.round}/export/pdf").status_code == 404
    assert analyst.get("/admin/rounds/999999/export/csv").status_code == 404
    with app.app_context():
        formats = [
            e.after["format"]
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "round.export")
            )
        ]
    assert sorted(formats) == ["bundle", "csv", "csv", "dta", "sav", "xlsx", "zip"]


def test_a_download_is_named_by_the_day_in_vietnam(
    app: Flask, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 18:30 UTC on 5 December it is 01:30 on 6 December in Vietnam: the file an analyst
    downloads then is dated the 6th, as their own calendar says."""
    late = datetime(2026, 12, 5, 18, 30)
    monkeypatch.setattr("survey.admin.results.utcnow", lambda: late)
    analyst = _signed_in(app, "analyst")
    for fmt in ("csv", "sav"):
        with analyst.get(f"/admin/rounds/{demo.round}/export/{fmt}") as answer:
            assert answer.status_code == 200
            assert "-20261206." in answer.headers["Content-Disposition"], fmt
    answer = analyst.get(f"/admin/rounds/{demo.round}/results/indices")
    assert answer.status_code == 200
    assert "-20261206.csv" in answer.headers["Content-Disposition"]
