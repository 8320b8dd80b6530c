"""``python -m analysis estimate`` on small hand-made files: bad input exits with status 2 and one
line naming the problem (never a traceback); good input gives the contract's fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analysis.cli import main

DATA = (
    "unit,psu,w,q1,q2,name,N\n"
    "U1,1,10,5,4,a,60\nU1,2,10,4,NA,b,60\nU1,3,12,2,3,c,60\n"
    "U2,4,8,5,5,d,40\nU2,5,8,1,2,e,40\nU2,6,9,4,4,f,40\n"
)
PROPORTION = {"id": "p", "statistic": "proportion", "variable": "q1", "success": [4, 5]}


def _spec(tmp_path: Path, csv_text: str = DATA, **changes: Any) -> Path:
    (tmp_path / "d.csv").write_text(csv_text, encoding="utf-8")
    spec: dict[str, Any] = {
        "data": "d.csv",
        "design": {"ids": ["psu"], "strata": "unit", "weights": "w"},
        "estimates": [PROPORTION],
    }
    spec.update(changes)
    path = tmp_path / "SPEC.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def _estimate(**fields: Any) -> dict[str, Any]:
    return {"estimates": [{"id": "e", **fields}]}


BAD: list[tuple[dict[str, Any], str]] = [
    (_estimate(statistic="mean", variable="nope"), "unknown column 'nope'"),
    (_estimate(statistic="median", variable="q1"), "statistic must be one of"),
    (_estimate(statistic="mean", variable="name"), "column 'name' (estimate 'e': variable) is not"),
    (_estimate(statistic="mean", variable="q1", sucess=[1]), "unknown key(s) 'sucess'"),
    (_estimate(statistic="proportion", variable="q1"), "a proportion needs success values"),
    (_estimate(statistic="proportion", variable="q1", success=["yes"]), "'yes' is not a number"),
    (_estimate(statistic="mean", variable="q1", level=1.5), "level must be between 0 and 1"),
    (_estimate(statistic="mean", variable="q1", deff="yes"), "deff must be true, false"),
    (_estimate(statistic="mean", variable="q1", df=-3), "df must be positive"),
    (_estimate(statistic="mean", variable="q1", by=["zone"]), "unknown column 'zone'"),
    (
        _estimate(
            statistic="proportion",
            variable="q1",
            success=[4],
            where=[{"column": "unit", "op": "==", "value": "U9"}],
        ),
        "no row satisfies where",
    ),
    (
        _estimate(
            statistic="proportion",
            variable="q1",
            success=[4],
            where=[{"column": "unit", "op": "<", "value": "U2"}],
        ),
        "where < needs a numeric column",
    ),
    (
        _estimate(
            statistic="proportion",
            variable="q1",
            success=[4],
            where=[{"column": "q1", "op": "~", "value": 1}],
        ),
        "where op must be one of",
    ),
    (
        _estimate(statistic="proportion", variable="q1", success=[4], ci="bogus"),
        "ci must be one of",
    ),
    (_estimate(statistic="mean", variable="q1", ci="beta"), "ci applies to proportions"),
    (
        _estimate(
            statistic="composite", items=["q1", "q2"], success=[4, 5], item_weights=[0.9, 0.9]
        ),
        "sum to 1",
    ),
    (
        _estimate(statistic="composite", items=["q1", "q2"], success=[4], item_weights=[1.0]),
        "one weight per item",
    ),
    (
        _estimate(
            statistic="difference",
            variable="q1",
            between={"column": "unit", "a": "U1", "b": "U7"},
        ),
        "between value 'U7' does not occur in 'unit'",
    ),
    (
        {"estimates": [PROPORTION, PROPORTION]},
        "estimate ids must be unique",
    ),
    ({"design": {"ids": ["psu"], "strata": "psu", "weights": "w"}}, "stratum '1' has only one"),
    ({"design": {"ids": ["unit"], "strata": "psu", "weights": "w"}}, "not nested in strata"),
    ({"design": {"ids": ["psu"], "strata": "unit", "weight": "w"}}, "unknown key(s) 'weight'"),
    ({"design": {"ids": ["psu"], "weights": "missing"}}, "unknown column 'missing'"),
    ({"design": {"weights": "q2"}}, "column 'q2' (design.weights) has missing values"),
    ({"design": {"weights": "w", "lonely_psu": "skip"}}, "design.lonely_psu must be one of"),
    ({"design": {"strata": "unit", "fpc": ["psu"]}}, "more than 100% sampling"),
    ({"data": "nothere.csv"}, "data file not found"),
    ({"data": "."}, "data path is a folder"),
    ({"estimates": []}, "no estimates"),
    ({"calibration": {"method": "greg"}}, "calibration.method must be one of poststratify"),
    (
        {
            "calibration": {
                "method": "poststratify",
                "by": ["unit"],
                "population": [{"unit": "U1", "N": 60}],
            }
        },
        "no population count for group(s) U2",
    ),
    (
        {
            "calibration": {
                "method": "poststratify",
                "by": ["unit"],
                "population": [
                    {"unit": "U1", "N": 60},
                    {"unit": "U2", "N": 40},
                    {"unit": "U3", "N": 5},
                ],
            }
        },
        "population group(s) absent from the sample: U3",
    ),
    (
        {"calibration": {"method": "rake", "by": ["unit"], "population": []}},
        "unknown key(s) 'by', 'population'",
    ),
    (
        {"calibration": {"method": "calibrate", "terms": ["unit"], "population": {"N": 100}}},
        "population lacks '(Intercept)', 'unit=U2'",
    ),
]


@pytest.mark.parametrize(("changes", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_specs_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], message: str
) -> None:
    assert main(["estimate", str(_spec(tmp_path, **changes))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], captured.err


BAD_FILES = [
    ("unit,unit\nU1,U2\n", "duplicate column names"),
    ("unit,psu,w,q1\n", "no data rows"),
    ("", "no header row"),
]


@pytest.mark.parametrize(("data", "message"), BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_bad_data_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, message: str
) -> None:
    assert main(["estimate", str(_spec(tmp_path, csv_text=data))]) == 2
    assert message in capsys.readouterr().err


def test_malformed_json_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "SPEC.json"
    path.write_text("{not json")
    assert main(["estimate", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    path.write_text("[1, 2]")
    assert main(["estimate", str(path)]) == 2
    assert "the spec must be a JSON object" in capsys.readouterr().err
    assert main(["estimate", str(tmp_path / "none.json")]) == 2
    assert "spec file not found" in capsys.readouterr().err
    assert main(["summarise"]) == 2
    assert "usage" in capsys.readouterr().err


def test_by_groups_and_composite_and_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(
        tmp_path,
        estimates=[
            {**PROPORTION, "by": ["unit"]},
            {"id": "c", "statistic": "composite", "items": ["q1", "q2"], "success": [4, 5]},
            {
                "id": "d",
                "statistic": "difference",
                "variable": "q1",
                "success": [4, 5],
                "between": {"column": "unit", "a": "U1", "b": "U2"},
            },
        ],
        note="top-level notes are allowed",
    )
    assert main(["estimate", str(spec)]) == 0
    rows = json.loads(capsys.readouterr().out)["estimates"]
    by_unit = {r["domain"]["unit"]: r for r in rows if r["id"] == "p"}
    # U1: weights 10, 10, 12 with q1 = 5, 4, 2 -> (10 + 10) / 32; U2: (8 + 9) / 25.
    assert by_unit["U1"]["estimate"] == pytest.approx(20 / 32)
    assert by_unit["U2"]["estimate"] == pytest.approx(17 / 25)
    assert by_unit["U1"]["df"] == 2 and isinstance(by_unit["U1"]["df"], int)
    difference = next(r for r in rows if r["id"] == "d")
    assert difference["estimate"] == pytest.approx(20 / 32 - 17 / 25)
    assert difference["ci"]["method"] == "t" and difference["domain"] is None
    composite = next(r for r in rows if r["id"] == "c")
    # q2 among its answering rows: U1 (10: 4 yes, 12: 3 no), U2 (8: 5, 8: 2, 9: 4) -> (10+8+9)/47
    assert composite["estimate"] == pytest.approx((37 / 57 + 27 / 47) / 2)
    assert composite["n"] == 6
    assert all(r["ci"]["lower"] <= r["estimate"] <= r["ci"]["upper"] for r in rows)
    assert "df<8" in composite["flags"]
    for row in rows:
        assert set(row) == {
            "id", "statistic", "domain", "estimate", "se", "df", "ci", "n", "n_eff", "flags"
        }  # fmt: skip


def test_numeric_groups_sort_as_numbers_and_deff_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = "g,y,w\n" + "".join(
        f"{g},{(i * 7) % 5},{2 + i % 3}\n" for i, g in enumerate([10, 9, 2] * 12)
    )
    spec = _spec(
        tmp_path,
        csv_text=data,
        design={"weights": "w"},
        estimates=[
            {"id": "m", "statistic": "mean", "variable": "y", "by": ["g"], "deff": True},
            {"id": "t", "statistic": "total", "variable": "y", "success": [4], "deff": "replace"},
            {"id": "r", "statistic": "mean", "variable": "y", "df": 4, "level": 0.9},
        ],
    )
    assert main(["estimate", str(spec)]) == 0
    rows = json.loads(capsys.readouterr().out)["estimates"]
    assert [r["domain"]["g"] for r in rows if r["id"] == "m"] == [2, 9, 10]
    assert all(isinstance(r["deff"], float) for r in rows if r["id"] in "mt")
    fixed = next(r for r in rows if r["id"] == "r")
    assert fixed["df"] == 4 and fixed["ci"]["level"] == 0.9 and "deff" not in fixed


def test_undefined_numbers_are_written_as_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-row domain has no design effect (R gives NaN): JSON gets null, not a crash."""
    spec = _spec(
        tmp_path,
        estimates=[
            {
                "id": "one",
                "statistic": "mean",
                "variable": "q1",
                "deff": True,
                "where": [{"column": "name", "op": "==", "value": "a"}],
            }
        ],
    )
    assert main(["estimate", str(spec)]) == 0
    [row] = json.loads(capsys.readouterr().out)["estimates"]
    assert row["estimate"] == 5 and row["n"] == 1 and row["deff"] is None


def test_lonely_psu_options_estimate_and_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = DATA + "U3,7,5,4,4,g,10\n"
    for option in ("adjust", "remove", "certainty", "average"):
        spec = _spec(
            tmp_path,
            csv_text=data,
            design={"ids": ["psu"], "strata": "unit", "weights": "w", "lonely_psu": option},
        )
        assert main(["estimate", str(spec)]) == 0, capsys.readouterr().err
        [row] = json.loads(capsys.readouterr().out)["estimates"]
        assert "lonely_psu_adjusted" in row["flags"]
    spec = _spec(tmp_path, csv_text=data)
    assert main(["estimate", str(spec)]) == 2
    assert "stratum 'U3' has only one PSU" in capsys.readouterr().err


def test_calibration_from_a_population_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pop.csv").write_text("unit,count\nU1,600\nU2,400\n")
    spec = _spec(
        tmp_path,
        calibration={
            "method": "poststratify",
            "by": ["unit"],
            "population": {"csv": "pop.csv", "count": "count"},
        },
        estimates=[{"id": "t", "statistic": "total", "variable": "q1", "success": [4, 5]}],
    )
    assert main(["estimate", str(spec)]) == 0, capsys.readouterr().err
    [row] = json.loads(capsys.readouterr().out)["estimates"]
    # Post-stratified: U1 600 x 20/32 + U2 400 x 17/25.
    assert row["estimate"] == pytest.approx(600 * 20 / 32 + 400 * 17 / 25)


def test_no_traceback_on_a_broken_csv(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "SPEC.json").write_text(
        json.dumps(
            {"data": "d.csv", "estimates": [{"id": "x", "statistic": "mean", "variable": "a"}]}
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "estimate", str(tmp_path / "SPEC.json")],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
