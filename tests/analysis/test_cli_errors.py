"""Bad input to ``python -m analysis estimate``: exit status 2, one line naming the problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analysis.cli import main

DATA = (
    "unit,psu,w,q1,q2,name\n"
    "U1,1,10,5,4,a\nU1,2,10,4,NA,b\nU1,3,12,2,3,c\n"
    "U2,4,8,5,5,d\nU2,5,8,1,2,e\nU2,6,9,4,4,f\n"
)


def _spec(tmp_path: Path, **changes: Any) -> Path:
    (tmp_path / "d.csv").write_text(DATA)
    spec: dict[str, Any] = {
        "data": "d.csv",
        "design": {"ids": ["psu"], "strata": "unit", "weights": "w"},
        "estimates": [{"id": "p", "statistic": "proportion", "variable": "q1", "success": [4, 5]}],
    }
    spec.update(changes)
    path = tmp_path / "SPEC.json"
    path.write_text(json.dumps(spec))
    return path


BAD = [
    (
        {"estimates": [{"id": "m", "statistic": "mean", "variable": "nope"}]},
        "unknown column 'nope'",
    ),
    (
        {"estimates": [{"id": "m", "statistic": "median", "variable": "q1"}]},
        "statistic must be one of",
    ),
    ({"estimates": [{"id": "m", "statistic": "mean", "variable": "name"}]}, "not numeric"),
    (
        {"design": {"ids": ["psu"], "strata": "unit", "weights": "missing"}},
        "unknown column 'missing'",
    ),
    (
        {
            "estimates": [
                {
                    "id": "p",
                    "statistic": "proportion",
                    "variable": "q1",
                    "success": [4],
                    "where": [{"column": "unit", "op": "==", "value": "U9"}],
                }
            ]
        },
        "no row",
    ),
    (
        {
            "estimates": [
                {
                    "id": "p",
                    "statistic": "proportion",
                    "variable": "q1",
                    "success": [4],
                    "ci": "bogus",
                }
            ]
        },
        "ci must be one of",
    ),
    ({"design": {"ids": ["psu"], "strata": "psu", "weights": "w"}}, "only one PSU"),
    ({"design": {"ids": ["unit"], "strata": "psu", "weights": "w"}}, "not nested in strata"),
    ({"data": "nothere.csv"}, "data file not found"),
    ({"estimates": []}, "no estimates"),
    ({"calibration": {"method": "greg"}}, "poststratify"),
    (
        {
            "estimates": [
                {
                    "id": "c",
                    "statistic": "composite",
                    "items": ["q1", "q2"],
                    "success": [4, 5],
                    "item_weights": [0.9, 0.9],
                }
            ]
        },
        "sum to 1",
    ),
    (
        {
            "estimates": [
                {
                    "id": "p",
                    "statistic": "proportion",
                    "variable": "q1",
                    "success": [4],
                    "where": [{"column": "q1", "op": "~", "value": 1}],
                }
            ]
        },
        "where op",
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
    assert len(lines) == 1 and message in lines[0], captured.err


def test_malformed_json_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "SPEC.json"
    path.write_text("{not json")
    assert main(["estimate", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["summarise"]) == 2
    assert "usage" in capsys.readouterr().err


def test_by_groups_and_composite_and_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(
        tmp_path,
        estimates=[
            {
                "id": "p",
                "statistic": "proportion",
                "variable": "q1",
                "success": [4, 5],
                "by": ["unit"],
            },
            {"id": "c", "statistic": "composite", "items": ["q1", "q2"], "success": [4, 5]},
            {
                "id": "d",
                "statistic": "difference",
                "variable": "q1",
                "success": [4, 5],
                "between": {"column": "unit", "a": "U1", "b": "U2"},
            },
        ],
    )
    assert main(["estimate", str(spec)]) == 0
    rows = json.loads(capsys.readouterr().out)["estimates"]
    by_unit = {r["domain"]["unit"]: r for r in rows if r["id"] == "p"}
    # U1: weights 10, 10, 12 with q1 = 5, 4, 2 -> (10 + 10) / 32; U2: (8 + 9) / 25.
    assert by_unit["U1"]["estimate"] == pytest.approx(20 / 32)
    assert by_unit["U2"]["estimate"] == pytest.approx(17 / 25)
    difference = next(r for r in rows if r["id"] == "d")
    assert difference["estimate"] == pytest.approx(20 / 32 - 17 / 25)
    composite = next(r for r in rows if r["id"] == "c")
    # q2 among its answering rows: U1 (10: 4 yes, 12: 3 no), U2 (8: 5, 8: 2, 9: 4) -> (10+8+9)/47
    assert composite["estimate"] == pytest.approx((37 / 57 + 27 / 47) / 2)
    assert all(r["ci"]["lower"] <= r["estimate"] <= r["ci"]["upper"] for r in rows)
    assert "df<8" in composite["flags"]


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
    assert len(done.stderr.strip().splitlines()) == 1
