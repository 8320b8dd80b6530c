"""A CSV file's columns for the estimation command, read once.

Values: a cell that is empty or ``NA`` is missing; a column is numeric when every present value
parses as a number (``inf`` and ``-inf`` included, ``nan`` not). A column whose every present
value is ``TRUE``, ``True``, ``true``, ``FALSE``, ``False`` or ``false`` is text with the values
``True`` and ``False``. Group values (``by``, ``where``, ``between``, calibration groups) are
compared as numbers in numeric columns (``1``, ``1.0`` and ``"1"`` are the same group) and as
text otherwise.

The file is read by column: without quote characters (the usual export) the text is split at
line ends and commas and each column taken as a slice of the fields; otherwise by the csv
module. Rows are those of a CSV reader that skips spaces after a comma and blank lines; a row
with fewer fields than the header is padded with missing values, one with more is refused.
Nothing is converted until a spec asks for the column.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator
from operator import methodcaller
from pathlib import Path
from typing import Any

import numpy as np

from analysis.spec import (
    Scalar,
    SpecError,
)

MISSING = ("", "NA")
COMPARE = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}
_TRUE, _FALSE = ("True", "TRUE", "true"), ("False", "FALSE", "false")
# A value made of these characters is a number if float() reads it; with letters, only inf.
_DIGITS = frozenset("0123456789.+-eE")
_INTEGER = frozenset("0123456789+-")
_INFINITY = frozenset("infinityINFINITY")
_NUMBER = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?i:inf|infinity)"
)
_COUNT_COMMAS = methodcaller("count", ",")


def _number_key(value: float) -> str:
    """The text form under which a number is matched: 3.0 -> "3", 0.5 -> "0.5"."""
    if value == math.floor(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _display(value: float) -> int | float:
    return int(value) if value == math.floor(value) and abs(value) < 1e15 else float(value)


def read_columns(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the columns of a CSV file, as text (leading spaces of a value kept).

    Parameters
    ----------
    path : pathlib.Path
        The CSV file (UTF-8, with or without a byte-order mark).

    Returns
    -------
    tuple[list[str], list[list[str]]]
        The column names and, for each, its values row by row.

    Raises
    ------
    SpecError
        When the file is missing, not UTF-8, not CSV, or has no header or no rows.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise SpecError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise SpecError(f"data path is a folder, not a CSV file: {path}") from None
    except UnicodeDecodeError:
        raise SpecError(f"data file is not UTF-8 text: {path}") from None
    if '"' not in text:
        text = text.replace("\r\n", "\n")
        if "\r" not in text:
            return _split(text, path)
    return _parse(text, path)


def _split(text: str, path: Path) -> tuple[list[str], list[list[str]]]:
    """The columns of a file without quotes or lone carriage returns: lines split at commas,
    each column a slice of all the fields when every line has as many as the header."""
    head, _, body = text.partition("\n")
    header = head.split(",")
    _check_header(header, path)
    k = len(header)
    body = body.removesuffix("\n")
    lines = body.split("\n")
    # A blank line has no comma, so this also says there is none.
    if k > 1 and body and set(map(_COUNT_COMMAS, lines)) == {k - 1}:
        fields = body.replace("\n", ",").split(",")
        return header, [fields[j::k] for j in range(k)]
    numbered = (
        (number, line.split(","))
        for number, line in enumerate(lines, start=2)
        if line and not line.isspace()
    )
    return header, _columns(numbered, k, path)


def _parse(text: str, path: Path) -> tuple[list[str], list[list[str]]]:
    """The columns of any CSV file, by the csv module."""
    f = io.StringIO(text, newline="")
    header = next(csv.reader(f), [])
    _check_header(header, path)
    start = f.tell()
    try:
        return header, _columns(_numbered(f, strict=True), len(header), path)
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise SpecError(
                f"data file is not valid CSV (a quoted value is never closed): {path}"
            ) from None
    # Text after a closing quote ("ab"c) is kept, as spreadsheets and pandas read it.
    f.seek(start)
    try:
        return header, _columns(_numbered(f, strict=False), len(header), path)
    except csv.Error as exc:
        raise SpecError(f"data file is not valid CSV ({exc}): {path}") from None


def _numbered(f: io.StringIO, *, strict: bool) -> Iterator[tuple[int, list[str]]]:
    """(line number in the file, fields) of each row that is not blank."""
    offset = f.getvalue().count("\n", 0, f.tell())
    reader = csv.reader(f, skipinitialspace=True, strict=strict)
    for row in reader:
        if row and row != [""]:
            yield offset + reader.line_num, row


def _check_header(header: list[str], path: Path) -> None:
    if not header or all(not h.strip() for h in header):
        raise SpecError(f"data file has no header row: {path}")
    if len(set(header)) != len(header):
        raise SpecError(f"data file has duplicate column names: {path}")


def _columns(rows: Iterable[tuple[int, list[str]]], k: int, path: Path) -> list[list[str]]:
    """Rows to columns; a short row is padded with missing values, a long one refused."""
    kept = []
    for number, row in rows:
        if len(row) > k:
            raise SpecError(
                f"data file is not valid CSV (expected {k} fields in line {number}, saw "
                f"{len(row)}): {path}"
            )
        if len(row) < k:
            row.extend([""] * (k - len(row)))
        kept.append(row)
    if not kept:
        raise SpecError(f"data file has no data rows: {path}")
    return [list(column) for column in zip(*kept, strict=True)]


class Table:
    """The CSV's columns, read once; text forms, numeric forms and group codes on demand (only
    the columns a spec uses are ever converted)."""

    def __init__(self, path: Path) -> None:
        header, columns = read_columns(path)
        self.path = path
        self.n = len(columns[0])
        self._columns = dict(zip(header, columns, strict=True))
        self._stripped: dict[str, dict[str, str]] = {}
        self._text: dict[str, np.ndarray] = {}
        self._numeric: dict[str, np.ndarray | None] = {}
        self._groups: dict[str, tuple[np.ndarray, list[Any], list[str]]] = {}

    def _strip(self, name: str) -> dict[str, str]:
        """Each distinct value of the column, stripped of surrounding white space."""
        if name not in self._stripped:
            self._stripped[name] = {v: v.strip() for v in set(self._columns[name])}
        return self._stripped[name]

    def _each(self, name: str, lookup: dict[str, Any], dtype: Any) -> np.ndarray:
        """The column with each value replaced by its entry in ``lookup``."""
        return np.fromiter(map(lookup.__getitem__, self._columns[name]), dtype, count=self.n)

    def text(self, name: str) -> np.ndarray:
        """The column as stripped text, "" where missing (numbers in their match form)."""
        if name not in self._text:
            numbers = self.numeric(name)
            if numbers is not None:
                words = ["" if v != v else _number_key(v) for v in numbers.tolist()]
                self._text[name] = np.array(words, dtype=object)
            else:
                self._text[name] = self._each(name, self._words(name), object)
        return self._text[name]

    def _words(self, name: str) -> dict[str, str]:
        """A text column's word for each distinct value: stripped, "" where missing, logical
        constants as True and False."""
        stripped = self._strip(name)
        if _is_logical(set(stripped)):
            return {
                v: "" if s in MISSING else "True" if s in _TRUE else "False"
                for v, s in stripped.items()
            }
        return {v: "" if s in MISSING else s for v, s in stripped.items()}

    def require(self, name: str, what: str) -> str:
        if name not in self._columns:
            raise SpecError(f"unknown column {name!r} ({what}) in {self.path.name}")
        return name

    def missing(self, name: str) -> np.ndarray:
        numeric = self.numeric(name)
        return np.isnan(numeric) if numeric is not None else self.text(name) == ""

    def numeric(self, name: str) -> np.ndarray | None:
        """The column as floats (NaN = missing), or None when some present value is text."""
        if name not in self._numeric:
            stripped = self._strip(name)
            numbers = _numbers(set(stripped.values()))
            self._numeric[name] = (
                None
                if numbers is None
                else self._each(name, {v: numbers[s] for v, s in stripped.items()}, float)
            )
        return self._numeric[name]

    def number(self, name: str, what: str) -> np.ndarray:
        values = self.numeric(self.require(name, what))
        if values is None:
            raise SpecError(f"column {name!r} ({what}) is not numeric")
        if np.isinf(values).any():
            raise SpecError(f"column {name!r} ({what}) has infinite values")
        return values

    def groups(self, name: str) -> tuple[np.ndarray, list[Any], list[str]]:
        """(code per row, -1 where missing; display value and match key of each code), codes in
        numeric order for numeric columns, in text order otherwise."""
        if name not in self._groups:
            numeric = self.numeric(name)
            if numeric is not None:
                present = ~np.isnan(numeric)
                uniques = np.unique(numeric[present])
                codes = np.full(self.n, -1, dtype=np.int64)
                codes[present] = np.searchsorted(uniques, numeric[present])
                labels: list[Any] = [_display(float(v)) for v in uniques]
                keys = [_number_key(float(v)) for v in uniques]
            else:
                words = self._words(name)
                labels = sorted(set(words.values()) - {""})
                index = {w: i for i, w in enumerate(labels)}
                index[""] = -1
                codes = self._each(name, {v: index[w] for v, w in words.items()}, np.int64)
                keys = list(labels)
            self._groups[name] = (codes, labels, keys)
        return self._groups[name]

    def key(self, name: str, value: Scalar, what: str) -> str:
        """The match key of a spec value for this column (numbers in numeric columns)."""
        if self.numeric(name) is not None:
            try:
                number = float(value)
            except ValueError:
                raise SpecError(
                    f"{what}: {value!r} is not a number, but column {name!r} is numeric"
                ) from None
            if not math.isfinite(number):
                raise SpecError(f"{what}: {value!r} is not a finite number")
            return _number_key(number)
        if isinstance(value, float | int) and not isinstance(value, bool):
            return _number_key(float(value))
        return str(value).strip()

    def labelled(self, name: str, what: str) -> np.ndarray:
        """Each row's match key as text (for design and calibration columns, which R requires
        to be complete)."""
        codes, _labels, keys = self.groups(self.require(name, what))
        if (codes < 0).any():
            raise SpecError(f"column {name!r} ({what}) has missing values")
        return np.asarray(keys, dtype=object)[codes]


def _is_logical(raw: set[str]) -> bool:
    """Whether every present value is a logical constant (read as the text True or False, as
    pandas and R read them; a value with a space after it is not one)."""
    present = {v.lstrip(" ") for v in raw} - set(MISSING)
    return bool(present) and present <= {*_TRUE, *_FALSE}


def _numbers(tokens: set[str]) -> dict[str, float] | None:
    """Each distinct stripped value's number, NaN for missing ones; None unless every present
    value is a number."""
    present = tokens - set(MISSING)
    characters = set("".join(present))
    if not characters <= _DIGITS and (
        not characters <= _DIGITS | _INFINITY or not all(map(_NUMBER.fullmatch, present))
    ):
        return None
    try:
        numbers = {v: float(v) for v in present}
    except ValueError:
        return None  # "1e", "+-1", "." and the like
    if present == tokens and characters <= _INTEGER:
        numbers = {v: x + 0.0 for v, x in numbers.items()}  # integers have no negative zero
    numbers.update(dict.fromkeys(tokens - present, math.nan))
    return numbers
