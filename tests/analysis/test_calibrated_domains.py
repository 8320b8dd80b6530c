"""Korn-Graubard intervals of domain proportions after calibration, against R's survey package
(R 4.2, survey 4.1.1, run once by hand; the script is quoted below with what it printed).

R keeps every row of a calibrated design in a subset (zero weight outside the domain), so
``svyciprop(method = "beta")`` takes nrow() = 200 (the whole sample) in
(qt(alpha/2, nrow - 1) / qt(alpha/2, df))^2, while degf() counts only the domain's PSUs and
strata (99 for the 100 elementary schools, 49 for the 50 middle schools)::

    library(survey)
    apistrat <- read.csv("tests/data/reference/api/apistrat.csv")
    apipop <- read.csv("tests/data/reference/api/apipop.csv")
    dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
    pop_awards <- data.frame(awards = c("No", "Yes"), Freq = as.vector(table(apipop$awards)))
    pop_both <- data.frame(both = c("No", "Yes"), Freq = as.vector(table(apipop$both)))
    dps <- postStratify(dstrat, ~awards, pop_awards)          # No 2027, Yes 4167
    drk <- rake(dstrat, list(~awards, ~both), list(pop_awards, pop_both))  # both: 1789, 4405
    s <- subset(dps, stype == "E")
    r <- svyciprop(~I(sch.wide == "Yes"), s, method = "beta")
    c(coef(r), SE(r), confint(r), nrow(s), degf(s))
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis import calibration, estimators
from analysis.design import Design
from analysis.spec_run import run
from tests.analysis.reference_cases import HERE, load

# (design, stype) -> estimate, SE, lower, upper, nrow(subset), degf(subset), as R printed them.
R_BETA = {
    ("poststratify", "E"): (
        0.9195024052123325,
        0.0227108444432659,
        0.8618477202641434,
        0.9585312094062235,
        200,
        99,
    ),
    ("poststratify", "M"): (
        0.7216085170760967,
        0.0601846472996087,
        0.5820467044590228,
        0.8355208303344102,
        200,
        49,
    ),
    ("rake", "E"): (
        0.9300017293642716,
        0.0204465592131097,
        0.8775088375967300,
        0.9648509839742722,
        200,
        99,
    ),
    ("rake", "M"): (
        0.7474508985737610,
        0.0585777913276374,
        0.6092258287147255,
        0.8567247958836535,
        200,
        49,
    ),
}
# The same call on subset(dstrat, stype == "E"), not calibrated: nrow 100, degf 99.
R_UNCALIBRATED_E = (0.91, 0.0284351962063673, 0.8366077769546583, 0.9577672661665267)


@pytest.fixture(scope="module")
def api() -> tuple[dict[str, np.ndarray], dict[str, Design]]:
    sample, population = load("api/apistrat.csv"), load("api/apipop.csv")
    design = Design.build(n=200, strata=sample["stype"], weights=sample["pw"], fpc=[sample["fpc"]])

    def counts(column: str) -> dict[str, float]:
        return {v: float((population[column] == v).sum()) for v in ("No", "Yes")}

    awards = (sample["awards"].astype(str), counts("awards"))
    both = (sample["both"].astype(str), counts("both"))
    designs = {
        "none": design,
        "poststratify": calibration.poststratify(design, *awards),
        "rake": calibration.rake(design, [awards, both], epsilon=1e-10, maxit=100),
    }
    return sample, designs


@pytest.mark.parametrize(("method", "stype"), sorted(R_BETA))
def test_beta_interval_of_a_calibrated_domain_as_r(
    api: tuple[dict[str, np.ndarray], dict[str, Design]], method: str, stype: str
) -> None:
    sample, designs = api
    value, se, low, high, _nrow, degf = R_BETA[(method, stype)]
    result = estimators.proportion(
        designs[method],
        (sample["sch.wide"] == "Yes").astype(float),
        sample["stype"] == stype,
        ci="beta",
    )
    assert result.value == pytest.approx(value, rel=1e-6)
    assert result.se == pytest.approx(se, rel=1e-6)
    assert result.ci_low == pytest.approx(low, rel=1e-6)
    assert result.ci_high == pytest.approx(high, rel=1e-6)
    assert result.df == degf
    assert result.n == {"E": 100, "M": 50}[stype]  # the domain's rows are still reported


def test_uncalibrated_domain_keeps_its_own_rows(
    api: tuple[dict[str, np.ndarray], dict[str, Design]],
) -> None:
    sample, designs = api
    result = estimators.proportion(
        designs["none"], (sample["sch.wide"] == "Yes").astype(float), sample["stype"] == "E"
    )
    assert (result.value, result.se, result.ci_low, result.ci_high) == pytest.approx(
        R_UNCALIBRATED_E, rel=1e-6
    )


def test_estimate_command_after_poststratification_as_r(tmp_path: Path) -> None:
    population = load("api/apipop.csv")
    spec = {
        "data": str(HERE / "api" / "apistrat.csv"),
        "design": {"ids": [], "strata": "stype", "weights": "pw", "fpc": ["fpc"]},
        "calibration": {
            "method": "poststratify",
            "by": ["awards"],
            "population": [
                {"awards": v, "N": int((population["awards"] == v).sum())} for v in ("No", "Yes")
            ],
        },
        "estimates": [
            {
                "id": "p",
                "statistic": "proportion",
                "variable": "sch.wide",
                "success": ["Yes"],
                "ci": "beta",
                "by": ["stype"],
            }
        ],
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    rows = {row["domain"]["stype"]: row for row in run(path)["estimates"]}
    for stype in ("E", "M"):
        value, se, low, high, _nrow, degf = R_BETA[("poststratify", stype)]
        row = rows[stype]
        assert row["estimate"] == pytest.approx(value, rel=1e-6)
        assert row["se"] == pytest.approx(se, rel=1e-6)
        assert row["ci"]["lower"] == pytest.approx(low, rel=1e-6)
        assert row["ci"]["upper"] == pytest.approx(high, rel=1e-6)
        assert row["df"] == degf
