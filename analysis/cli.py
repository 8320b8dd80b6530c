"""``python -m analysis estimate SPEC.json``: design-based estimates on any CSV file.

The contract is shared/analysis-cli.md: one JSON document on standard output; on bad input, exit
status 2 and a one-line message on standard error naming the problem, never a traceback.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis import calibration, estimators
from analysis.design import Design, LonelyPSUError
from analysis.intervals import CIMethod
from analysis.results import Estimate

STATISTICS = ("mean", "proportion", "total", "ratio", "composite", "difference")
OPERATORS = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


class SpecError(ValueError):
    """The spec or its data cannot be estimated; the message names the problem."""


class Table:
    """The CSV's columns: numeric where every present value parses as a number."""

    def __init__(self, path: Path) -> None:
        try:
            with path.open(encoding="utf-8-sig", newline="") as f:
                rows = list(csv.reader(f))
        except FileNotFoundError:
            raise SpecError(f"data file not found: {path}") from None
        except UnicodeDecodeError:
            raise SpecError(f"data file is not UTF-8: {path}") from None
        if not rows or not rows[0]:
            raise SpecError(f"data file has no header row: {path}")
        header, body = rows[0], rows[1:]
        if not body:
            raise SpecError(f"data file has no data rows: {path}")
        if len(set(header)) != len(header):
            raise SpecError("data file has duplicate column names")
        self.n = len(body)
        self.raw: dict[str, list[str | None]] = {}
        for index, name in enumerate(header):
            values: list[str | None] = []
            for line, row in enumerate(body, start=2):
                if len(row) != len(header):
                    raise SpecError(
                        f"data row {line} has {len(row)} fields, expected {len(header)}"
                    )
                cell = row[index].strip()
                values.append(None if cell in ("", "NA") else cell)
            self.raw[name] = values
        self._numeric: dict[str, np.ndarray | None] = {}

    def has(self, name: str) -> bool:
        return name in self.raw

    def require(self, name: Any, what: str) -> str:
        if not isinstance(name, str) or name not in self.raw:
            raise SpecError(f"unknown column {name!r} ({what})")
        return name

    def numeric(self, name: str) -> np.ndarray | None:
        if name not in self._numeric:
            try:
                self._numeric[name] = np.array(
                    [math.nan if v is None else float(v) for v in self.raw[name]]
                )
            except ValueError:
                self._numeric[name] = None
        return self._numeric[name]

    def number(self, name: Any, what: str) -> np.ndarray:
        values = self.numeric(self.require(name, what))
        if values is None:
            raise SpecError(f"column {name!r} ({what}) is not numeric")
        return values

    def labels(self, name: str) -> np.ndarray:
        numeric = self.numeric(name)
        if numeric is not None:
            return np.array([_format(v) for v in numeric], dtype=object)
        return np.array(["" if v is None else v for v in self.raw[name]], dtype=object)

    def missing(self, name: str) -> np.ndarray:
        return np.array([v is None for v in self.raw[name]])


def _format(value: float) -> str:
    if math.isnan(value):
        return ""
    return str(int(value)) if value == int(value) else repr(value)


def _object(spec: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(spec, dict):
        raise SpecError(f"{what} must be a JSON object")
    return spec


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise SpecError(f"{what} must be a list")
    return value


def build_design(table: Table, spec: Mapping[str, Any]) -> Design:
    ids = [table.labels(table.require(c, "design.ids")) for c in _list(spec.get("ids"), "ids")]
    strata_name = spec.get("strata")
    strata = table.labels(table.require(strata_name, "design.strata")) if strata_name else None
    weights_name = spec.get("weights")
    weights = table.number(weights_name, "design.weights") if weights_name else None
    if weights is not None and np.isnan(weights).any():
        raise SpecError(f"weights column {weights_name!r} has missing values")
    fpc = [table.number(c, "design.fpc") for c in _list(spec.get("fpc"), "fpc")]
    try:
        return Design.build(
            n=table.n,
            ids=ids or None,
            strata=strata,
            weights=weights,
            fpc=fpc or None,
            nest=bool(spec.get("nest", False)),
            lonely_psu=spec.get("lonely_psu", "fail"),
        )
    except ValueError as exc:
        raise SpecError(f"design: {exc}") from None


def _population(table: Table, spec: Any, by: list[str], base: Path) -> dict[str, float]:
    if isinstance(spec, dict) and "csv" in spec:
        other = Table(base / str(spec["csv"]))
        count = other.require(spec.get("count", "N"), "population count")
        rows = [{k: other.raw[k][i] for k in other.raw} for i in range(other.n)]
        count_name = count
    elif isinstance(spec, list):
        rows = spec
        count_name = "N"
    else:
        raise SpecError('calibration population must be a list or {"csv": ...}')
    population: dict[str, float] = {}
    for row in rows:
        if not isinstance(row, dict):
            raise SpecError("each population entry must be an object")
        key_parts = []
        for column in by:
            if column not in row:
                raise SpecError(f"population entry lacks {column!r}")
            key_parts.append(_key(row[column]))
        try:
            population["\x1f".join(key_parts)] = float(row[count_name])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            raise SpecError(f"population entry lacks a numeric {count_name!r}") from None
    return population


def _key(value: Any) -> str:
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _cells(table: Table, by: list[str]) -> np.ndarray:
    columns = [table.labels(table.require(c, "calibration.by")) for c in by]
    return np.array(["\x1f".join(str(c[i]) for c in columns) for i in range(table.n)], dtype=object)


def calibrate(design: Design, table: Table, spec: Any, base: Path) -> Design:
    if spec is None:
        return design
    spec = _object(spec, "calibration")
    method = spec.get("method")
    try:
        if method == "poststratify":
            by = _list(spec.get("by"), "calibration.by")
            return calibration.poststratify(
                design, _cells(table, by), _population(table, spec.get("population"), by, base)
            )
        if method == "rake":
            margins = []
            for margin in _list(spec.get("margins"), "calibration.margins"):
                margin = _object(margin, "calibration margin")
                by = _list(margin.get("by"), "margin.by")
                margins.append(
                    (_cells(table, by), _population(table, margin.get("population"), by, base))
                )
            return calibration.rake(
                design,
                margins,
                epsilon=float(spec.get("epsilon", 1e-10)),
                maxit=int(spec.get("maxit", 100)),
            )
        if method == "calibrate":
            return _greg(design, table, spec)
    except ValueError as exc:
        raise SpecError(f"calibration: {exc}") from None
    raise SpecError('calibration.method must be "poststratify", "rake" or "calibrate"')


def _greg(design: Design, table: Table, spec: Mapping[str, Any]) -> Design:
    """{"method": "calibrate", "calfun": "linear" | "raking", "terms": [columns],
    "population": {"(Intercept)": N, "col=level": count, "numeric col": total, ...}} — the
    model matrix of R's calibrate(~terms): an intercept, one indicator per level of a text
    column but its first, and numeric columns as they are."""
    population = _object(spec.get("population"), "calibration.population")
    names = ["(Intercept)"]
    columns = [np.ones(table.n)]
    for term in _list(spec.get("terms"), "calibration.terms"):
        column = table.require(term, "calibration.terms")
        numeric = table.numeric(column)
        if numeric is not None and not np.isnan(numeric).any():
            names.append(column)
            columns.append(numeric)
            continue
        labels = table.labels(column)
        for level in sorted(set(labels.tolist()))[1:]:
            names.append(f"{column}={level}")
            columns.append((labels == level).astype(float))
    missing = [n for n in names if n not in population]
    if missing:
        raise SpecError(f"calibration.population lacks {', '.join(missing)}")
    calfun = spec.get("calfun", "linear")
    if calfun not in ("linear", "raking"):
        raise SpecError('calibration.calfun must be "linear" or "raking"')
    totals = [float(population[n]) for n in names]
    return calibration.calibrate(design, np.column_stack(columns), totals, calfun=calfun)


def _success(table: Table, column: str, success: Any) -> np.ndarray:
    values = _list(success, "success")
    if not values:
        raise SpecError("success must list at least one value")
    numeric = table.numeric(column)
    if numeric is not None:
        try:
            wanted = [float(v) for v in values]
        except (TypeError, ValueError):
            raise SpecError(
                f"success values for numeric column {column!r} must be numbers"
            ) from None
        hit = np.isin(numeric, wanted).astype(float)
        return np.where(np.isnan(numeric), np.nan, hit)
    labels = table.labels(column)
    hit = np.isin(labels, [str(v) for v in values]).astype(float)
    return np.where(table.missing(column), np.nan, hit)


def _where(table: Table, conditions: Any) -> np.ndarray:
    mask = np.ones(table.n, dtype=bool)
    for condition in _list(conditions, "where"):
        condition = _object(condition, "where condition")
        column = table.require(condition.get("column"), "where")
        op = condition.get("op")
        if op not in OPERATORS:
            raise SpecError(f"where op must be one of {', '.join(OPERATORS)}")
        value = condition.get("value")
        numeric = table.numeric(column)
        if numeric is not None and isinstance(value, int | float) and not isinstance(value, bool):
            with np.errstate(invalid="ignore"):
                hit = OPERATORS[op](numeric, float(value)) & ~np.isnan(numeric)
        else:
            if op not in ("==", "!="):
                raise SpecError(f"where on text column {column!r} supports only == and !=")
            labels = table.labels(column)
            hit = OPERATORS[op](labels, _key(value)) & ~table.missing(column)
        mask &= hit
    return mask


def _output(
    entry: Mapping[str, Any], domain: dict[str, Any] | None, e: Estimate, deff: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": entry["id"],
        "statistic": entry["statistic"],
        "domain": domain,
        "estimate": e.value,
        "se": e.se,
        "df": e.df,
        "ci": {"method": e.ci_method, "level": e.level, "lower": e.ci_low, "upper": e.ci_high},
        "n": e.n,
        "n_eff": e.n_eff,
        "flags": list(e.flags),
    }
    if deff:
        result["deff"] = e.deff
    return result


def estimate_one(design: Design, table: Table, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    entry = _object(entry, "estimate")
    if "id" not in entry:
        raise SpecError("every estimate needs an id")
    statistic = entry.get("statistic")
    if statistic not in STATISTICS:
        raise SpecError(
            f"estimate {entry['id']!r}: statistic must be one of {', '.join(STATISTICS)}"
        )
    level = float(entry.get("level", 0.95))
    if not 0 < level < 1:
        raise SpecError(f"estimate {entry['id']!r}: level must be between 0 and 1")
    deff = entry.get("deff", False)
    if deff not in (True, False, "replace"):
        raise SpecError(f'estimate {entry["id"]!r}: deff must be true, false or "replace"')
    base = _where(table, entry.get("where"))
    by = [table.require(c, "by") for c in _list(entry.get("by"), "by")]
    groups: list[tuple[dict[str, Any] | None, np.ndarray]] = [(None, base)]
    if by:
        labels = [table.labels(c) for c in by]
        present = base.copy()
        for c in by:
            present &= ~table.missing(c)
        combos = sorted(
            {tuple(str(column[i]) for column in labels) for i in np.flatnonzero(present)}
        )
        groups = []
        for combo in combos:
            mask = present.copy()
            for column_labels, value in zip(labels, combo, strict=True):
                mask &= column_labels == value
            groups.append(
                (
                    dict(
                        zip(
                            by,
                            (_typed(table, c, v) for c, v in zip(by, combo, strict=True)),
                            strict=True,
                        )
                    ),
                    mask,
                )
            )
        if not groups:
            raise SpecError(f"estimate {entry['id']!r}: the by-groups are empty")
    out = []
    for domain, mask in groups:
        try:
            result = _compute(design, table, entry, statistic, mask, level, deff)
        except estimators.EmptyDomainError as exc:
            raise SpecError(f"estimate {entry['id']!r}, domain {domain}: {exc}") from None
        except LonelyPSUError as exc:
            raise SpecError(f"estimate {entry['id']!r}: {exc}") from None
        out.append(_output(entry, domain, result, bool(deff)))
    return out


def _typed(table: Table, column: str, value: str) -> Any:
    if table.numeric(column) is not None:
        number = float(value)
        return int(number) if number == int(number) else number
    return value


def _compute(
    design: Design,
    table: Table,
    entry: Mapping[str, Any],
    statistic: str,
    mask: np.ndarray,
    level: float,
    deff: bool | str,
) -> Estimate:
    if statistic == "mean":
        return estimators.mean(
            design, table.number(entry.get("variable"), "variable"), mask, level=level, deff=deff
        )
    if statistic == "proportion":
        column = table.require(entry.get("variable"), "variable")
        method = entry.get("ci", "beta")
        if method not in {m.value for m in CIMethod}:
            raise SpecError(f"ci must be one of {', '.join(m.value for m in CIMethod)}")
        return estimators.proportion(
            design,
            _success(table, column, entry.get("success")),
            mask,
            ci=method,
            level=level,
            deff=deff,
        )
    if statistic == "total":
        column = table.require(entry.get("variable"), "variable")
        if "success" in entry:
            values = np.nan_to_num(_success(table, column, entry["success"]), nan=0.0)
        else:
            values = table.number(column, "variable")
        return estimators.total(design, values, mask, level=level, deff=deff)
    if statistic == "ratio":
        return estimators.ratio(
            design,
            table.number(entry.get("numerator"), "numerator"),
            table.number(entry.get("denominator"), "denominator"),
            mask,
            level=level,
        )
    if statistic == "composite":
        items = [table.require(c, "items") for c in _list(entry.get("items"), "items")]
        if not items:
            raise SpecError("composite needs items")
        try:
            return estimators.composite(
                design,
                [_success(table, c, entry.get("success")) for c in items],
                mask,
                item_weights=entry.get("item_weights"),
                level=level,
            )
        except estimators.EmptyDomainError:
            raise
        except ValueError as exc:
            raise SpecError(f"estimate {entry['id']!r}: {exc}") from None
    between = _object(entry.get("between"), "between")
    column = table.require(between.get("column"), "between.column")
    labels = table.labels(column)
    a, b = labels == _key(between.get("a")), labels == _key(between.get("b"))
    if not a.any() or not b.any():
        raise SpecError(f"estimate {entry['id']!r}: between names a value absent from {column!r}")
    variable = table.require(entry.get("variable"), "variable")
    values = (
        _success(table, variable, entry["success"])
        if "success" in entry
        else table.number(variable, "variable")
    )
    return estimators.difference(design, values, a, b, mask, level=level)


def run(spec_path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {spec_path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"spec is not valid JSON: {exc}") from None
    spec = _object(spec, "the spec")
    if not isinstance(spec.get("data"), str):
        raise SpecError('spec needs "data": the CSV path')
    base = spec_path.parent
    table = Table(base / spec["data"])
    design = build_design(table, _object(spec.get("design") or {}, "design"))
    design = calibrate(design, table, spec.get("calibration"), base)
    entries = _list(spec.get("estimates"), "estimates")
    if not entries:
        raise SpecError("spec has no estimates")
    return {
        "estimates": list(
            itertools.chain.from_iterable(estimate_one(design, table, e) for e in entries)
        )
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "estimate":
        print("usage: python -m analysis estimate SPEC.json", file=sys.stderr)
        return 2
    try:
        result = run(Path(args[1]))
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, ArithmeticError) as exc:
        print(f"error: cannot estimate: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, allow_nan=False, default=_nan_safe)
    sys.stdout.write("\n")
    return 0


def _nan_safe(value: Any) -> Any:
    return None
