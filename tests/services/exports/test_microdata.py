"""Exports read back with the library that reads each format, and compared with the database."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyreadstat
import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select

from survey.extensions import db
from survey.models import DossierCount, Item, Response, Round, utcnow
from survey.services.exports import microdata as exports
from survey.services.responses.recording import AnswerValue, record_response
from tests.factories import make_area, make_desk, make_round, make_unit


@dataclass(frozen=True)
class Exported:
    round_id: int
    counted_ids: list[int]


def _answers(items: dict[str, Item], base: int) -> list[AnswerValue]:
    values = [AnswerValue(items[code].id, value=base) for code in ("A1", "A2", "B1", "C1")]
    values.append(AnswerValue(items["A3"].id, not_applicable=True))
    values.append(AnswerValue(items["Q_OVERALL"].id, value=5))
    values.append(AnswerValue(items["Q_PRIORITY"].id, value=2))
    values.append(AnswerValue(items["Q_PRIORITY"].id, value=4))
    values.append(AnswerValue(items["Q_COMMENT"].id, text="Số điện thoại của tôi 0912345678"))
    return values


@pytest.fixture
def exported(app: Flask) -> Exported:
    """Two cells (3 and 1 counted responses), one excluded and one late response."""
    with app.app_context():
        civil, land = make_area("HT"), make_area("DD", "Đất đai", "Land")
        unit = make_unit("U01", "UBND phường Bình Minh", [civil, land])
        desk = make_desk(unit)
        round_ = make_round([unit])
        db.session.add_all(
            [
                DossierCount(
                    round_id=round_.id, unit_id=unit.id, service_area_id=civil.id, dossiers=300
                ),
                DossierCount(
                    round_id=round_.id, unit_id=unit.id, service_area_id=land.id, dossiers=50
                ),
            ]
        )
        db.session.commit()
        items = {i.code: i for i in round_.template_version.items}
        now = utcnow()
        ids = []
        for n, (area, base) in enumerate([(civil, 4), (civil, 5), (civil, 2), (land, 3)]):
            ids.append(
                record_response(
                    round_=round_,
                    desk_id=desk.id,
                    unit_id=desk.unit_id,
                    service_area_id=area.id,
                    answers=_answers(items, base),
                    idempotency_key=f"export-test-key-{n:04d}",
                    now=now,
                ).response_id
            )
        record_response(
            round_=round_,
            desk_id=desk.id,
            unit_id=desk.unit_id,
            service_area_id=civil.id,
            answers=_answers(items, 1),
            idempotency_key="export-test-bot-0001",
            now=now,
            exclusion_reason="honeypot field filled",
        )
        late = record_response(
            round_=round_,
            desk_id=desk.id,
            unit_id=desk.unit_id,
            service_area_id=civil.id,
            answers=_answers(items, 1),
            idempotency_key="export-test-late-001",
            now=now,
        )
        response = db.session.get(Response, late.response_id)
        assert response is not None
        response.received_at = round_.closes_at + timedelta(hours=1)  # outside the period
        db.session.commit()
        return Exported(round_.id, ids)


def _round(app: Flask, exported: Exported) -> Round:
    round_ = db.session.get(Round, exported.round_id)
    assert round_ is not None
    return round_


def test_csv_has_a_bom_counted_rows_weights_and_na(app: Flask, exported: Exported) -> None:
    with app.app_context():
        out = io.BytesIO()
        assert exports.write_csv(_round(app, exported), out) == 4
    raw = out.getvalue()
    assert raw.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the mark
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [int(r["response_id"]) for r in table] == exported.counted_ids
    first = table[0]
    assert first["unit_name"] == "UBND phường Bình Minh" and first["cell"] == "U01:HT"
    # Weights by hand: 300 dossiers over 3 counted responses; 50 over 1.
    assert float(first["weight"]) == pytest.approx(100.0)
    assert float(table[3]["weight"]) == pytest.approx(50.0)
    assert first["dossiers"] == "300" and first["responses_in_cell"] == "3"
    assert first["A1"] == "4" and first["A3"] == "NA" and first["A4"] == ""
    assert first["Q_PRIORITY_2"] == "1" and first["Q_PRIORITY_1"] == "0"
    assert "Q_COMMENT" not in first  # comments are read after moderation, never exported
    assert "0912345678" not in raw.decode("utf-8-sig")


def test_xlsx_reads_back_with_a_codebook(app: Flask, exported: Exported, tmp_path: Path) -> None:
    path = tmp_path / "round.xlsx"
    with app.app_context():
        exports.write_xlsx(_round(app, exported), path)
    book = load_workbook(path, read_only=True)
    rows = list(book["responses"].iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert [r[0] for r in data] == exported.counted_ids
    record = dict(zip(header, data[2], strict=True))
    # Not applicable (A3) is a labelled code, apart from not answered (A4): blank.
    assert record["A1"] == 2 and record["A3"] == "NA" and record["A4"] is None
    assert record["unit"] == "U01"
    codebook = {r[0]: r for r in book["codebook"].iter_rows(values_only=True)}
    book.close()
    assert codebook["A1"][1] == "Nơi ngồi chờ có đủ chỗ ngồi"
    assert "5 = Rất hài lòng" in codebook["A1"][2]
    assert "NA = Không áp dụng" in codebook["A3"][2] and "empty = not answered" in codebook["A3"][2]


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_spss_and_stata_files_carry_labels(
    app: Flask, exported: Exported, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"round.{fmt}"
    with app.app_context():
        getattr(exports, f"write_{fmt}")(_round(app, exported), path)
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, meta = reader(str(path))
    assert list(frame["response_id"].astype(int)) == exported.counted_ids
    assert list(frame["A1"]) == [4.0, 5.0, 2.0, 3.0]
    assert frame["A3"].isna().all() and frame["A4"].isna().all()  # both missing by default
    assert meta.column_names_to_labels["unit_name"].startswith("Tên đơn vị")
    # ... but told apart: not applicable is the labelled user-missing code (SPSS 99, Stata .a),
    # not answered a plain system-missing value.
    kept, kept_meta = reader(str(path), user_missing=True)
    code = 99 if fmt == "sav" else "a"
    assert list(kept["A3"]) == [code] * 4 and kept["A4"].isna().all()
    assert kept_meta.variable_value_labels["A3"][code].startswith("Không áp dụng")
    labels = meta.variable_value_labels["A1"]
    assert labels[5] == "Rất hài lòng" and labels[1] == "Rất không hài lòng"
    assert list(frame["unit_name"]) == ["UBND phường Bình Minh"] * 4


def test_spec_weights_criteria_as_the_index_definition_says(app: Flask, exported: Exported) -> None:
    with app.app_context():
        spec = exports.analysis_spec(_round(app, exported), "round.csv")
    overall = spec["estimates"][0]
    assert overall["statistic"] == "composite" and len(overall["items"]) == 22
    assert sum(overall["item_weights"]) == pytest.approx(1.0)
    # SIPAS: one aspect, five elements; element A has four criteria, so A1 weighs 1/5 x 1/4.
    weight = dict(zip(overall["items"], overall["item_weights"], strict=True))
    assert weight["A1"] == pytest.approx(1 / 20) and weight["C1"] == pytest.approx(1 / 30)
    assert overall["success"] == [4, 5]
    assert spec["design"] == {
        "ids": [],
        "strata": "cell",
        "weights": "weight",
        "fpc": ["dossiers"],
        "lonely_psu": "adjust",
    }
    json.dumps(spec)  # serialisable as it is written


def test_export_command_writes_files_and_refuses_unknown_rounds(
    app: Flask, exported: Exported, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    out = tmp_path / "r.csv"
    result = runner.invoke(args=["export", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 4 responses" in result.output and out.read_bytes().startswith(b"\xef\xbb\xbf")
    missing = runner.invoke(args=["export", "--round", "999", "--format", "csv", "--out", str(out)])
    assert missing.exit_code == 1 and "no round with id 999" in missing.output
    assert "Traceback" not in missing.output
    bad = runner.invoke(args=["export", "--format", "pdf", "--out", str(out)])
    assert bad.exit_code == 2 and "pdf" in bad.output
    with app.app_context():
        assert db.session.scalar(select(Round.id)) == exported.round_id
