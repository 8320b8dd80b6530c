"""The response exports written in blocks: a small block gives the same file (CSV) or the same
values, labels and missing codes (SPSS, Stata) as one block for the whole round, and a round
with no counted responses still gives a file with every column and no rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from flask import Flask

from survey.extensions import db
from survey.models import Round
from survey.services.exports import microdata as exports
from tests.factories import make_round, make_unit
from tests.services.results.test_indices import _demo_round

READERS = {"sav": pyreadstat.read_sav, "dta": pyreadstat.read_dta}


def _write(round_: Round, fmt: str, path: Path) -> int:
    if fmt == "csv":
        with path.open("wb") as f:
            return exports.write_csv(round_, f)
    return exports.write_sav(round_, path) if fmt == "sav" else exports.write_dta(round_, path)


@pytest.mark.parametrize("fmt", ["csv", "sav", "dta"])
def test_many_blocks_give_what_one_block_gives(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(90))
        assert round_ is not None
        monkeypatch.setattr(exports, "BLOCK", 1_000_000)
        assert _write(round_, fmt, tmp_path / f"one.{fmt}") == 90
        monkeypatch.setattr(exports, "BLOCK", 7)
        assert _write(round_, fmt, tmp_path / f"many.{fmt}") == 90
    if fmt == "csv":
        assert (tmp_path / "many.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
        return
    read = READERS[fmt]
    one, one_meta = read(str(tmp_path / f"one.{fmt}"), user_missing=True)
    many, many_meta = read(str(tmp_path / f"many.{fmt}"), user_missing=True)
    pd.testing.assert_frame_equal(many, one)
    assert many_meta.column_names_to_labels == one_meta.column_names_to_labels
    assert many_meta.variable_value_labels == one_meta.variable_value_labels
    assert many_meta.missing_user_values == one_meta.missing_user_values


@pytest.mark.parametrize("fmt", ["csv", "sav", "dta"])
def test_a_round_without_responses_gives_every_column_and_no_rows(
    app: Flask, tmp_path: Path, fmt: str
) -> None:
    with app.app_context():
        round_ = make_round([make_unit("U01")])
        db.session.commit()
        names = [v.name for v in exports.variables(round_)]
        assert _write(round_, fmt, tmp_path / f"empty.{fmt}") == 0
    if fmt == "csv":
        with (tmp_path / "empty.csv").open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
        assert rows == [names]
        return
    frame, _meta = READERS[fmt](str(tmp_path / f"empty.{fmt}"))
    assert list(frame.columns) == names
    assert len(frame) == 0
