"""Translate the R reference cases (tests/data/reference/r-survey-cases.json) into calls of the
public API. The file records each case's R design and call; this module reads those fields."""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis import calibration, estimators
from analysis.design import Design
from analysis.results import Estimate

HERE = Path(__file__).resolve().parents[1] / "data" / "reference"
CASES = json.loads((HERE / "r-survey-cases.json").read_text())["cases"]


def load(name: str) -> dict[str, np.ndarray]:
    with (HERE / name).open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, np.ndarray] = {}
    for key in rows[0]:
        raw = [r[key] for r in rows]
        try:
            columns[key] = np.array([math.nan if v in ("", "NA") else float(v) for v in raw])
        except ValueError:
            columns[key] = np.array(raw, dtype=object)
    return columns


def evaluate(expression: str, data: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate a small R expression (comparisons, arithmetic, TRUE/FALSE) on the columns."""
    bare = re.fullmatch(r"([\w.]+)==(\w+)", expression)
    if bare and bare.group(1) in data and data[bare.group(1)].dtype == object:
        # svyby's domains are written column==level without quotes.
        return (data[bare.group(1)] == bare.group(2)).astype(float)
    names = sorted(data, key=len, reverse=True)
    code = expression.replace("TRUE", "True").replace("FALSE", "False")
    for name in names:
        code = re.sub(rf"(?<![\w.'\"]){re.escape(name)}(?![\w.])", f"d[{name!r}]", code)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = eval(code, {"d": data, "np": np})  # noqa: S307 (our own reference file)
    array = np.asarray(value)
    if array.dtype == bool:
        missing = np.zeros(len(array), dtype=bool)
        for name in names:
            if f"d[{name!r}]" in code and data[name].dtype.kind == "f":
                missing |= np.isnan(data[name])
        return np.where(missing, np.nan, array.astype(float))
    return array.astype(float)


def _fpc(spec: Any, data: dict[str, np.ndarray], n: int) -> list[np.ndarray] | None:
    if spec is None:
        return None
    if isinstance(spec, list):
        return [data[s] for s in spec]
    if spec in data:
        return [data[spec]]
    if spec.startswith("32"):
        return [np.full(n, 32.0)]
    if spec.startswith("c(1, rep(31,7))"):
        return [np.array([1.0] + [31.0] * (n - 1))]
    raise ValueError(f"unknown fpc {spec}")


def _adjust(design: Design, text: str, data: dict[str, np.ndarray]) -> Design:
    if text.startswith("postStratify"):
        column = re.search(r"~(\w[\w.]*)", text).group(1)  # type: ignore[union-attr]
        counts = re.search(r"Freq=c\(([^)]*)\)", text)
        if counts:
            levels = sorted({str(v) for v in data[column].astype(float).astype(int)})
            population = dict(
                zip(levels, (float(v) for v in counts.group(1).split(",")), strict=True)
            )
            values = data[column].astype(float).astype(int).astype(str)
        else:
            population = {
                k: float(v) for k, v in re.findall(r"(\w+)=(\d+)", text.split("Freq", 1)[1])
            }
            values = data[column].astype(str)
        return calibration.poststratify(design, values, population)
    if text.startswith("rake"):
        columns = re.findall(r"~(\w[\w.]*)", text)
        parts = text.split("margins", 1)[1].split(";")
        margins = []
        for column, part in zip(columns, parts, strict=False):
            population = {k: float(v) for k, v in re.findall(r"(\w+)=(\d+)", part)}
            margins.append((data[column].astype(str), population))
        return calibration.rake(design, margins, epsilon=1e-10, maxit=10)
    if text.startswith("calibrate(~stype+sch.wide"):
        # Totals from apipop: N, stype H and M, sch.wide Yes (the rake case's margins).
        matrix = np.column_stack(
            [
                np.ones(design.n),
                data["stype"] == "H",
                data["stype"] == "M",
                data["sch.wide"] == "Yes",
            ]
        )
        return calibration.calibrate(design, matrix, [6194, 755, 1018, 5122], calfun="raking")
    if text.startswith("calibrate(~stype+api99"):
        matrix = np.column_stack(
            [
                np.ones(design.n),
                data["stype"] == "H",
                data["stype"] == "M",
                data["api99"],
            ]
        )
        return calibration.calibrate(design, matrix, [6194, 755, 1018, 3914069])
    raise NotImplementedError(text)


@dataclass(frozen=True)
class Prepared:
    design: Design
    data: dict[str, np.ndarray]
    domain: np.ndarray | None


def prepare(case: dict[str, Any]) -> Prepared:
    data = load(case["data_file"])
    n = len(next(iter(data.values())))
    spec = case["design"]
    ids = [data[i] for i in spec["ids"]] if spec.get("ids") else None
    design = Design.build(
        n=n,
        ids=ids,
        strata=data[spec["strata"]] if spec.get("strata") else None,
        weights=data[spec["weights"]] if spec.get("weights") else None,
        fpc=_fpc(spec.get("fpc"), data, n),
        nest=bool(spec.get("nest")),
        lonely_psu=spec.get("lonely_psu") or "fail",
    )
    if spec.get("adjustment"):
        design = _adjust(design, spec["adjustment"], data)
    domain = None
    if case.get("domain"):
        mask = evaluate(case["domain"], data)
        domain = np.nan_to_num(mask, nan=0.0).astype(bool)
    return Prepared(design, data, domain)


# The vignette's svyratio on subset(dclus1, stype == 'H') is recorded with ci_t on df 14, the
# full design's, although the file's convention (and its svyby cases on the same rows, df 7) is
# the domain's degf(); the case is reproduced with the df it records.
RECORDED_FULL_DF = {"api_clus1_ratio_apistu_enroll_domain_H"}


def recorded_df(case: dict[str, Any]) -> float | None:
    """The df R was told to use (``svyciprop(df=)``, samplics' full-design t intervals), or
    None when R used the design's own degf()."""
    explicit = "df=" in case["r_call"] or "full-design df" in case["r_call"]
    if not explicit and case["name"] not in RECORDED_FULL_DF:
        return None
    interval = case["expected"].get("ci") or case["expected"].get("ci_t") or {}
    df = interval.get("df")
    return None if df is None else float(df)


def run(case: dict[str, Any], *, use_recorded_df: bool = True) -> Estimate:
    """The case through the public API: its design, calibration, domain, statistic, deff and,
    where R was given one, its df."""
    prepared = prepare(case)
    kind = case["estimator"]
    variable = case["variable"]
    deff: bool | str = False
    if case["expected"].get("deff") is not None:
        deff = "replace" if "replace" in case["r_call"] else True
    df = recorded_df(case) if use_recorded_df else None
    if kind == "ratio":
        numerator, denominator = _split_ratio(variable)
        return estimators.ratio(
            prepared.design,
            evaluate(numerator, prepared.data),
            evaluate(denominator, prepared.data),
            prepared.domain,
            df=df,
        )
    values = evaluate(variable, prepared.data)
    if case["r_call"].startswith("svymean(~I("):
        # svymean of a logical reports its FALSE level first; the case records that one.
        values = 1 - values
    if kind == "mean":
        return estimators.mean(prepared.design, values, prepared.domain, deff=deff, df=df)
    if kind == "total":
        return estimators.total(prepared.design, values, prepared.domain, deff=deff, df=df)
    method = (case["expected"].get("ci") or {}).get("method", "mean")
    return estimators.proportion(
        prepared.design, values, prepared.domain, ci=method, deff=deff, df=df
    )


def _split_ratio(expression: str) -> tuple[str, str]:
    depth = 0
    for i, ch in enumerate(expression):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "/" and depth == 0:
            return expression[:i].strip(), expression[i + 1 :].strip()
    raise ValueError(expression)
