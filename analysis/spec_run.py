"""Running a parsed SPEC.json (``analysis.spec``) on its CSV table (``analysis.csv_table``): the
design built and calibrated as R's ``svydesign``, ``postStratify``, ``rake`` and ``calibrate``
would, then every estimate for every domain, as the JSON rows of the contract
(shared/analysis-cli.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis import calibration, estimators
from analysis.csv_table import COMPARE, MISSING, Table
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


def build_design(table: Table, spec: DesignSpec) -> Design:
    """The survey design the spec declares, on the table's rows.

    Parameters
    ----------
    table : Table
        The data.
    spec : Spec
        The parsed spec.

    Returns
    -------
    Design
        The design.

    Raises
    ------
    SpecError
        When a column is missing or a value is invalid.
    """
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
    """The design calibrated as the spec asks (unchanged without ``calibration``).

    Parameters
    ----------
    design : Design
        The design.
    table : Table
        The data.
    spec : Spec
        The parsed spec.

    Returns
    -------
    Design
        The calibrated design.

    Raises
    ------
    SpecError
        When the calibration cannot be done.
    """
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
    """One output row per domain of one estimate.

    Parameters
    ----------
    design : Design
        The (calibrated) design.
    table : Table
        The data.
    spec : EstimateSpec
        One estimate of the spec.

    Returns
    -------
    list[dict[str, Any]]
        The output rows.

    Raises
    ------
    SpecError
        Naming the estimate and domain at fault.
    """
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
    """Parse SPEC.json, read its data, build and calibrate the design, estimate everything.

    Parameters
    ----------
    spec_path : pathlib.Path
        The SPEC.json file.

    Returns
    -------
    dict[str, Any]
        The output document of the contract.

    Raises
    ------
    SpecError
        For any bad input.
    """
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
