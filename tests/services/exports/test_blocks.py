"""The response exports written in blocks: a small block gives the same file (CSV) or the same
values, labels and missing codes (SPSS, Stata) as one block for the whole round, and a round
with no counted responses still gives a file with every column and no rows."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from survey.extensions import db
from survey.models import Response, Round
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


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "export-read-ahead" and t.is_alive()]


def test_an_export_stopped_half_way_leaves_no_reader_or_connection_behind(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download the browser abandons: the blocks read ahead (on PostgreSQL, by a thread on a
    connection of its own) stop, and the connection goes back to the pool."""
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(60))
        assert round_ is not None
        monkeypatch.setattr(exports, "BLOCK", 5)
        checked_out = db.engine.pool.checkedout()  # type: ignore[attr-defined]
        blocks = exports._blocks(round_, exports.variables(round_))
        first, _cells = next(blocks)
        assert len(first.ids) == 5
        blocks.close()
        assert _readers() == []
        assert db.engine.pool.checkedout() <= checked_out + 1  # type: ignore[attr-defined]


def test_a_database_error_while_reading_ahead_reaches_the_export(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost in the middle of an export: the export fails with the database's
    error (the download answers 503), it does not end early as if the round were shorter."""
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(40))
        assert round_ is not None
        monkeypatch.setattr(exports, "BLOCK", 5)
        real = exports._answers
        calls = {"n": 0}

        def failing(connection: object, first: int, last: int) -> object:
            calls["n"] += 1
            if calls["n"] == 3:
                raise OperationalError("SELECT answers", {}, Exception("server closed"))
            return real(connection, first, last)  # type: ignore[arg-type]

        monkeypatch.setattr(exports, "_answers", failing)
        with pytest.raises(OperationalError), (tmp_path / "cut.csv").open("wb") as out:
            exports.write_csv(round_, out)
        assert _readers() == []


def test_an_export_is_one_state_of_the_round(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the blocks are read in one REPEATABLE READ transaction: a response excluded
    while the export is being written is still in it, as it was when the export began."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: SQLite reads each block as it is then")
        round_ = db.session.get(Round, _demo_round(30))
        assert round_ is not None
        monkeypatch.setattr(exports, "BLOCK", 5)
        last = db.session.scalar(
            select(func.max(Response.id)).where(Response.round_id == round_.id)
        )
        blocks = exports._blocks(round_, exports.variables(round_))
        seen = list(next(blocks)[0].ids)
        with db.engine.begin() as other:
            other.execute(
                update(Response)
                .where(Response.id == last)
                .values(status="excluded", exclusion_reason="test: excluded meanwhile")
            )
        seen += [int(i) for block, _cells in blocks for i in block.ids]
        assert len(seen) == 30 and last in seen
