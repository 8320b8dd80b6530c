"""Likelihood intervals of a proportion in a domain (the command's ``where`` and ``by``).

Found by the spec fuzzer (tests/analysis/test_cli_fuzz.py): on a domain of an uncalibrated
design the likelihood interval read the successes of every row against the domain's rows and
failed with an IndexError. The reference numbers are R's, run on this machine (R 4.2, survey
4.1.1) on the project's copy of apiclus1:

    dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
    for (s in c("E","H","M")) {
      d <- subset(dclus1, stype==s)
      r <- svyciprop(~I(sch.wide=="Yes"), d, method="likelihood")
      cat(s, coef(r), SE(r), confint(r), degf(d))
    }
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "reference" / "api" / "apiclus1.csv"
# stype -> estimate, SE, lower, upper, df (R, above)
R = {
    "E": (0.916666666666661, 0.0209842789524908, 0.86416696103309, 0.954498930060419, 14),
    "H": (0.785714285714142, 0.0914619099888493, 0.521811799231884, 0.946044254053561, 7),
    "M": (0.679999999999901, 0.109502248398045, 0.418418588604886, 0.880286370513798, 11),
}


def _spec(folder: Path) -> Path:
    shutil.copy(DATA, folder / "data.csv")
    common = {"statistic": "proportion", "variable": "sch.wide", "success": ["Yes"]}
    spec = {
        "data": "data.csv",
        "design": {"ids": ["dnum"], "weights": "pw", "fpc": ["fpc"], "lonely_psu": "fail"},
        "estimates": [
            {
                "id": "high",
                **common,
                "ci": "likelihood",
                "where": [{"column": "stype", "op": "==", "value": "H"}],
            },
            {"id": "by_type", **common, "ci": "likelihood", "by": ["stype"]},
        ],
    }
    path = folder / "SPEC.json"
    path.write_text(json.dumps(spec))
    return path


def test_domain_likelihood_intervals_equal_r(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["estimate", str(_spec(tmp_path))]) == 0, capsys.readouterr().err
    rows = json.loads(capsys.readouterr().out)["estimates"]
    found = {
        ("high", "H") if r["id"] == "high" else (r["id"], r["domain"]["stype"]): r for r in rows
    }
    assert len(found) == 4
    for (_id, stype), row in found.items():
        estimate, se, lower, upper, df = R[stype]
        assert row["estimate"] == pytest.approx(estimate, rel=1e-9)
        assert row["se"] == pytest.approx(se, rel=1e-9)
        assert row["ci"]["method"] == "likelihood"
        assert row["ci"]["lower"] == pytest.approx(lower, rel=1e-7)
        assert row["ci"]["upper"] == pytest.approx(upper, rel=1e-7)
        assert row["df"] == df
