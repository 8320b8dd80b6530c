"""``flask export --format index-csv|index-xlsx`` read back against the analysis library, and the
SPSS file built chunk by chunk read back against the CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pyreadstat
import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select

from analysis.satisfaction import IndexKind, IndexTable, Level
from survey.extensions import db
from survey.models import Answer, Item, Response, ResponseStatus, Round, Scale
from survey.services.exports import microdata as exports
from tests.services.results.test_indices import _demo_round, reference_table


def test_index_exports_from_the_command_line_equal_analysis(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        round_id = _demo_round(800)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        reference = reference_table(round_)
        assert isinstance(reference, IndexTable)
    runner = app.test_cli_runner()
    out_csv, out_xlsx = tmp_path / "indices.csv", tmp_path / "indices.xlsx"
    for fmt, out in (("index-csv", out_csv), ("index-xlsx", out_xlsx)):
        result = runner.invoke(
            args=["export", "--round", str(round_id), "--format", fmt, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert "index rows" in result.output
    with out_csv.open(encoding="utf-8-sig", newline="") as f:
        everything = list(csv.DictReader(f))
    # Model-based rows (tests/admin/test_small_area.py) come beside the direct ones.
    rows = [r for r in everything if r["measure"] != "model"]
    assert len(rows) == len(reference)  # every level, kind and measure; nobody is left out
    by_key = {
        (r["level"], r["unit"], r["area"], r["kind"], r["index"], r["measure"]): r for r in rows
    }
    for row in reference.rows():
        key = (row.level, row.unit or "", row.area or "", row.kind, row.index, row.measure)
        exported = by_key[tuple(str(k) for k in key)]
        for name in ("estimate", "ci_low", "ci_high"):
            value = getattr(row, name)
            if math.isnan(value):
                assert exported[name] == ""
            else:
                assert float(exported[name]) == round(value, 2), (key, name)
        assert int(exported["n"]) == row.n
        assert exported["flags"] == ";".join(row.flags)
    province = reference.find(Level.PROVINCE, kind=IndexKind.OVERALL)
    overall = by_key[("province", "", "", "overall", "overall", "top2box")]
    assert overall["verdict"] == (
        "above" if province.ci_low > 90 else "below" if province.ci_high < 90 else "cannot_tell"
    )
    book = load_workbook(out_xlsx, read_only=True)
    lines = list(book["indices"].iter_rows(values_only=True))
    book.close()  # a read-only workbook keeps its file open until closed
    assert len(lines) == len(everything) + 1
    header = list(lines[0])
    for line, from_csv in zip(lines[1:], everything, strict=True):
        padded = list(line) + [None] * (len(header) - len(line))
        record = dict(zip(header, padded, strict=True))
        assert (record["unit"] or "") == from_csv["unit"]
        estimate = record["estimate"]
        assert ("" if estimate is None else float(estimate)) == (
            "" if from_csv["estimate"] == "" else float(from_csv["estimate"])
        )


def test_spss_file_built_in_chunks_equals_the_csv(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "BLOCK", 37)
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(250))
        assert round_ is not None
        with (tmp_path / "r.csv").open("wb") as f:
            assert exports.write_csv(round_, f) == 250
        assert exports.write_sav(round_, tmp_path / "r.sav") == 250
    frame, _meta = pyreadstat.read_sav(str(tmp_path / "r.sav"))
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(frame) == len(rows) == 250
    for i, row in enumerate(rows):
        for name, text in row.items():
            value = frame.iloc[i][name]
            if text in ("", "NA"):
                assert value == "" or (isinstance(value, float) and math.isnan(value)), name
            elif isinstance(value, str):
                assert value == text, name
            else:
                assert float(value) == pytest.approx(float(text)), name


def test_csv_in_blocks_equals_the_answers_read_one_by_one(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answer cell of the CSV (written a block of 23 responses at a time) against the
    stored answers read through the ORM one by one: the value, NA for not applicable, 1 for a
    chosen option, empty for a blank."""
    monkeypatch.setattr(exports, "BLOCK", 23)
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(120))
        assert round_ is not None
        with (tmp_path / "r.csv").open("wb") as f:
            assert exports.write_csv(round_, f) == 120
        columns = {(v.item_id, v.option): v.name for v in exports.variables(round_) if v.item_id}
        expected: dict[int, dict[str, str]] = {}
        counted = select(Response.id).where(
            Response.round_id == round_.id, Response.status == ResponseStatus.COUNTED.value
        )
        for answer in db.session.scalars(select(Answer).where(Answer.response_id.in_(counted))):
            item = db.session.get(Item, answer.item_id)
            assert item is not None
            if item.scale == Scale.TEXT:
                continue
            row = expected.setdefault(answer.response_id, {})
            if item.scale == Scale.CHOICE:
                row[columns[(item.id, answer.value)]] = "1"
            elif answer.not_applicable:
                row[columns[(item.id, None)]] = "NA"
            else:
                row[columns[(item.id, None)]] = "" if answer.value is None else str(answer.value)
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["response_id"]) for r in rows] == sorted(expected)
    for row in rows:
        mine = expected[int(row["response_id"])]
        for (_item, option), name in columns.items():
            if name in mine:
                assert row[name] == mine[name], name
            else:
                assert row[name] == ("0" if option is not None else ""), name
