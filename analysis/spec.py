"""SPEC.json of ``python -m analysis estimate``, parsed once into frozen dataclasses.

The contract is shared/analysis-cli.md. Every problem is a ``SpecError`` whose message names the
key at fault; unknown keys inside ``design``, ``calibration`` and an estimate are errors (a typo
must not silently change a published number), unknown top-level keys (a ``note``) are allowed.

Beyond the contract, two optional additions, both spelled as R spells them:

* an estimate may carry ``"df"`` (a positive number): the degrees of freedom of its interval, as
  ``svyciprop(df=)`` or ``confint(df=)``, instead of the design's;
* ``calibration`` may be ``{"method": "calibrate", "calfun": "linear" | "raking", "terms":
  [columns], "population": {"(Intercept)": N, "column=level": count, "numeric column": total}}``:
  R's ``calibrate(~terms, population)`` (GREG), whose model matrix has an intercept, one
  indicator per level of a text column but its first, and numeric columns as they are.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from analysis.calibration import CalFun
from analysis.design import LonelyPSU
from analysis.intervals import CIMethod


class SpecError(ValueError):
    """The spec or its data cannot be estimated; the message names the problem."""


class Statistic(enum.StrEnum):
    MEAN = "mean"
    PROPORTION = "proportion"
    TOTAL = "total"
    RATIO = "ratio"
    COMPOSITE = "composite"
    DIFFERENCE = "difference"


class CalibrationMethod(enum.StrEnum):
    POSTSTRATIFY = "poststratify"
    RAKE = "rake"
    CALIBRATE = "calibrate"


E = TypeVar("E", bound=enum.StrEnum)
OPERATORS = ("==", "!=", "<", "<=", ">", ">=")
Scalar = str | int | float


@dataclass(frozen=True)
class DesignSpec:
    ids: tuple[str, ...] = ()
    strata: str | None = None
    weights: str | None = None
    fpc: tuple[str, ...] = ()
    nest: bool = False
    lonely_psu: LonelyPSU = LonelyPSU.FAIL


@dataclass(frozen=True)
class Population:
    """Population counts of the groups of ``by``: inline rows, or a CSV and its count column."""

    rows: tuple[Mapping[str, Any], ...] = ()
    csv: Path | None = None
    count: str = "N"


@dataclass(frozen=True)
class Margin:
    by: tuple[str, ...]
    population: Population


@dataclass(frozen=True)
class CalibrationSpec:
    """``margins`` for poststratify (one) and rake; ``terms`` and ``totals`` (by model-matrix
    column name) for calibrate."""

    method: CalibrationMethod
    margins: tuple[Margin, ...] = ()
    terms: tuple[str, ...] = ()
    totals: Mapping[str, float] | None = None
    epsilon: float | None = None
    maxit: int | None = None
    calfun: CalFun = CalFun.LINEAR


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: Scalar


@dataclass(frozen=True)
class Between:
    column: str
    a: Scalar
    b: Scalar


@dataclass(frozen=True)
class EstimateSpec:
    id: Scalar
    statistic: Statistic
    variable: str | None = None
    success: tuple[Scalar, ...] | None = None
    ci: CIMethod = CIMethod.BETA
    by: tuple[str, ...] = ()
    where: tuple[Condition, ...] = ()
    level: float = 0.95
    deff: bool | str = False
    df: float | None = None
    numerator: str | None = None
    denominator: str | None = None
    items: tuple[str, ...] = ()
    item_weights: tuple[float, ...] | None = None
    between: Between | None = None


@dataclass(frozen=True)
class Spec:
    data: Path
    design: DesignSpec
    calibration: CalibrationSpec | None
    estimates: tuple[EstimateSpec, ...]


DESIGN_KEYS = {"ids", "strata", "weights", "fpc", "nest", "lonely_psu"}
CALIBRATION_KEYS = {
    CalibrationMethod.POSTSTRATIFY: {"method", "by", "population"},
    CalibrationMethod.RAKE: {"method", "margins", "epsilon", "maxit"},
    CalibrationMethod.CALIBRATE: {"method", "terms", "population", "calfun", "epsilon", "maxit"},
}
ESTIMATE_KEYS = {
    "id",
    "statistic",
    "variable",
    "success",
    "ci",
    "by",
    "where",
    "level",
    "deff",
    "df",
    "numerator",
    "denominator",
    "items",
    "item_weights",
    "between",
}


def _object(value: Any, what: str, allowed: set[str] | None = None) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{what} must be a JSON object")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise SpecError(f"{what}: unknown key(s) {', '.join(map(repr, unknown))}")
    return value


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(f"{what} must be a column name")
    return value


def _names(value: Any, what: str) -> tuple[str, ...]:
    """A list of column names; a single name or null are accepted as R accepts ~x and none."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (_name(value, what),)
    if not isinstance(value, list):
        raise SpecError(f"{what} must be a list of column names")
    names = tuple(_name(v, what) for v in value)
    if len(set(names)) != len(names):
        raise SpecError(f"{what} names a column twice")
    return names


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{what} must be a number")
    return float(value)


def _scalar(value: Any, what: str) -> Scalar:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SpecError(f"{what} must be a number or a text value")
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{what} must be finite")
    return value


def _enum(kind: type[E], value: Any, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise SpecError(f"{what} must be one of {choices}, not {value!r}") from None


def parse_design(value: Any) -> DesignSpec:
    """The ``design`` object of SPEC.json.

    Parameters
    ----------
    value : object
        The decoded ``design`` value.

    Returns
    -------
    DesignSpec
        The design's columns and options.

    Raises
    ------
    SpecError
        Naming the key at fault.
    """
    if value is None:
        return DesignSpec()
    spec = _object(value, "design", DESIGN_KEYS)
    nest = spec.get("nest", False)
    if not isinstance(nest, bool):
        raise SpecError("design.nest must be true or false")
    strata = spec.get("strata")
    weights = spec.get("weights")
    return DesignSpec(
        ids=_names(spec.get("ids"), "design.ids"),
        strata=None if strata is None else _name(strata, "design.strata"),
        weights=None if weights is None else _name(weights, "design.weights"),
        fpc=_names(spec.get("fpc"), "design.fpc"),
        nest=nest,
        lonely_psu=_enum(LonelyPSU, spec.get("lonely_psu", "fail"), "design.lonely_psu"),
    )


def _population(value: Any, what: str, base: Path) -> Population:
    if isinstance(value, dict):
        spec = _object(value, what, {"csv", "count"})
        if not isinstance(spec.get("csv"), str):
            raise SpecError(f'{what} must be a list of rows or {{"csv": "file.csv"}}')
        return Population(
            csv=base / spec["csv"], count=_name(spec.get("count", "N"), f"{what}.count")
        )
    if not isinstance(value, list) or not value:
        raise SpecError(f'{what} must be a non-empty list of rows or {{"csv": "file.csv"}}')
    for row in value:
        _object(row, f"each row of {what}")
    return Population(rows=tuple(value))


def _margin(value: Any, what: str, base: Path) -> Margin:
    spec = _object(value, what, {"by", "population"})
    by = _names(spec.get("by"), f"{what}.by")
    if not by:
        raise SpecError(f"{what}.by must name at least one column")
    return Margin(by, _population(spec.get("population"), f"{what}.population", base))


def parse_calibration(value: Any, base: Path) -> CalibrationSpec | None:
    """The optional ``calibration`` object of SPEC.json.

    Parameters
    ----------
    value : object
        The decoded ``calibration`` value, or None.
    base : pathlib.Path
        The folder relative paths start from.

    Returns
    -------
    CalibrationSpec | None
        The calibration, or None when there is none.

    Raises
    ------
    SpecError
        Naming the key at fault.
    """
    if value is None:
        return None
    spec = _object(value, "calibration")
    method = _enum(CalibrationMethod, spec.get("method"), "calibration.method")
    _object(spec, f"calibration {method.value}", CALIBRATION_KEYS[method])
    epsilon = None if "epsilon" not in spec else _number(spec["epsilon"], "calibration.epsilon")
    if epsilon is not None and epsilon <= 0:
        raise SpecError("calibration.epsilon must be positive")
    maxit = spec.get("maxit")
    if maxit is not None and (isinstance(maxit, bool) or not isinstance(maxit, int) or maxit < 1):
        raise SpecError("calibration.maxit must be a positive integer")
    if method == CalibrationMethod.POSTSTRATIFY:
        margin = _margin(
            {"by": spec.get("by"), "population": spec.get("population")}, "calibration", base
        )
        return CalibrationSpec(method, margins=(margin,))
    if method == CalibrationMethod.RAKE:
        raw_margins = spec.get("margins")
        if not isinstance(raw_margins, list) or not raw_margins:
            raise SpecError("calibration.margins must be a non-empty list")
        margins = tuple(
            _margin(m, f"calibration.margins[{i}]", base) for i, m in enumerate(raw_margins)
        )
        return CalibrationSpec(method, margins=margins, epsilon=epsilon, maxit=maxit)
    terms = _names(spec.get("terms"), "calibration.terms")
    population = _object(spec.get("population"), "calibration.population")
    totals = {str(k): _number(v, f"calibration.population[{k!r}]") for k, v in population.items()}
    return CalibrationSpec(
        method,
        terms=terms,
        totals=totals,
        epsilon=epsilon,
        maxit=maxit,
        calfun=_enum(CalFun, spec.get("calfun", "linear"), "calibration.calfun"),
    )


def _condition(value: Any, what: str) -> Condition:
    spec = _object(value, what, {"column", "op", "value"})
    op = spec.get("op")
    if op not in OPERATORS:
        raise SpecError(f"{what}: where op must be one of {', '.join(OPERATORS)}")
    return Condition(
        _name(spec.get("column"), f"{what}.column"), op, _scalar(spec.get("value"), f"{what}.value")
    )


def parse_estimate(value: Any, index: int) -> EstimateSpec:
    """One entry of SPEC.json's ``estimates``.

    Parameters
    ----------
    value : object
        The decoded entry.
    index : int
        Its position, for messages.

    Returns
    -------
    EstimateSpec
        The estimate's statistic, variables, domains and options.

    Raises
    ------
    SpecError
        Naming the key at fault.
    """
    spec = _object(value, f"estimates[{index}]")
    if "id" not in spec:
        raise SpecError(f"estimates[{index}] needs an id")
    ident = _scalar(spec["id"], f"estimates[{index}].id")
    what = f"estimate {ident!r}"
    _object(spec, what, ESTIMATE_KEYS)
    statistic = _enum(Statistic, spec.get("statistic"), f"{what}: statistic")
    level = _number(spec.get("level", 0.95), f"{what}: level")
    if not 0 < level < 1:
        raise SpecError(f"{what}: level must be between 0 and 1")
    deff = spec.get("deff", False)
    if not (deff is True or deff is False or deff == "replace"):
        raise SpecError(f'{what}: deff must be true, false or "replace"')
    df = None
    if spec.get("df") is not None:
        df = _number(spec["df"], f"{what}: df")
        if df <= 0:
            raise SpecError(f"{what}: df must be positive")
    ci = CIMethod.BETA
    if statistic == Statistic.PROPORTION:
        ci = _enum(CIMethod, spec.get("ci", "beta"), f"{what}: ci")
    elif spec.get("ci", "t") != "t":
        raise SpecError(f'{what}: ci applies to proportions; a {statistic.value} uses "t"')
    success = None
    if "success" in spec:
        raw = spec["success"]
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise SpecError(f"{what}: success must list at least one value")
        success = tuple(_scalar(v, f"{what}: success") for v in values)
    raw_where = spec.get("where", [])
    if isinstance(raw_where, dict):
        raw_where = [raw_where]
    if not isinstance(raw_where, list):
        raise SpecError(f"{what}: where must be a list of conditions")
    where = tuple(_condition(c, f"{what}: where[{i}]") for i, c in enumerate(raw_where))
    between = None
    item_weights = None
    variable = numerator = denominator = None
    items: tuple[str, ...] = ()
    if statistic in (Statistic.MEAN, Statistic.PROPORTION, Statistic.TOTAL, Statistic.DIFFERENCE):
        variable = _name(spec.get("variable"), f"{what}: variable")
    if statistic == Statistic.PROPORTION and success is None:
        raise SpecError(f"{what}: a proportion needs success values")
    if statistic == Statistic.MEAN and success is not None:
        raise SpecError(f"{what}: a mean takes no success values (use a proportion)")
    if statistic == Statistic.RATIO:
        numerator = _name(spec.get("numerator"), f"{what}: numerator")
        denominator = _name(spec.get("denominator"), f"{what}: denominator")
    if statistic == Statistic.COMPOSITE:
        items = _names(spec.get("items"), f"{what}: items")
        if not items:
            raise SpecError(f"{what}: a composite needs items")
        if spec.get("item_weights") is not None:
            raw_weights = spec["item_weights"]
            if not isinstance(raw_weights, list):
                raise SpecError(f"{what}: item_weights must be a list of numbers")
            item_weights = tuple(_number(v, f"{what}: item_weights") for v in raw_weights)
    if statistic == Statistic.DIFFERENCE:
        raw_between = _object(spec.get("between"), f"{what}: between", {"column", "a", "b"})
        between = Between(
            _name(raw_between.get("column"), f"{what}: between.column"),
            _scalar(raw_between.get("a"), f"{what}: between.a"),
            _scalar(raw_between.get("b"), f"{what}: between.b"),
        )
    return EstimateSpec(
        id=ident,
        statistic=statistic,
        variable=variable,
        success=success,
        ci=ci,
        by=_names(spec.get("by"), f"{what}: by"),
        where=where,
        level=level,
        deff=deff,
        df=df,
        numerator=numerator,
        denominator=denominator,
        items=items,
        item_weights=item_weights,
        between=between,
    )


def parse_spec(value: Any, base: Path) -> Spec:
    """The whole SPEC.json (already decoded); paths are relative to ``base``.

    Parameters
    ----------
    value : object
        The decoded SPEC.json.
    base : pathlib.Path
        The folder relative paths start from.

    Returns
    -------
    Spec
        The whole spec.

    Raises
    ------
    SpecError
        Naming the key at fault.
    """
    spec = _object(value, "the spec")
    if not isinstance(spec.get("data"), str) or not spec["data"]:
        raise SpecError('the spec needs "data": the path of the CSV file')
    raw_estimates = spec.get("estimates")
    if not isinstance(raw_estimates, list):
        raise SpecError('the spec needs "estimates": a list')
    if not raw_estimates:
        raise SpecError("the spec has no estimates")
    estimates = tuple(parse_estimate(e, i) for i, e in enumerate(raw_estimates))
    ids = [e.id for e in estimates]
    if len(set(map(str, ids))) != len(ids):
        raise SpecError("estimate ids must be unique")
    return Spec(
        data=base / spec["data"],
        design=parse_design(spec.get("design")),
        calibration=parse_calibration(spec.get("calibration"), base),
        estimates=estimates,
    )
