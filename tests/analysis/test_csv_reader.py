"""The estimation command's CSV reader (analysis.csv_table): the columnar fast path (no quote in
the file) gives the same table as the csv module reads, on files made to trip it up; bad files
get one clear error either way."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.csv_table import Table, read_columns
from analysis.spec import SpecError

NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity)", re.I | re.A)
LONG = "Trung tâm phục vụ hành chính công "
LOGICAL = {"TRUE": "True", "true": "True", "FALSE": "False", "false": "False", "NA": ""}
TRICKY = {
    "vietnamese": (
        "đơn vị,lĩnh vực,w,q1,ghi chú\n"
        "Ủy ban nhân dân xã Tân Lập,Hộ tịch,1.5,5,Cán bộ tận tình\n"
        "Công an huyện,Cư trú,2.25,NA,\n"
        "Ủy ban nhân dân xã Tân Lập,Đất đai,0.75,4,Chờ lâu quá\n"
        "Bảo hiểm xã hội tỉnh Thừa Thiên Huế (chi nhánh),Cư trú,1e1,1,\n"
    ),
    "bom and CRLF": "\ufeffunit,w,q1\r\nU1,1,5\r\nU2,2,4\r\nU1,3,NA\r\nU3,1,1\r\n",
    "lone CR": "unit,w,q1\rU1,1,5\rU2,2,4\rU1,3,3\r",
    "blank lines": "unit,w,q1\n\nU1,1,5\n   \nU2,2,4\n\nU1,3,\nU2,1, NA\n\n",
    "spaces": "unit,w,q1\n U1 ,1 , 5\nU2,  2,4 \nU1 ,3,NA \n U2,4,\t3\n",
    "short rows": "unit,w,q1\nU1,1,5\nU2,2\nU1,1,4\nU2\n",
    "numbers": "unit,w,q1\n01,1e0,-0\n1.0,2.5E+00,+4\n2,.5,5.\n2.50,5.,1e1\n-3,1,1\n",
    "logical": "unit,w,q1\nTRUE,1,5\nfalse,2,4\nNA,3,3\nFALSE,1,\n",
    "text that looks numeric": "unit,w,q1\nU1,1,nan\nU2,2,1_000\nU3,3,١٢\nU4,4,0x1\n",
    "long values": "unit,w,q1\n"
    + "".join(f"{LONG * (i % 3)}{i},{i + 1},{i % 5}\n" for i in range(40)),
    "last line without newline": "unit,w,q1\nU1,1,5\nU2,2,4",
    "quotes": 'unit,w,q1\n"Sở Tư pháp, Hà Nội",1,5\n"Sở ""Y tế""",2,"4"\n  "A,B",3,2\nx"y,1,1\n',
}


def _by_csv_module(text: str) -> dict[str, list[str]]:
    """Each column as the csv module reads the file (spaces after a comma skipped, blank rows
    skipped, short rows padded), stripped."""
    rows = [
        row
        for row in csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), skipinitialspace=True)
        if row and row != [""]
    ]
    header, body = rows[0], rows[1:]
    return {
        name: [row[j].strip() if j < len(row) else "" for row in body]
        for j, name in enumerate(header)
    }


def _quoted(text: str) -> str:
    """The same table with every value quoted, which the fast path never reads."""
    columns = _by_csv_module(text)
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return out.getvalue()


def _table(tmp_path: Path, text: str, name: str = "d.csv") -> Table:
    (tmp_path / name).write_bytes(text.encode("utf-8"))
    return Table(tmp_path / name)


def _number(value: str) -> float:
    return math.nan if value in ("", "NA") else float(value)


@pytest.mark.parametrize("text", TRICKY.values(), ids=list(TRICKY))
def test_same_table_as_the_csv_module(tmp_path: Path, text: str) -> None:
    expected = _by_csv_module(text)
    fast, slow = _table(tmp_path, text), _table(tmp_path, _quoted(text), "quoted.csv")
    for table in (fast, slow):
        assert table.n == len(next(iter(expected.values())))
        for name, values in expected.items():
            present = [v for v in values if v not in ("", "NA")]
            numeric = table.numeric(name)
            if all(NUMBER.fullmatch(v) for v in present):
                assert numeric is not None, name
                np.testing.assert_array_equal(numeric, [_number(v) for v in values])
            else:
                assert numeric is None, name
                assert table.text(name).tolist() == [LOGICAL.get(v, v) for v in values], name
            assert table.missing(name).tolist() == [v in ("", "NA") for v in values]
        for name in expected:
            codes, labels, _keys = table.groups(name)
            other_codes, other_labels, _ = slow.groups(name)
            assert labels == other_labels
            assert codes.tolist() == other_codes.tolist()


@pytest.mark.parametrize("text", TRICKY.values(), ids=list(TRICKY))
def test_same_values_as_pandas_read_them(tmp_path: Path, text: str) -> None:
    """The reader it replaced: pandas.read_csv with these options, then stripped text, or
    numbers when every present value is one."""
    table = _table(tmp_path, text)
    frame = pd.read_csv(
        tmp_path / "d.csv",
        keep_default_na=False,
        na_values=["", "NA"],
        skipinitialspace=True,
        encoding="utf-8-sig",
        low_memory=False,
    )
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "iuf":
            np.testing.assert_array_equal(table.numeric(name), column.to_numpy(dtype=float))
            continue
        text_values = column.astype(object).where(column.notna(), "").astype(str).str.strip()
        words = ["" if v in ("", "NA") else v for v in text_values.tolist()]
        numbers = pd.to_numeric(pd.Series(words, dtype=object).replace("", None), errors="coerce")
        if column.dtype.kind != "b" and not (numbers.isna() & (np.array(words) != "")).any():
            np.testing.assert_array_equal(table.numeric(name), numbers.to_numpy(dtype=float))
        else:
            assert table.numeric(name) is None, name
            assert table.text(name).tolist() == words, name


def test_vietnamese_groups_in_text_order(tmp_path: Path) -> None:
    table = _table(tmp_path, TRICKY["vietnamese"])
    codes, labels, _keys = table.groups("đơn vị")
    assert labels == sorted(set(labels)) and len(labels) == 3
    assert labels[codes[1]] == "Công an huyện"
    assert table.text("ghi chú").tolist()[:2] == ["Cán bộ tận tình", ""]


def test_infinity_is_a_number_and_nan_is_text(tmp_path: Path) -> None:
    table = _table(tmp_path, "a,b\ninf,nan\n-Infinity,1\n")
    assert table.numeric("a").tolist() == [math.inf, -math.inf]
    assert table.numeric("b") is None


def test_negative_zero_as_pandas_read_it(tmp_path: Path) -> None:
    """A column of integers has no -0 (read as an integer); among decimals -0.0 stays."""
    table = _table(tmp_path, "a,b,c\n-0,-0,-0\n1,-0.0,\n")
    assert math.copysign(1, table.numeric("a")[0]) == 1
    assert math.copysign(1, table.numeric("b")[1]) == -1
    assert math.copysign(1, table.numeric("c")[0]) == -1  # a missing value: read as decimal


BAD = [
    ("unit,w\nU1,1\nU2,2,9\n", "expected 2 fields in line 3, saw 3"),
    ('unit,w\n"U1,1\nU2,2\n', "a quoted value is never closed"),
    ("unit,w\r\nU1,1\r\nU2,2,9\r\n", "expected 2 fields in line 3, saw 3"),
    ("unit,unit\nU1,U2\n", "duplicate column names"),
    ("unit,w\n\n  \n", "no data rows"),
    ("unit,w\r\n", "no data rows"),
    ("\n\nunit,w\nU1,1\n", "no header row"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "d.csv").write_bytes(text.encode("utf-8"))
    with pytest.raises(SpecError, match=message):
        read_columns(tmp_path / "d.csv")


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"unit,w\nHu\xe9,1\n")  # Latin-1
    with pytest.raises(SpecError, match="not UTF-8"):
        read_columns(tmp_path / "d.csv")
