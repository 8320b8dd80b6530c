"""``python -m analysis estimate SPEC.json``: design-based estimates on any CSV file.

The contract is shared/analysis-cli.md (the spec is parsed by ``analysis.spec``): one JSON
document on standard output; on bad input, exit status 2 and a one-line message on standard
error naming the problem, never a traceback.

Values: a CSV cell that is empty or ``NA`` is missing; a column is numeric when every present
value parses as a number. Group values (``by``, ``where``, ``between``, calibration groups) are
compared as numbers in numeric columns (``1``, ``1.0`` and ``"1"`` are the same group) and as
text otherwise.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import calibration, estimators
from analysis.design import Design, LonelyPSUError
from analysis.results import Estimate
from analysis.spec import (
    CalibrationMethod,
    CalibrationSpec,
    DesignSpec,
    EstimateSpec,
    Margin,
    Scalar,
    SpecError,
    Statistic,
    parse_spec,
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


def build_design(table: Table, spec: DesignSpec) -> Design:
    ids = [table.labelled(c, "design.ids") for c in spec.ids]
    strata = table.labelled(spec.strata, "design.strata") if spec.strata else None
    weights = None
    if spec.weights:
        weights = table.number(spec.weights, "design.weights")
        if np.isnan(weights).any():
            raise SpecError(f"column {spec.weights!r} (design.weights) has missing values")
    fpc = []
    for column in spec.fpc:
        values = table.number(column, "design.fpc")
        if np.isnan(values).any():
            raise SpecError(f"column {column!r} (design.fpc) has missing values")
        fpc.append(values)
    try:
        return Design.build(
            n=table.n,
            ids=ids or None,
            strata=strata,
            weights=weights,
            fpc=fpc or None,
            nest=spec.nest,
            lonely_psu=spec.lonely_psu,
        )
    except ValueError as exc:
        raise SpecError(f"design: {exc}") from None


def _cells(table: Table, by: Sequence[str]) -> np.ndarray:
    columns = [table.labelled(c, "calibration.by") for c in by]
    if len(columns) == 1:
        return columns[0]
    joined = columns[0].astype(str)
    for column in columns[1:]:
        joined = np.char.add(np.char.add(joined, "\x1f"), column.astype(str))
    return joined.astype(object)


def _population(table: Table, margin: Margin, what: str) -> dict[str, float]:
    population = margin.population
    rows: Sequence[Mapping[str, Any]]
    if population.csv is not None:
        other = Table(population.csv)
        other.require(population.count, f"{what} count")
        names = [other.require(c, f"{what} by") for c in margin.by]
        raw = {c: other.text(c) for c in (*names, population.count)}
        rows = [{c: raw[c][i] for c in raw} for i in range(other.n)]
    else:
        rows = population.rows
    counts: dict[str, float] = {}
    for row in rows:
        parts = []
        for column in margin.by:
            if column not in row or row[column] in (None, *MISSING):
                raise SpecError(f"{what}: a population row lacks {column!r}")
            parts.append(table.key(column, row[column], what))
        key = "\x1f".join(parts)
        if key in counts:
            raise SpecError(f"{what}: group {key.replace(chr(31), ', ')!r} appears twice")
        try:
            count = float(row[population.count])
        except (KeyError, TypeError, ValueError):
            raise SpecError(
                f"{what}: a population row lacks a numeric {population.count!r}"
            ) from None
        if not math.isfinite(count):
            raise SpecError(f"{what}: population counts must be finite")
        counts[key] = count
    return counts


def calibrate(design: Design, table: Table, spec: CalibrationSpec | None) -> Design:
    if spec is None:
        return design
    what = f"calibration {spec.method.value}"
    for margin in spec.margins:
        for column in margin.by:
            table.require(column, "calibration.by")
    margins = [
        (_cells(table, m.by), _population(table, m, f"{what} margin {', '.join(m.by)}"))
        for m in spec.margins
    ]
    try:
        if spec.method == CalibrationMethod.POSTSTRATIFY:
            return calibration.poststratify(design, *margins[0])
        if spec.method == CalibrationMethod.RAKE:
            return calibration.rake(
                design,
                margins,
                epsilon=1.0 if spec.epsilon is None else spec.epsilon,
                maxit=10 if spec.maxit is None else spec.maxit,
            )
        names, matrix = _model_matrix(table, spec.terms)
        given = spec.totals or {}
        missing = [name for name in names if name not in given]
        if missing:
            raise SpecError(f"{what}: population lacks {', '.join(map(repr, missing))}")
        extra = sorted(set(given) - set(names))
        if extra:
            raise SpecError(
                f"{what}: population names {', '.join(map(repr, extra))}, which is not a column "
                f"of the model matrix ({', '.join(names)})"
            )
        totals = [given[name] for name in names]
        return calibration.calibrate(
            design,
            matrix,
            totals,
            calfun=spec.calfun,
            maxit=50 if spec.maxit is None else spec.maxit,
            epsilon=1e-7 if spec.epsilon is None else spec.epsilon,
        )
    except SpecError:
        raise
    except ValueError as exc:
        raise SpecError(f"{what}: {exc}") from None


def _model_matrix(table: Table, terms: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """R's ``model.matrix(~terms)``: "(Intercept)", numeric columns as they are, and for a text
    column one indicator "column=level" per level but the first (levels in sorted order)."""
    names = ["(Intercept)"]
    columns = [np.ones(table.n)]
    for term in terms:
        column = table.require(term, "calibration.terms")
        numeric = table.numeric(column)
        if numeric is not None:
            if np.isnan(numeric).any():
                raise SpecError(f"column {column!r} (calibration.terms) has missing values")
            names.append(column)
            columns.append(numeric)
            continue
        codes, labels, _keys = table.groups(column)
        if (codes < 0).any():
            raise SpecError(f"column {column!r} (calibration.terms) has missing values")
        for index, level in enumerate(labels[1:], start=1):
            names.append(f"{column}={level}")
            columns.append((codes == index).astype(float))
    return names, np.column_stack(columns)


def _success(table: Table, column: str, success: Sequence[Scalar], what: str) -> np.ndarray:
    """1.0 where the value is a success, 0.0 where it is not, NaN where missing."""
    numeric = table.numeric(column)
    if numeric is not None:
        wanted = [float(table.key(column, v, what)) for v in success]
        return np.where(np.isnan(numeric), np.nan, np.isin(numeric, wanted).astype(float))
    codes, _labels, keys = table.groups(column)
    chosen = {table.key(column, v, what) for v in success}
    hit = np.array([k in chosen for k in keys] + [False])[codes]  # code -1 reads the False
    return np.where(codes < 0, np.nan, hit.astype(float))


def _where(table: Table, spec: EstimateSpec, what: str) -> np.ndarray:
    mask = np.ones(table.n, dtype=bool)
    for condition in spec.where:
        column = table.require(condition.column, f"{what}: where")
        numeric = table.numeric(column)
        if numeric is not None:
            target = float(table.key(column, condition.value, f"{what}: where"))
            with np.errstate(invalid="ignore"):
                hit = COMPARE[condition.op](numeric, target) & ~np.isnan(numeric)
        else:
            if condition.op not in ("==", "!="):
                raise SpecError(
                    f"{what}: where {condition.op} needs a numeric column; {column!r} is text"
                )
            codes, _labels, keys = table.groups(column)
            key = table.key(column, condition.value, f"{what}: where")
            match = np.array([k == key for k in keys] + [False])[codes]
            hit = (match if condition.op == "==" else ~match) & (codes >= 0)
        mask &= hit
    return mask


def _groups(
    table: Table, spec: EstimateSpec, base: np.ndarray, what: str
) -> list[tuple[dict[str, Any] | None, np.ndarray]]:
    if not spec.by:
        return [(None, base)]
    by = [table.require(c, f"{what}: by") for c in spec.by]
    combined = np.zeros(table.n, dtype=np.int64)
    present = base.copy()
    for column in by:
        codes, labels, _keys = table.groups(column)
        present &= codes >= 0
        combined = combined * len(labels) + np.maximum(codes, 0)
    if not present.any():
        raise SpecError(f"{what}: no row of the domain has values for {', '.join(by)}")
    out: list[tuple[dict[str, Any] | None, np.ndarray]] = []
    for code in np.unique(combined[present]):
        rest = int(code)
        parts: list[Any] = []
        for column in reversed(by):
            _codes, labels, _keys = table.groups(column)
            rest, index = divmod(rest, len(labels))
            parts.append(labels[index])
        domain = dict(zip(by, reversed(parts), strict=True))
        out.append((domain, present & (combined == code)))
    return out


@dataclass(frozen=True)
class _Inputs:
    """One estimate's columns as arrays, read once for all its domains."""

    values: tuple[np.ndarray, ...]
    sides: tuple[np.ndarray, ...] = ()


def _inputs(table: Table, spec: EstimateSpec, what: str) -> _Inputs:
    def values(column: str | None) -> np.ndarray:
        assert column is not None  # noqa: S101 (the spec parser requires it)
        name = table.require(column, f"{what}: variable")
        if spec.success is not None:
            return _success(table, name, spec.success, what)
        return table.number(name, f"{what}: variable")

    if spec.statistic == Statistic.RATIO:
        assert spec.numerator is not None and spec.denominator is not None  # noqa: S101
        return _Inputs(
            (
                table.number(spec.numerator, f"{what}: numerator"),
                table.number(spec.denominator, f"{what}: denominator"),
            )
        )
    if spec.statistic == Statistic.COMPOSITE:
        return _Inputs(tuple(values(item) for item in spec.items))
    y = values(spec.variable)
    if spec.statistic == Statistic.TOTAL and spec.success is not None:
        y = np.nan_to_num(y, nan=0.0)  # missing counts as not a success
    if spec.statistic != Statistic.DIFFERENCE:
        return _Inputs((y,))
    between = spec.between
    assert between is not None  # noqa: S101 (the spec parser requires it)
    column = table.require(between.column, f"{what}: between.column")
    codes, _labels, keys = table.groups(column)
    sides = []
    for side in (between.a, between.b):
        key = table.key(column, side, f"{what}: between")
        if key not in keys:
            raise SpecError(f"{what}: between value {side!r} does not occur in {column!r}")
        sides.append(codes == keys.index(key))
    return _Inputs((y,), tuple(sides))


def _estimate(design: Design, spec: EstimateSpec, inputs: _Inputs, mask: np.ndarray) -> Estimate:
    common: dict[str, Any] = {"level": spec.level, "deff": spec.deff, "df": spec.df}
    values = inputs.values
    if spec.statistic == Statistic.MEAN:
        return estimators.mean(design, values[0], mask, **common)
    if spec.statistic == Statistic.PROPORTION:
        return estimators.proportion(design, values[0], mask, ci=spec.ci, **common)
    if spec.statistic == Statistic.TOTAL:
        return estimators.total(design, values[0], mask, **common)
    if spec.statistic == Statistic.RATIO:
        return estimators.ratio(design, values[0], values[1], mask, **common)
    if spec.statistic == Statistic.COMPOSITE:
        return estimators.composite(
            design, list(values), mask, item_weights=spec.item_weights, **common
        )
    a, b = inputs.sides
    return estimators.difference(design, values[0], a, b, mask, **common)


def _clean(value: Any) -> Any:
    """JSON has no NaN: undefined numbers are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _row(spec: EstimateSpec, domain: dict[str, Any] | None, e: Estimate) -> dict[str, Any]:
    df: float | int = int(e.df) if math.isfinite(e.df) and e.df == int(e.df) else e.df
    row: dict[str, Any] = {
        "id": spec.id,
        "statistic": spec.statistic.value,
        "domain": domain,
        "estimate": e.value,
        "se": e.se,
        "df": df,
        "ci": {"method": e.ci_method, "level": e.level, "lower": e.ci_low, "upper": e.ci_high},
        "n": e.n,
        "n_eff": e.n_eff,
        "flags": list(e.flags),
    }
    if spec.deff is not False:
        row["deff"] = e.deff
    return row


def estimate_all(design: Design, table: Table, spec: EstimateSpec) -> list[dict[str, Any]]:
    """One output row per domain of one estimate."""
    what = f"estimate {spec.id!r}"
    base = _where(table, spec, what)
    if not base.any():
        raise SpecError(f"{what}: no row satisfies where")
    inputs = _inputs(table, spec, what)
    out = []
    for domain, mask in _groups(table, spec, base, what):
        where = what if domain is None else f"{what}, domain {domain}"
        try:
            result = _estimate(design, spec, inputs, mask)
        except estimators.EmptyDomainError as exc:
            raise SpecError(f"{where}: {exc}") from None
        except LonelyPSUError as exc:
            raise SpecError(f"{where}: {exc}") from None
        except SpecError:
            raise
        except ValueError as exc:
            raise SpecError(f"{where}: {exc}") from None
        out.append(_row(spec, domain, result))
    return out


def run(spec_path: Path) -> dict[str, Any]:
    """Parse SPEC.json, read its data, build and calibrate the design, estimate everything."""
    try:
        text = spec_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {spec_path}") from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise SpecError(f"spec file is not UTF-8 JSON text: {spec_path}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"spec is not valid JSON: {exc}") from None
    spec = parse_spec(raw, spec_path.parent)
    table = Table(spec.data)
    design = calibrate(build_design(table, spec.design), table, spec.calibration)
    rows: list[dict[str, Any]] = []
    for estimate in spec.estimates:
        rows.extend(estimate_all(design, table, estimate))
    return {"estimates": rows}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "estimate":
        print("usage: python -m analysis estimate SPEC.json", file=sys.stderr)
        return 2
    try:
        result = run(Path(args[1]))
    except SpecError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except (ValueError, ArithmeticError, TypeError, MemoryError) as exc:
        print(f"error: cannot estimate: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    try:
        json.dump(_clean(result), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (``| head``): not an error of the estimates; leave quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "unknown problem"
