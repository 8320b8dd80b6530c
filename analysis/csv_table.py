"""A CSV file's columns for the estimation command, read once.

Values: a cell that is empty or ``NA`` is missing; a column is numeric when every present value
parses as a number. Group values (``by``, ``where``, ``between``, calibration groups) are
compared as numbers in numeric columns (``1``, ``1.0`` and ``"1"`` are the same group) and as
text otherwise.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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


def _number_key(value: float) -> str:
    """The text form under which a number is matched: 3.0 -> "3", 0.5 -> "0.5"."""
    if value == math.floor(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _display(value: float) -> int | float:
    return int(value) if value == math.floor(value) and abs(value) < 1e15 else float(value)


class Table:
    """The CSV's columns, read once; text forms, numeric forms and group codes on demand (only
    the columns a spec uses are ever converted)."""

    def __init__(self, path: Path) -> None:
        try:
            with path.open(encoding="utf-8-sig", newline="") as f:
                header = next(csv.reader(f), [])
            frame = pd.read_csv(
                path,
                keep_default_na=False,
                na_values=list(MISSING),
                skipinitialspace=True,
                encoding="utf-8-sig",
                low_memory=False,
            )
        except FileNotFoundError:
            raise SpecError(f"data file not found: {path}") from None
        except IsADirectoryError:
            raise SpecError(f"data path is a folder, not a CSV file: {path}") from None
        except UnicodeDecodeError:
            raise SpecError(f"data file is not UTF-8 text: {path}") from None
        except pd.errors.EmptyDataError:
            raise SpecError(f"data file has no header row: {path}") from None
        except pd.errors.ParserError as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "malformed"
            raise SpecError(f"data file is not valid CSV ({detail}): {path}") from None
        if not header or all(not h.strip() for h in header):
            raise SpecError(f"data file has no header row: {path}")
        if len(set(header)) != len(header):
            raise SpecError(f"data file has duplicate column names: {path}")
        if frame.empty:
            raise SpecError(f"data file has no data rows: {path}")
        self.path = path
        self.n = len(frame)
        self._columns = dict(zip(header, (frame[c] for c in frame.columns), strict=True))
        self._text: dict[str, np.ndarray] = {}
        self._numeric: dict[str, np.ndarray | None] = {}
        self._groups: dict[str, tuple[np.ndarray, list[Any], list[str]]] = {}

    def text(self, name: str) -> np.ndarray:
        """The column as stripped text, "" where missing."""
        if name not in self._text:
            column = self._columns[name]
            if column.dtype.kind in "biuf":
                numbers = column.to_numpy(dtype=float)
                text = np.array(
                    ["" if v != v else _number_key(v) for v in numbers.tolist()], dtype=object
                )
                if column.dtype.kind == "b":
                    text = column.astype(str).to_numpy(dtype=object)
            else:
                stripped = column.astype(object).where(column.notna(), "").astype(str).str.strip()
                text = stripped.to_numpy(dtype=object)
                text[np.isin(text, MISSING)] = ""
            self._text[name] = text
        return self._text[name]

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
            column = self._columns[name]
            if column.dtype.kind in "iuf":
                self._numeric[name] = column.to_numpy(dtype=float)
            elif column.dtype.kind == "b":
                self._numeric[name] = None  # TRUE / FALSE are text, as R reads them
            else:
                text = self.text(name)
                missing = text == ""
                present = text.copy()
                present[missing] = None
                converted = pd.to_numeric(
                    pd.Series(present, dtype=object), errors="coerce"
                ).to_numpy(dtype=float)
                numeric = (np.isnan(converted) & ~missing).any()
                self._numeric[name] = None if numeric else converted
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
                text = self.text(name).copy()
                text[text == ""] = None
                codes_all, uniques_text = pd.factorize(pd.Series(text, dtype=object), sort=True)
                codes = np.asarray(codes_all, dtype=np.int64)
                labels = [str(v) for v in uniques_text]
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
