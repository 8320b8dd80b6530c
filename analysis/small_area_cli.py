"""``python -m analysis small-area SPEC.json``: Fay-Herriot estimates of every area of a CSV file.

The contract is the section "Small-area estimates" of shared/analysis-cli.md: one JSON document
on standard output with the fit and one row per area (``analysis.small_area`` computes them, as
R's sae ``eblupFH``/``mseFH``); on bad input, exit status 2 and a one-line message on standard
error naming the problem, never a traceback.

SPEC.json keys: ``data`` (CSV path relative to the folder of SPEC.json), ``area``, ``estimate``
and ``se`` (column names), ``covariates`` (a list of ``{"column", "type"}``, type ``numeric``
or ``categorical``, default ``[]``), ``method`` (``REML``, ``ML`` or ``FH``; default ``REML``).
Unknown keys inside a covariate are errors; unknown top-level keys (a ``note``) are allowed, as
for ``estimate``.

Values: UTF-8 CSV with a header row; an empty cell or ``NA`` is missing. A categorical column
whose present values are all numbers has its levels in numeric order (as R's ``as.factor`` of a
numeric column), otherwise in text order.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.small_area import Covariate, CovariateType, FayHerriotFit, fay_herriot, fit_method

MISSING = ("", "NA")


class SpecError(ValueError):
    """The spec or its data cannot be estimated; the message names the problem. (Its own class,
    not ``analysis.spec``'s, so the command does not import scipy and the design code.)"""


USAGE = "usage: python -m analysis small-area SPEC.json"


@dataclass(frozen=True)
class SmallAreaSpec:
    data: Path
    area: str
    estimate: str
    se: str
    covariates: tuple[tuple[str, CovariateType], ...]
    method: str


def _column_name(raw: dict[str, Any], key: str, what: str = "") -> str:
    value = raw.get(key)
    if value is None:
        raise SpecError(f"spec lacks {what}{key!r} (a column name)")
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{what}{key!r} must be a column name (got {value!r})")
    return value


def parse_spec(raw: Any, folder: Path) -> SmallAreaSpec:
    """SPEC.json as a ``SmallAreaSpec``; ``SpecError`` naming the key at fault.

    Parameters
    ----------
    raw : object
        The decoded SPEC.json.
    folder : pathlib.Path
        The folder relative paths start from.

    Returns
    -------
    SmallAreaSpec
        The parsed spec.

    Raises
    ------
    SpecError
        Naming the key at fault.
    """
    if not isinstance(raw, dict):
        raise SpecError("spec must be a JSON object")
    data = raw.get("data")
    if not isinstance(data, str) or not data.strip():
        raise SpecError("spec lacks 'data' (the CSV path, relative to SPEC.json)")
    covariates_raw = raw.get("covariates", [])
    if covariates_raw is None:
        covariates_raw = []
    if not isinstance(covariates_raw, list):
        raise SpecError('\'covariates\' must be a list of {"column", "type"}')
    covariates: list[tuple[str, CovariateType]] = []
    for k, item in enumerate(covariates_raw):
        where = f"covariates[{k}]: "
        if not isinstance(item, dict):
            raise SpecError(f'{where}must be an object {{"column", "type"}} (got {item!r})')
        unknown = sorted(set(item) - {"column", "type"})
        if unknown:
            raise SpecError(f"{where}unknown key(s) {', '.join(map(repr, unknown))}")
        column = _column_name(item, "column", where)
        kind = item.get("type", CovariateType.NUMERIC.value)
        try:
            covariates.append((column, CovariateType(kind)))
        except ValueError:
            raise SpecError(
                f"{where}type must be 'numeric' or 'categorical' (got {kind!r})"
            ) from None
    method = raw.get("method", "REML")
    try:
        chosen = fit_method(method if isinstance(method, str) else repr(method))
    except ValueError as exc:
        raise SpecError(f"'method': {exc}") from None
    return SmallAreaSpec(
        data=folder / data,
        area=_column_name(raw, "area"),
        estimate=_column_name(raw, "estimate"),
        se=_column_name(raw, "se"),
        covariates=tuple(covariates),
        method=chosen.value,
    )


def read_table(path: Path) -> dict[str, list[str]]:
    """The CSV's columns as stripped text ("" where missing); ``SpecError`` on a bad file.

    Parameters
    ----------
    path : pathlib.Path
        The CSV file.

    Returns
    -------
    dict[str, list[str]]
        Column name -> its values as text.

    Raises
    ------
    SpecError
        When the file cannot be read as CSV.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise SpecError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise SpecError(f"data path is a folder, not a CSV file: {path}") from None
    except UnicodeDecodeError:
        raise SpecError(f"data file is not UTF-8 text: {path}") from None
    except csv.Error as exc:
        raise SpecError(f"data file is not valid CSV ({exc}): {path}") from None
    if not rows or all(not h.strip() for h in rows[0]):
        raise SpecError(f"data file has no header row: {path}")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise SpecError(f"data file has duplicate column names: {path}")
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not body:
        raise SpecError(f"data file has no data rows: {path}")
    columns: dict[str, list[str]] = {name: [] for name in header}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise SpecError(f"{path.name} line {line}: {len(row)} fields for {len(header)} columns")
        for name, cell in zip(header, row, strict=True):
            text = cell.strip()
            columns[name].append("" if text in MISSING else text)
    return columns


def _column(table: dict[str, list[str]], name: str, what: str, path: Path) -> list[str]:
    if name not in table:
        raise SpecError(f"unknown column {name!r} ({what}) in {path.name}")
    return table[name]


def _numbers(values: list[str], areas: list[str], name: str, what: str) -> list[float]:
    out: list[float] = []
    for area, text in zip(areas, values, strict=True):
        if text == "":
            out.append(math.nan)
            continue
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise SpecError(f"column {name!r} ({what}) is not numeric: area {area!r} has {text!r}")
        out.append(number)
    return out


def _categories(values: list[str]) -> list[float | str | None]:
    """Numbers when every present value is one (levels then sort numerically), else text."""
    present = [v for v in values if v != ""]
    try:
        numbers = [float(v) for v in present]
    except ValueError:
        return [v or None for v in values]
    if not all(math.isfinite(n) for n in numbers):
        return [v or None for v in values]
    return [float(v) if v != "" else None for v in values]


def estimate(spec: SmallAreaSpec) -> FayHerriotFit:
    """Read the spec's CSV and fit the model; ``SpecError`` naming the problem.

    Parameters
    ----------
    spec : SmallAreaSpec
        The parsed spec.

    Returns
    -------
    FayHerriotFit
        The fitted model.

    Raises
    ------
    SpecError
        Naming the problem.
    """
    table = read_table(spec.data)
    areas = _column(table, spec.area, "area", spec.data)
    for line, area in enumerate(areas, start=2):
        if area == "":
            raise SpecError(f"column {spec.area!r} (area) is missing on data row {line - 1}")
    direct = _numbers(
        _column(table, spec.estimate, "estimate", spec.data), areas, spec.estimate, "estimate"
    )
    se = _numbers(_column(table, spec.se, "se", spec.data), areas, spec.se, "se")
    covariates: list[Covariate] = []
    for name, kind in spec.covariates:
        values = _column(table, name, "covariate", spec.data)
        coded: Sequence[float | str | None]
        if kind is CovariateType.NUMERIC:
            coded = _numbers(values, areas, name, "numeric covariate")
        else:
            coded = _categories(values)
        covariates.append(Covariate(name, coded, kind))
    try:
        fit = fay_herriot(areas, direct, se, covariates, method=spec.method)
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    if not fit.converged:
        raise SpecError(
            f"the {fit.method.value} fit did not converge in {fit.iterations} Fisher-scoring "
            "steps (as sae's eblupFH, no estimates are given)"
        )
    return fit


def as_json(fit: FayHerriotFit) -> dict[str, Any]:
    """The contract's output document.

    Parameters
    ----------
    fit : FayHerriotFit
        The fitted model.

    Returns
    -------
    dict[str, Any]
        The output document of the contract.
    """
    return {
        "method": fit.method.value,
        "converged": fit.converged,
        "iterations": fit.iterations,
        "variance_component": fit.variance_component,
        "loglike": fit.loglike,
        "aic": fit.aic,
        "bic": fit.bic,
        "fixed_effects": [
            {"term": f.term, "estimate": f.estimate, "se": f.se} for f in fit.fixed_effects
        ],
        "areas": [
            {
                "area": a.area,
                "direct": a.direct,
                "direct_se": a.direct_se,
                "eblup": a.eblup,
                "mse": a.mse,
                "shrinkage": a.shrinkage,
                "synthetic": a.synthetic,
            }
            for a in fit.areas
        ],
    }


def run(spec_path: Path) -> dict[str, Any]:
    """Parse SPEC.json, read its data, fit, and build the output document.

    Parameters
    ----------
    spec_path : pathlib.Path
        The SPEC.json file.

    Returns
    -------
    dict[str, Any]
        The output document.
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
    return as_json(estimate(parse_spec(raw, spec_path.parent)))


def main(argv: Sequence[str]) -> int:
    """Run the command on ``argv`` (the arguments after ``small-area``); the exit status.

    Parameters
    ----------
    argv : Sequence[str]
        The arguments after ``small-area``.

    Returns
    -------
    int
        The exit status: 0 done, 2 bad input.
    """
    args = list(argv)
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        result = run(Path(args[0]))
    except SpecError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except (ValueError, ArithmeticError, TypeError, MemoryError, OSError) as exc:
        print(f"error: cannot estimate: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    try:
        document = json.dumps(result, allow_nan=False)
    except ValueError as exc:
        print(f"error: cannot estimate: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(document + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (``| head``): not an error of the estimates; leave quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "unknown problem"
