"""Every result of R's survey package in tests/data/reference/r-survey-cases.json, reproduced
through the public API and through ``python -m analysis estimate`` to a relative 1e-6 (1e-4 for
raking and likelihood intervals, which are iterative). Each case names its R call and source;
failures print them."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.cli import main
from analysis.intervals import proportion_interval, t_interval
from tests.analysis.reference_cases import CASES, HERE, _fpc, _split_ratio, evaluate, load, run

# Cases this library does not reproduce yet, each with the reason. test_known_gaps checks that
# they are still what they say, so a fix shows up as a failing reminder to move them back.
# R profiles the likelihood on a grid and interpolates; at p = 0.005 that interpolation moves
# its bounds by about 3e-3 from the exact root this library solves for.
LIKELIHOOD_GAP = {"api_dclus1_ciprop_likelihood_ell0"}
# The file's conventions say domain cases use the domain's df (as its svyby cases do); this one
# records the full design's 14. Estimate and SE are checked, and the interval with that df.
RECORDED_FULL_DF = {"api_clus1_ratio_apistu_enroll_domain_H"}

CHECKED = [c for c in CASES if not c.get("degenerate") and c["name"] not in LIKELIHOOD_GAP]


def _tolerance(case: dict[str, Any]) -> float:
    iterative = "rake" in str(case["design"].get("adjustment")) or (
        (case["expected"].get("ci") or {}).get("method") == "likelihood"
    )
    return 1e-4 if iterative else 1e-6


def _recorded_df(case: dict[str, Any]) -> float | None:
    if (
        "df=9" in case["r_call"]
        or case["name"].startswith("samplics")
        or case["name"] in RECORDED_FULL_DF
    ):
        return (case["expected"].get("ci") or case["expected"].get("ci_t") or {}).get("df")
    return None


def _check(case: dict[str, Any], got: dict[str, float]) -> None:
    expected = case["expected"]
    tol = _tolerance(case)
    where = f"{case['name']}: {case['r_call']} ({case['source'][:80]})"
    pairs = [("estimate", got["estimate"], expected["estimate"]), ("se", got["se"], expected["se"])]
    interval = expected.get("ci") or expected.get("ci_t")
    if interval:
        pairs += [
            ("lower", got["lower"], interval["lower"]),
            ("upper", got["upper"], interval["upper"]),
        ]
        if _recorded_df(case) is None and "df" in interval:
            pairs.append(("df", got["df"], interval["df"]))
    if expected.get("deff") is not None:
        pairs.append(("deff", got["deff"], expected["deff"]))
    for label, ours, theirs in pairs:
        assert ours is not None and math.isclose(ours, theirs, rel_tol=tol, abs_tol=1e-12), (
            f"{label}: {ours!r} != R {theirs!r} — {where}"
        )


def _interval(
    case: dict[str, Any],
    value: float,
    se: float,
    df: float,
    n_eff: float,
    n: int,
    lower: float,
    upper: float,
) -> tuple[float, float]:
    recorded = _recorded_df(case)
    if recorded is None:
        return lower, upper
    method = (case["expected"].get("ci") or {}).get("method")
    if method:
        return proportion_interval(value, se, recorded, n_eff, method, n_rows=n)
    return t_interval(value, se, recorded)


@pytest.mark.parametrize("case", CHECKED, ids=[c["name"] for c in CHECKED])
def test_api_reproduces_r(case: dict[str, Any]) -> None:
    e = run(case)
    lower, upper = _interval(case, e.value, e.se, e.df, e.n_eff, e.n, e.ci_low, e.ci_high)
    _check(
        case,
        {
            "estimate": e.value,
            "se": e.se,
            "lower": lower,
            "upper": upper,
            "df": e.df,
            "deff": e.deff if e.deff is not None else math.nan,
        },
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
    if not text:
        return None
    import re

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
    return {"method": "rake", "margins": margins, "epsilon": 1e-10, "maxit": 100}


@pytest.mark.parametrize("case", CHECKED, ids=[c["name"] for c in CHECKED])
def test_command_reproduces_r(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _cli_case(case, tmp_path)
    assert main(["estimate", str(spec)]) == 0, capsys.readouterr().err
    [row] = json.loads(capsys.readouterr().out)["estimates"]
    lower, upper = _interval(
        case,
        row["estimate"],
        row["se"],
        row["df"],
        row["n_eff"],
        row["n"],
        row["ci"]["lower"],
        row["ci"]["upper"],
    )
    _check(
        case,
        {
            "estimate": row["estimate"],
            "se": row["se"],
            "lower": lower,
            "upper": upper,
            "df": row["df"],
            "deff": row.get("deff") if row.get("deff") is not None else math.nan,
        },
    )


@pytest.mark.parametrize(
    "name",
    [
        "api_strat_mean_api00",
        "api_clus1_poststrat_mean_api00",
        "api_dclus1_svyby_ciprop_beta_schwideYes__stype=H",
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
    [row] = json.loads(done.stdout)["estimates"]
    assert math.isclose(row["estimate"], case["expected"]["estimate"], rel_tol=1e-6)


def test_known_gaps_are_still_gaps() -> None:
    """The likelihood interval at p near 0 agrees with R's interpolated profile to 5e-3, not
    1e-4."""
    for name in LIKELIHOOD_GAP:
        case = next(c for c in CASES if c["name"] == name)
        e = run(case)
        assert math.isclose(e.value, case["expected"]["estimate"], rel_tol=1e-6)
        assert math.isclose(e.se, case["expected"]["se"], rel_tol=1e-6)
        for ours, theirs in (
            (e.ci_low, case["expected"]["ci"]["lower"]),
            (e.ci_high, case["expected"]["ci"]["upper"]),
        ):
            assert math.isclose(ours, theirs, rel_tol=5e-3)


def test_reference_data_is_the_projects_own_copy() -> None:
    assert (HERE / "r-survey-cases.json").exists() and len(CASES) == 141
