"""The SPSS and Stata files, written block by block by our own writers, read by readers that do
not share their code: pandas' own Stata reader and R's ``foreign::read.spss`` (PSPP's reader),
row by row against the CSV export, with Vietnamese texts, blanks, "not applicable" as the
labelled missing code, and a unit name too long for an SPSS string."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from flask import Flask

from survey.extensions import db
from survey.models import RoundUnit
from survey.services.exports import microdata as exports
from tests.services.exports.test_microdata import Exported, _round, exported  # noqa: F401

LONG_NAME = "Trung tâm Phục vụ hành chính công " * 8  # 272 characters, 336 bytes in UTF-8


def _csv(app: Flask, exported: Exported) -> list[dict[str, str]]:  # noqa: F811
    with app.app_context():
        out = io.BytesIO()
        exports.write_csv(_round(app, exported), out)
    return list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig"))))


def test_pandas_reads_the_stata_file_as_the_csv_says(
    app: Flask,
    exported: Exported,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "round.dta"
    with app.app_context():
        db.session.query(RoundUnit).update({RoundUnit.unit_name: LONG_NAME})
        db.session.commit()
        assert exports.write_dta(_round(app, exported), path) == 4
    rows = _csv(app, exported)
    with pd.io.stata.StataReader(path) as reader:
        frame = reader.read(convert_categoricals=False, convert_missing=True)
        labels = reader.value_labels()
        variable_labels = reader.variable_labels()
        data_label = reader.data_label
    assert data_label == "Đợt 1"
    assert list(frame.columns) == list(rows[0])
    assert [int(v) for v in frame["response_id"]] == [int(r["response_id"]) for r in rows]
    assert list(frame["unit_name"]) == [LONG_NAME] * 4  # str# holds 2045 bytes
    assert list(frame["cell"]) == [r["cell"] for r in rows]
    assert [float(v) for v in frame["weight"]] == [float(r["weight"]) for r in rows]
    assert [int(v) for v in frame["A1"]] == [int(r["A1"]) for r in rows]
    # Not applicable is Stata's .a, labelled; a blank is "."
    assert all(str(v) == ".a" for v in frame["A3"])
    assert all(str(v) == "." for v in frame["A4"])
    assert labels["A1"][5] == "Rất hài lòng"
    assert labels["A3"][2147483622].startswith("Không áp dụng")  # .a in a value label table
    assert variable_labels["unit_name"].startswith("Tên đơn vị")


def test_r_reads_the_spss_file_as_the_csv_says(
    app: Flask,
    exported: Exported,  # noqa: F811
    tmp_path: Path,
) -> None:
    """R's foreign::read.spss (the PSPP reader) on our .sav: values, user-missing 99 as NA
    unless kept, value labels, a Vietnamese name cut to SPSS's 255 bytes at a character."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed: apt-get install r-base-core (.ci/run does)")
    path = tmp_path / "round.sav"
    with app.app_context():
        db.session.query(RoundUnit).update({RoundUnit.unit_name: LONG_NAME})
        db.session.commit()
        assert exports.write_sav(_round(app, exported), path) == 4
    rows = _csv(app, exported)
    script = f"""
suppressWarnings(library(foreign))
d <- suppressWarnings(read.spss("{path}", to.data.frame = TRUE, use.value.labels = FALSE,
                                reencode = "UTF-8"))
k <- suppressWarnings(read.spss("{path}", to.data.frame = TRUE, use.value.labels = FALSE,
                                use.missings = FALSE, reencode = "UTF-8"))
l <- attr(suppressWarnings(read.spss("{path}", reencode = "UTF-8")), "label.table")
cat("ids", d$response_id, "\\n")
cat("A1", d$A1, "\\n")
cat("A3", is.na(d$A3), "\\n")
cat("A3kept", k$A3, "\\n")
cat("A4", is.na(d$A4), "\\n")
cat("weight", format(d$weight, digits = 15), "\\n")
cat("cell", trimws(d$cell), "\\n")
cat("labelA1", names(l$A1)[l$A1 == 5], "\\n")
writeLines(trimws(d$unit_name[1]), "{tmp_path / 'name.txt'}", useBytes = TRUE)
"""
    run = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    out = {line.split(" ", 1)[0]: line.split(" ", 1)[1].split() for line in run.stdout.splitlines()}
    assert [int(v) for v in out["ids"]] == [int(r["response_id"]) for r in rows]
    assert [int(v) for v in out["A1"]] == [int(r["A1"]) for r in rows]
    assert out["A3"] == ["TRUE"] * 4 and out["A4"] == ["TRUE"] * 4
    assert out["A3kept"] == ["99"] * 4  # not applicable: the user-missing code
    assert [float(v) for v in out["weight"]] == pytest.approx([float(r["weight"]) for r in rows])
    assert out["cell"] == [r["cell"] for r in rows]
    assert " ".join(out["labelA1"]) == "Rất hài lòng"
    name = (tmp_path / "name.txt").read_text(encoding="utf-8").strip()
    cut = LONG_NAME.encode()[:255].decode("utf-8", errors="ignore").strip()
    assert name == cut and len(name.encode()) <= 255
