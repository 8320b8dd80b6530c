"""A CSV file's columns for the estimation command, read once.

Values: a cell that is empty or ``NA`` is missing; a column is numeric when every present value
parses as a number (``inf`` and ``-inf`` included, ``nan`` not). A column whose every present
value is ``TRUE``, ``True``, ``true``, ``FALSE``, ``False`` or ``false`` is text with the values
``True`` and ``False``. Group values (``by``, ``where``, ``between``, calibration groups) are
compared as numbers in numeric columns (``1``, ``1.0`` and ``"1"`` are the same group) and as
text otherwise.

The file is read by column, and a column only when a spec asks for it. A file without quote
characters whose every line has the header's number of fields (the usual export, LF or CRLF) is
never split into Python strings: numpy finds its commas and line ends, and a column's values are
coded from their bytes (``Columns.factor``), so that only its distinct values become text. Any
other file goes through the csv module (or, without quotes, line by line). Rows are those of a
CSV reader that skips spaces after a comma and blank lines; a row with fewer fields than the
header is padded with missing values, one with more is refused.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from analysis.spec import (
    Scalar,
    SpecError,
)

_Text = TypeVar("_Text", str, bytes)
# Fields up to this many 64-bit words are coded by numpy; longer ones (free text) one by one.
_WORDS = 4
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


def _number_key(value: float) -> str:
    """The text form under which a number is matched: 3.0 -> "3", 0.5 -> "0.5"."""
    if value == math.floor(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _display(value: float) -> int | float:
    return int(value) if value == math.floor(value) and abs(value) < 1e15 else float(value)


class Columns:
    """A CSV file's header and columns. A column is taken from the file when asked for, as its
    distinct values (text as read; spaces after a comma may be kept, and the table strips them)
    and each row's code into them."""

    def __init__(
        self,
        header: list[str],
        n: int,
        lists: list[list[str]] | None = None,
        fields: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.header = header
        self.n = n
        self._lists = lists
        # The file's bytes (zero-padded at the end), where its commas are (k - 1 per line),
        # and where each line starts and ends.
        self._fields = fields

    def values(self, j: int) -> list[str]:
        """Column ``j`` row by row."""
        codes, distinct = self.factor(j)
        return [distinct[c] for c in codes.tolist()]

    def factor(self, j: int) -> tuple[np.ndarray, list[str]]:
        """Column ``j`` as (code of each row, distinct values in order of first appearance)."""
        if self._fields is not None:
            data, commas, starts, ends = self._fields
            k = len(self.header)
            a = starts if j == 0 else commas[j - 1 :: k - 1] + 1
            b = ends if j == k - 1 else commas[j :: k - 1]
            width = int((b - a).max())
            if width <= _WORDS * 8:
                return _factorise_bytes(data, a, b, max(1, -(-width // 8)))
            text = data.tobytes()
            pieces = zip(a.tolist(), b.tolist(), strict=True)
            codes, found = _factorise([text[i:e] for i, e in pieces])
            return codes, [v.decode() for v in found]
        assert self._lists is not None  # noqa: S101 (one of the two is always given)
        return _factorise(self._lists[j])


def _factorise_bytes(
    octets: np.ndarray, starts: np.ndarray, ends: np.ndarray, words: int
) -> tuple[np.ndarray, list[str]]:
    """``_factorise`` of the fields octets[starts:ends], each at most ``words`` * 8 bytes long,
    without a Python object per row: each field zero-padded to whole 64-bit words (the file
    holds no zero byte, so padding cannot make two fields equal), the words coded one after
    another; fields of one or two bytes (answer codes) through a table of all 65,536."""
    lengths = ends - starts
    if int(lengths.max()) <= 2:
        first = np.where(lengths > 0, octets[starts], 0).astype(np.int64)
        second = np.where(lengths > 1, octets[starts + 1], 0).astype(np.int64)
        keys = first | second << 8
        found = np.flatnonzero(np.bincount(keys))
        table = np.zeros(int(found[-1]) + 1, dtype=np.int64)
        table[found] = np.arange(len(found))
        return table[keys], [_word_text(int(key)) for key in found]
    window = np.lib.stride_tricks.sliding_window_view(octets, 8 * words)[starts]
    keys = np.where(np.arange(8 * words) < lengths[:, None], window, 0).view("<u8")
    if words == 1:
        found, codes = np.unique(keys[:, 0], return_inverse=True)
        return codes.reshape(-1).astype(np.int64), [_word_text(int(key)) for key in found]
    codes = np.zeros(len(starts), dtype=np.int64)
    for word in range(words):
        found, inverse = np.unique(keys[:, word], return_inverse=True)
        codes = codes * len(found) + inverse.reshape(-1)
    found, codes = np.unique(codes, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    row = np.empty(len(found), dtype=np.int64)
    row[codes] = np.arange(len(codes))  # a row holding each value
    pieces = zip(starts[row].tolist(), ends[row].tolist(), strict=True)
    return codes, [octets[i:e].tobytes().decode() for i, e in pieces]


def _word_text(key: int) -> str:
    """The text of a field packed little-endian into an integer."""
    return key.to_bytes(8, "little").rstrip(b"\x00").decode()


def _factorise(raw: list[_Text]) -> tuple[np.ndarray, list[_Text]]:
    """(each value's code, the distinct values in order of first appearance)."""
    index = {v: i for i, v in enumerate(dict.fromkeys(raw))}
    return np.fromiter(map(index.__getitem__, raw), dtype=np.int64, count=len(raw)), list(index)


def read_columns(path: Path) -> Columns:
    """The header and the columns of a CSV file.

    Parameters
    ----------
    path : pathlib.Path
        The CSV file (UTF-8, with or without a byte-order mark).

    Returns
    -------
    Columns
        The column names and the columns.

    Raises
    ------
    SpecError
        When the file is missing, not UTF-8, not CSV, or has no header or no rows.
    """
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise SpecError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise SpecError(f"data path is a folder, not a CSV file: {path}") from None
    except UnicodeDecodeError:
        raise SpecError(f"data file is not UTF-8 text: {path}") from None
    if b'"' in data or b"\x00" in data:
        return _parse(text, path)
    fields = _fields(data, path)
    if fields is not None:
        return fields
    text = text.replace("\r\n", "\n")
    return _parse(text, path) if "\r" in text else _split(text, path)


def _fields(data: bytes, path: Path) -> Columns | None:
    """The columns of a file without quotes in which every line has as many commas as the
    header (so no line is blank either) and every carriage return ends a line, found by numpy
    without a Python object per value: where the lines start and end, and where the commas are.
    None for any other file."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    head_end = data.find(b"\n", start)
    if head_end < 0:
        return None
    header = data[start:head_end].decode().removesuffix("\r").split(",")
    _check_header(header, path)
    k = len(header)
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    end -= data[end - 1 : end] == b"\r"
    if k < 2 or end <= head_end + 1:
        return None
    octets = np.frombuffer(data + bytes(8 * _WORDS), dtype=np.uint8)
    body = octets[head_end + 1 : end]
    commas = np.flatnonzero(body == ord(",")) + (head_end + 1)
    newlines = np.flatnonzero(body == ord("\n")) + (head_end + 1)
    if b"\r" in data:
        returns = np.flatnonzero(octets[: end + 1] == ord("\r"))
        if not bool((octets[returns + 1] == ord("\n")).all()):
            return None  # a carriage return that does not end a line
    lines = len(newlines) + 1
    if len(commas) != lines * (k - 1):
        return None
    # With as many commas as k - 1 per line, each line has its share when the first and the
    # last comma of each share fall inside the line.
    if not (
        bool((commas[:: k - 1][1:] > newlines).all())
        and bool((commas[k - 2 :: k - 1][:-1] < newlines).all())
    ):
        return None
    starts = np.concatenate(([head_end + 1], newlines + 1))
    ends = np.concatenate((newlines, [end]))
    ends[:-1] -= octets[newlines - 1] == ord("\r")
    return Columns(header, lines, fields=(octets, commas, starts, ends))


def _split(text: str, path: Path) -> Columns:
    """The columns of a file without quotes or lone carriage returns, line by line."""
    head, _, body = text.partition("\n")
    header = head.split(",")
    _check_header(header, path)
    numbered = (
        (number, line.split(","))
        for number, line in enumerate(body.removesuffix("\n").split("\n"), start=2)
        if line and not line.isspace()
    )
    return _columns(header, numbered, path)


def _parse(text: str, path: Path) -> Columns:
    """The columns of any CSV file, by the csv module."""
    f = io.StringIO(text, newline="")
    header = next(csv.reader(f), [])
    _check_header(header, path)
    start = f.tell()
    try:
        return _columns(header, _numbered(f, strict=True), path)
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise SpecError(
                f"data file is not valid CSV (a quoted value is never closed): {path}"
            ) from None
    # Text after a closing quote ("ab"c) is kept, as spreadsheets and pandas read it.
    f.seek(start)
    try:
        return _columns(header, _numbered(f, strict=False), path)
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


def _columns(header: list[str], rows: Iterable[tuple[int, list[str]]], path: Path) -> Columns:
    """Rows to columns; a short row is padded with missing values, a long one refused."""
    k = len(header)
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
    return Columns(header, len(kept), lists=[list(c) for c in zip(*kept, strict=True)])


class Table:
    """The CSV's columns, read once; text forms, numeric forms and group codes on demand (only
    the columns a spec uses are ever converted)."""

    def __init__(self, path: Path) -> None:
        self._file = read_columns(path)
        self.path = path
        self.n = self._file.n
        self._columns = {name: j for j, name in enumerate(self._file.header)}
        self._factors: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._text: dict[str, np.ndarray] = {}
        self._numeric: dict[str, np.ndarray | None] = {}
        self._groups: dict[str, tuple[np.ndarray, list[Any], list[str]]] = {}

    def _factor(self, name: str) -> tuple[np.ndarray, list[str]]:
        """(each row's code, the column's distinct values as read)."""
        if name not in self._factors:
            self._factors[name] = self._file.factor(self._columns[name])
        return self._factors[name]

    def text(self, name: str) -> np.ndarray:
        """The column as stripped text, "" where missing (numbers in their match form)."""
        if name not in self._text:
            numbers = self.numeric(name)
            if numbers is not None:
                words = ["" if v != v else _number_key(v) for v in numbers.tolist()]
                self._text[name] = np.array(words, dtype=object)
            else:
                codes, _distinct = self._factor(name)
                self._text[name] = np.array(self._words(name), dtype=object)[codes]
        return self._text[name]

    def _words(self, name: str) -> list[str]:
        """A text column's distinct values as words: stripped, "" where missing, logical
        constants as True and False."""
        _codes, distinct = self._factor(name)
        stripped = [v.strip() for v in distinct]
        if _is_logical(set(distinct)):
            return ["" if s in MISSING else "True" if s in _TRUE else "False" for s in stripped]
        return ["" if s in MISSING else s for s in stripped]

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
            codes, distinct = self._factor(name)
            stripped = [v.strip() for v in distinct]
            numbers = _numbers(set(stripped))
            self._numeric[name] = (
                None if numbers is None else np.array([numbers[v] for v in stripped])[codes]
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
                labels = sorted(set(words) - {""})
                index = {w: i for i, w in enumerate(labels)}
                index[""] = -1
                codes = np.array([index[w] for w in words], dtype=np.int64)[self._factor(name)[0]]
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
