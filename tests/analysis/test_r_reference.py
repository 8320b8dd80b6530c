"""Every one of the 141 results of R's survey package in tests/data/reference/r-survey-cases.json
(survey 4.5, cross-checked with 4.1-1), reproduced through the public API and through
``python -m analysis estimate``: estimate, SE, the interval R gave (``ci_t`` or svyciprop's
``ci``), the normal interval, the design df and the design effect, to a relative 1e-6 (1e-4 for
raking and likelihood intervals, the file's own tolerance for iterative results). The 73 cases
that also carry a published number (R's saved test outputs, its vignettes, samplics' tests) are
checked against it to its printed precision (one unit of the last digit). Failures name the R
call and the source."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.cli import main
from analysis.intervals import t_interval
from tests.analysis.reference_cases import (
    CASES,
    HERE,
    _fpc,
    _split_ratio,
    evaluate,
    load,
    recorded_df,
    run,
)


def _tolerance(case: dict[str, Any]) -> float:
    adjustment = str(case["design"].get("adjustment"))
    iterative = (
        adjustment.startswith("rake")
        or "calfun='raking'" in adjustment
        or (case["expected"].get("ci") or {}).get("method") == "likelihood"
    )
    return 1e-4 if iterative else 1e-6


def _where(case: dict[str, Any]) -> str:
    published = case.get("published") or {}
    source = published.get("source") or case["source"]
    return f"{case['name']}: R {case['r_call']} on {case['design']['r']} (source: {source})"


def _check(case: dict[str, Any], got: dict[str, Any]) -> None:
    """Compare one result (the library's or the command's) with R's."""
    expected = case["expected"]
    tol = _tolerance(case)
    pairs = [("estimate", got["estimate"], expected["estimate"]), ("se", got["se"], expected["se"])]
    normal = expected.get("ci_normal")
    if normal and normal.get("lower") is not None:  # null where R's svyby printed no interval
        low, high = t_interval(got["estimate"], got["se"], math.inf, normal["level"])
        pairs += [("normal lower", low, normal["lower"]), ("normal upper", high, normal["upper"])]
    interval = expected.get("ci") or expected.get("ci_t")
    if interval:
        pairs += [
            ("lower", got["lower"], interval["lower"]),
            ("upper", got["upper"], interval["upper"]),
        ]
        if interval.get("df") is not None:
            pairs.append(("df", got["df"], interval["df"]))
    if expected.get("deff") is not None:
        pairs.append(("deff", got["deff"], expected["deff"]))
    for label, ours, theirs in pairs:
        assert ours is not None and math.isclose(ours, theirs, rel_tol=tol, abs_tol=1e-12), (
            f"{label}: ours {ours!r}, R {theirs!r} (rel. tolerance {tol}) - {_where(case)}"
        )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_api_reproduces_r(case: dict[str, Any]) -> None:
    e = run(case)
    _check(
        case,
        {
            "estimate": e.value,
            "se": e.se,
            "lower": e.ci_low,
            "upper": e.ci_high,
            "df": e.df,
            "deff": e.deff,
        },
    )


def test_every_case_is_checked_and_none_is_degenerate() -> None:
    """The file has 141 cases and none flagged degenerate: nothing is skipped above."""
    assert len(CASES) == 141
    assert not [c["name"] for c in CASES if c.get("degenerate")]


def test_domain_df_is_the_domains_own_where_r_passed_another() -> None:
    """Where the R call fixed the interval's df (samplics' full-design df = 9, or the vignette's
    svyratio on a subset with df 14), the library's default df is still degf() of the domain:
    the same rows give the same df as R's svyby cases on them."""
    by_name = {c["name"]: c for c in CASES}
    vignette = by_name["api_clus1_ratio_apistu_enroll_domain_H"]
    prepared_df = run(vignette, use_recorded_df=False).df
    svyby_h = by_name["api_dclus1_svyby_mean_api00__stype=H"]["expected"]["ci_t"]["df"]
    assert prepared_df == svyby_h == 7
    samplics = by_name["samplics_fpc_strat_mean_y__domain=1"]
    assert run(samplics, use_recorded_df=False).df < 9


def _decimals(text: str) -> int:
    return -Decimal(text).as_tuple().exponent  # type: ignore[operator]


PUBLISHED = [c for c in CASES if c.get("published")]


@pytest.mark.parametrize("case", PUBLISHED, ids=[c["name"] for c in PUBLISHED])
def test_published_numbers_to_their_printed_precision(case: dict[str, Any]) -> None:
    published = case["published"]
    e = run(case)
    pairs = [("estimate", e.value, published["estimate"]), ("se", e.se, published["se"])]
    if "deff" in published:
        pairs.append(("deff", e.deff, published["deff"]))
    for key in ("ci", "ci_t"):
        if key in published:
            low, high = published[key]
            pairs += [("lower", e.ci_low, low), ("upper", e.ci_high, high)]
    for label, ours, printed in pairs:
        # One unit of the last printed digit: samplics' tests truncate rather than round, and
        # survey's saved outputs come from older versions than the 4.5 that computed `expected`.
        unit = 10.0 ** -_decimals(printed)
        assert ours is not None and abs(ours - float(printed)) <= unit * (1 + 1e-9), (
            f"{label}: ours {ours!r}, printed {printed} - {case['name']} ({published['source']})"
        )


def _cli_case(case: dict[str, Any], folder: Path) -> Path:
    """Write the case as a CSV with its derived columns and a SPEC.json that uses them."""
    data = load(case["data_file"])
    n = len(next(iter(data.values())))
    design = dict(case["design"])
    columns = dict(data)
    fpc = design.get("fpc")
    if isinstance(fpc, str) and fpc not in data:
        columns["fpc_given"] = _fpc(fpc, data, n)[0]  # type: ignore[index]
        fpc = "fpc_given"
    if case.get("domain"):
        columns["in_domain"] = np.nan_to_num(evaluate(case["domain"], data), nan=0.0)
    kind = case["estimator"]
    if kind == "ratio":
        top, bottom = _split_ratio(case["variable"])
        columns["top"], columns["bottom"] = evaluate(top, data), evaluate(bottom, data)
    else:
        values = evaluate(case["variable"], data)
        columns["value"] = 1 - values if case["r_call"].startswith("svymean(~I(") else values
    with (folder / "data.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        names = list(columns)
        writer.writerow(names)
        for i in range(n):
            writer.writerow(
                [
                    "NA" if isinstance(v := columns[c][i], float) and math.isnan(v) else v
                    for c in names
                ]
            )
    estimate: dict[str, Any] = {"id": case["name"], "statistic": kind}
    if kind == "ratio":
        estimate |= {"numerator": "top", "denominator": "bottom"}
    elif kind == "proportion":
        method = (case["expected"].get("ci") or {}).get("method", "mean")
        estimate |= {"variable": "value", "success": [1], "ci": method}
    else:
        estimate["variable"] = "value"
    if case["expected"].get("deff") is not None:
        estimate["deff"] = "replace" if "replace" in case["r_call"] else True
    if case.get("domain"):
        estimate["where"] = [{"column": "in_domain", "op": "==", "value": 1}]
    if (df := recorded_df(case)) is not None:
        estimate["df"] = df
    spec: dict[str, Any] = {
        "data": "data.csv",
        "design": {
            "ids": design.get("ids") or [],
            "strata": design.get("strata"),
            "weights": design.get("weights"),
            "fpc": [fpc] if isinstance(fpc, str) else (fpc or []),
            "nest": bool(design.get("nest")),
            "lonely_psu": design.get("lonely_psu") or "fail",
        },
        "calibration": _calibration(design.get("adjustment"), data),
        "estimates": [estimate],
    }
    path = folder / "SPEC.json"
    path.write_text(json.dumps(spec))
    return path


def _calibration(text: str | None, data: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """The case's postStratify / rake / calibrate call as the command's calibration spec."""
    if not text:
        return None
    if text.startswith("postStratify"):
        column = re.search(r"~(\w[\w.]*)", text).group(1)  # type: ignore[union-attr]
        counts = re.search(r"Freq=c\(([^)]*)\)", text)
        if counts:
            levels = sorted({int(v) for v in data[column]})
            pairs = list(zip(levels, (float(v) for v in counts.group(1).split(",")), strict=True))
        else:
            pairs = [(k, float(v)) for k, v in re.findall(r"(\w+)=(\d+)", text.split("Freq", 1)[1])]
        return {
            "method": "poststratify",
            "by": [column],
            "population": [{column: k, "N": v} for k, v in pairs],
        }
    if text.startswith("calibrate(~stype+sch.wide"):
        # Population totals from apipop, as the case's R call takes them.
        population = {"(Intercept)": 6194, "stype=H": 755, "stype=M": 1018, "sch.wide=Yes": 5122}
        return {
            "method": "calibrate",
            "calfun": "raking",
            "terms": ["stype", "sch.wide"],
            "population": population,
        }
    if text.startswith("calibrate(~stype+api99"):
        population = {"(Intercept)": 6194, "stype=H": 755, "stype=M": 1018, "api99": 3914069}
        return {"method": "calibrate", "terms": ["stype", "api99"], "population": population}
    columns = re.findall(r"~(\w[\w.]*)", text)
    parts = text.split("margins", 1)[1].split(";")
    margins = [
        {
            "by": [column],
            "population": [{column: k, "N": float(v)} for k, v in re.findall(r"(\w+)=(\d+)", part)],
        }
        for column, part in zip(columns, parts, strict=False)
    ]
    # The R call gave epsilon=1e-10 and left maxit at rake()'s default, 10.
    return {"method": "rake", "margins": margins, "epsilon": 1e-10, "maxit": 10}


def _from_output(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "estimate": row["estimate"],
        "se": row["se"],
        "lower": row["ci"]["lower"],
        "upper": row["ci"]["upper"],
        "df": row["df"],
        "deff": row.get("deff"),
    }


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_command_reproduces_r(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _cli_case(case, tmp_path)
    assert main(["estimate", str(spec)]) == 0, capsys.readouterr().err
    [row] = json.loads(capsys.readouterr().out)["estimates"]
    assert row["id"] == case["name"] and row["domain"] is None
    _check(case, _from_output(row))


@pytest.mark.parametrize(
    "name",
    [
        "api_strat_mean_api00",
        "api_clus1_rake_mean_api00",
        "api_dclus1_ciprop_likelihood_ell0",
    ],
)
def test_the_real_command_line(name: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c["name"] == name)
    spec = _cli_case(case, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "estimate", str(spec)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    [row] = json.loads(done.stdout)["estimates"]
    _check(case, _from_output(row))


def test_reference_data_is_the_projects_own_copy() -> None:
    assert (HERE / "r-survey-cases.json").is_file()
    assert (HERE / "api" / "apiclus1.csv").is_file() and (HERE / "small" / "fpc.csv").is_file()
